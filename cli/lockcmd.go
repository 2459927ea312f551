package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

const lockHelp = `Usage: locker lock NAME --key KEY [--holder HOLDER] [--wait D] [--ttl D] [--json]

Takes one hold on lock NAME under KEY. Holders with the same key share the
lock (each counts its holds: unlock once per lock); another key waits.

  --key KEY       the key to lock with (required)
  --holder NAME   who holds it (default: the key); unlock with the same one
  --wait D        how long to wait for a lock held under another key, e.g.
                  30s or 10m; 0 fails at once (exit 3). Default: wait until
                  the lock is free (Ctrl-C gives up without taking it, exit
                  130; granted just as Ctrl-C came, it is left held, as it
                  may be another's of the same key and holder, and the
                  message says how to release it). With D, it also gives up
                  (exit 1) on a server that has not answered by D+10s
  --ttl D         lease: the hold ends by itself after D unless refreshed.
                  Default: none, the hold lasts until unlocked (the server
                  may apply its own default). A server whose longest lease
                  (LOCKER_MAX_TTL) is shorter grants that, warned on stderr
  --json          print the lock's new state as JSON
` + waitChunkHelp + `
A server that restarts cleanly (SIGTERM) while the lock is waited for is
asked again once it is back. One that dies (kill -9, a crash) ends the
wait with an error (exit 1) once the lock, read back, shows that the
request took nothing: a request whose answer was lost is never sent again,
as it might still arrive and take the lock a second time.

On success it says what it took, with the lock's fencing token ("fence 42";
with --json, the field "fence"). Pass the token to the service the lock
protects, so that it can refuse writes from an older holder. In a script,
check the exit status before reading the token, not through a pipe, whose
status is its last command's:

  held=$(locker lock NAME --key "$KEY" --json) || exit
  fence=$(printf '%s' "$held" | jq .fence)
`

func runLock(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	defer brokenPipesFail()()
	c := newClientCmd("lock", lockHelp, env, stdout, stderr)
	key, holder, wait, ttl, asJSON := c.holdFlags()
	name, err := c.parseOne(args, "lock name")
	if err != nil {
		return c.usage(err)
	}
	if *key == "" {
		return c.usage(errors.New("--key is required: the key to lock with"))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	l, err := c.acquire(ctx, cl, name, client.LockOptions{Key: *key, Holder: *holder, TTL: ttl.d}, wait)
	if err != nil {
		return err
	}
	if l.Legacy && ttl.d > 0 {
		fmt.Fprintf(stderr, "locker lock: warning: the server does not support leases; --ttl was ignored and the lock is held until unlocked\n")
	}
	if err := c.leaseOutlived(ctx, cl, l, fmt.Sprintf("'%s'", name), *key, *holder); err != nil {
		return err
	}
	c.shortLease(l, firstOf(*holder, *key), ttl.d, leaseNotRenewed)
	if *asJSON {
		if err := writeJSONTo(stdout, l); err != nil {
			return c.outputFailed(ctx, cl, l, fmt.Sprintf("'%s'", name), *key, *holder, err)
		}
		return nil
	}
	h := firstOf(*holder, *key)
	msg := fmt.Sprintf("locked '%s' with key '%s' for '%s'", name, *key, h)
	var details []string
	if !l.Legacy {
		details = append(details, fmt.Sprintf("count %d", l.LockedBy[h]))
	}
	if l.Fence > 0 {
		details = append(details, fmt.Sprintf("fence %d", l.Fence))
	}
	if left, ok := l.LeaseLeft(); ok {
		details = append(details, fmt.Sprintf("lease ends in %s", humanLeft(left)))
	} else if hold, ok := l.Holds[h]; ok && !hold.Expires.IsZero() {
		details = append(details, fmt.Sprintf("lease ends in %s", humanLeft(time.Until(hold.Expires))))
	}
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	if _, err := fmt.Fprintln(stdout, shown(msg)); err != nil {
		return c.outputFailed(ctx, cl, l, fmt.Sprintf("'%s'", name), *key, *holder, err)
	}
	return nil
}

// leaseOutlived fails a grant whose lease ran out before its answer
// arrived (a slow network, a slow server; counted from when the request
// was sent, so that no clock has to agree): the lock may be another's
// already, and saying "locked" would have two believe they hold it. The
// hold is released, should it be ours still: by its fence, so that a hold
// the same key and holder took afresh since is not released in its place.
// what names what was taken.
func (c *clientCmd) leaseOutlived(ctx context.Context, cl *client.Client, l *client.Lock, what, key, holder string) error {
	if left, ok := l.LeaseLeft(); !ok || left > 0 {
		return nil
	}
	released := c.giveBack(ctx, cl, l, key, holder, ", in case it was still ours")
	return c.fail(fmt.Errorf("the lease on %s (%s) ran out before the answer arrived (a slow network or server): the lock may be another's now, so it was not taken; %s", what, human(l.Lease), released))
}

// giveBack releases the hold l shows was just taken with key and holder, by
// its fence and the time it began, so that a hold the same key and holder
// took afresh since is not released in its place, and says what it did
// ("released it"); inCase qualifies it (", in case it was still ours").
func (c *clientCmd) giveBack(ctx context.Context, cl *client.Client, l *client.Lock, key, holder, inCase string) string {
	_, err := cl.UnlockHold(context.WithoutCancel(ctx), l.Name, key, holder, l.Ref(holder))
	if err == nil || errors.Is(err, client.ErrAcquiredNotChecked) {
		// A server from before the acquired check checked the fence.
		return "released it" + inCase
	}
	msg, _ := explain(err)
	switch {
	case errors.Is(err, client.ErrLocked):
		return fmt.Sprintf("it was taken again meanwhile (%s; ours had fence %d), and was left as it is", msg, l.Fence)
	case errors.Is(err, client.ErrFenceNotChecked):
		return "released it by key and holder" + inCase + " (the server does not check a release's fence: had the same key and holder taken it again meanwhile, that hold was released)"
	}
	return fmt.Sprintf("releasing it%s failed (%s): see '%s'", inCase, msg, suggest([]string{"status"}, l.Name))
}

// outputFailed fails a command that took a hold (what names it) but could
// not print its result on stdout (err): the hold is given back, so that
// exit 1 means, as it does otherwise, that nothing is held, rather than a
// hold nobody learnt of (for pool acquire, not even which member).
func (c *clientCmd) outputFailed(ctx context.Context, cl *client.Client, l *client.Lock, what, key, holder string, err error) error {
	released := c.giveBack(ctx, cl, l, key, holder, "")
	return c.fail(fmt.Errorf("took %s, but could not write the result to stdout (%v): %s", what, err, released))
}

// brokenPipesFail makes a write to a pipe nobody reads, on stdout or
// stderr, fail (EPIPE) rather than kill the program with SIGPIPE, as Go
// does unless told otherwise: a command that took a hold must live to give
// it back when its result cannot be written (outputFailed); killed, it left
// the hold kept (`locker pool acquire envs ... | false`: not even which
// member); locker run must live to wait for its command and release. The
// returned func restores Go's default. Commands that hold nothing keep the
// default: `locker list | head` ends quietly.
func brokenPipesFail() (restore func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGPIPE)
	return func() { signal.Stop(c) }
}

// acquire takes the lock, waiting as wait says, with progress on stderr. Its
// errors are reported already: return them as they are. The client reads
// the lock back when an answer is lost (or a proxy answers instead).
func (c *clientCmd) acquire(ctx context.Context, cl *client.Client, name string, o client.LockOptions, wait *waitFlag) (*client.Lock, error) {
	o.Wait = wait.wait()
	o.Retrying = c.retrying()
	if outer := c.env("LOCKER_KEY"); outer != "" && outer != o.Key && c.env("LOCKER_LOCK") == name {
		// Under locker run of this lock: a wrapper's hold, which ends
		// only once this command has.
		fmt.Fprintf(c.stderr, "locker %s: warning: '%s' is the lock this runs under (LOCKER_LOCK), held under key '%s' (LOCKER_KEY): under another key, this waits for that hold to end, for ever if that is the locker run waiting for this command; give --key \"$LOCKER_KEY\" to share it\n", c.name, shown(name), shown(outer))
	}
	p := c.startProgress(ctx, cl, name, o)
	// The client gives up at the wait and answerGrace (ErrNoAnswer).
	l, err := cl.Acquire(ctx, name, o)
	silent := wait.silent(err)
	p.stop()
	if err == nil {
		if l.ReadBack {
			c.say("'%s': %s", name, l.Message)
		}
		return l, nil
	}
	msg, code := explain(err)
	status, unlock := suggest([]string{"status"}, name), suggestUnlock(name, o.Key, firstOf(o.Holder, o.Key))
	stopped := "interrupted"
	if silent {
		code, stopped = exitError, wait.noAnswer()
	}
	switch {
	case code == exitInterrupted && errors.Is(err, client.ErrMaybeHeld),
		silent && errors.Is(err, client.ErrMaybeHeld):
		msg = fmt.Sprintf("%s: gave up waiting for lock '%s', but the server may have granted it just then: see '%s', and release it with '%s' (%v)", stopped, name, status, unlock, err)
	case code == exitInterrupted, silent:
		msg = fmt.Sprintf("%s: gave up waiting for lock '%s' (it was not taken)", stopped, name)
	case errors.As(err, new(*client.MaybeHeldError)):
		msg = fmt.Sprintf("the answer to the request for lock '%s' was lost, and the lock shows a hold of key '%s', holder '%s', taken meanwhile: this command's, or another's that shares the key and holder. See '%s'; if nothing else uses them, the hold is yours: release it with '%s' (%v)", name, o.Key, firstOf(o.Holder, o.Key), status, unlock, err)
	case errors.Is(err, client.ErrMaybeHeld):
		msg = fmt.Sprintf("the answer to the request for lock '%s' was lost, and the lock could not be read back to see whether it was taken. See '%s'; if it shows a hold of key '%s', holder '%s' that nothing else took, release it with '%s' (%v)", name, status, o.Key, firstOf(o.Holder, o.Key), unlock, err)
	case code == exitHeld && wait.d > 0:
		msg = fmt.Sprintf("gave up after waiting %s: %s", wait.d, msg)
	}
	fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, shown(msg))
	return nil, ExitError{Code: code}
}

// retrying says on stderr why a wait goes on when the server refuses for
// now (its store failing, restarting): once for each new reason, and again
// every half minute while it lasts. A wait that only said "waiting" would
// look like a lock held by someone else.
func (c *clientCmd) retrying() func(error, time.Duration) {
	var last string
	var said time.Time
	return func(err error, pause time.Duration) {
		msg, _ := explain(err)
		if msg == last && time.Since(said) < 30*time.Second {
			return
		}
		last, said = msg, time.Now()
		fmt.Fprintf(c.stderr, "locker %s: %s; trying again in %s\n", c.name, strings.TrimSuffix(msg, "; try again later"), pause.Round(100*time.Millisecond))
	}
}

func countOf(l *client.Lock, o client.LockOptions) int {
	holder := o.Holder
	if holder == "" {
		holder = o.Key
	}
	if l.Key != o.Key {
		return 0
	}
	return l.LockedBy[holder]
}

// progress shows, while waiting for a lock, who holds it and how long we
// have waited: a line redrawn in place on a terminal, a line every 10s with
// --verbose otherwise.
type progress struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *clientCmd) startProgress(ctx context.Context, cl *client.Client, name string, o client.LockOptions) *progress {
	return startWaitProgress(c, ctx,
		func(ctx context.Context) (*client.Lock, error) { return cl.Get(ctx, name) },
		func(l *client.Lock, waited time.Duration, now time.Time) string {
			return waitingLine(name, l, c.name, o, waited, now)
		})
}

// startWaitProgress draws, while waiting, the line line makes of the latest
// state fetch got (nil until it first answers) and how long we have waited;
// nothing when not on a terminal and not --verbose.
func startWaitProgress[T any](c *clientCmd, ctx context.Context, fetch func(context.Context) (*T, error), line func(state *T, waited time.Duration, now time.Time) string) *progress {
	tty := isTerminal(c.stderr)
	if !tty && !c.verbose {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &progress{cancel: cancel, done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(p.done)
		var (
			mu      sync.Mutex
			state   *T
			printed time.Time
			drawn   bool
		)
		refresh := func() {
			gctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if s, err := fetch(gctx); err == nil {
				mu.Lock()
				state = s
				mu.Unlock()
			}
		}
		// Say nothing if the wait ends at once.
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		refresh()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 0; ; n++ {
			now := time.Now()
			mu.Lock()
			text := shown(line(state, now.Sub(start), now))
			mu.Unlock()
			if tty {
				fmt.Fprintf(c.stderr, "\r\033[K%s", text)
				drawn = true
			} else if printed.IsZero() || now.Sub(printed) >= 10*time.Second {
				fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, text)
				printed = now
			}
			select {
			case <-ctx.Done():
				if drawn {
					fmt.Fprint(c.stderr, "\r\033[K")
				}
				return
			case <-tick.C:
			}
			if n%3 == 2 {
				go refresh()
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// waitingLine is "waiting for lock 'prod', held by 'deploy-a' (key 'x') for
// 3m12s, 2 waiting; waited 45s". A hold of o's key and holder (the wait's
// own, granted as its answer was lost, while the lock is read back) is
// said to be the command's (cmd: "run", "lock").
func waitingLine(name string, l *client.Lock, cmd string, o client.LockOptions, waited time.Duration, now time.Time) string {
	line := fmt.Sprintf("waiting for lock '%s'", shown(name))
	if l != nil && !l.Free() && countOf(l, o) > 0 {
		who := "a hold of this command's key and holder"
		switch {
		case cmd == "run" && o.OwnKey:
			who = "this run's hold"
		case cmd == "run":
			who = "a hold of this run's key and holder"
		}
		return line + ": it shows " + who + " (granted, its answer lost or still on its way: reading the lock back); waited " + human(waited)
	}
	if l != nil && !l.Free() {
		line += fmt.Sprintf(", held by %s (key '%s')", holderList(l), shown(l.Key))
		if !l.Since.IsZero() {
			line += " for " + human(now.Sub(l.Since))
		}
		if l.Waiters > 0 {
			line += fmt.Sprintf(", %d waiting", l.Waiters)
		}
	}
	return line + "; waited " + human(waited)
}

const unlockHelp = `Usage: locker unlock NAME --key KEY [--holder HOLDER] [--fence N] [--acquired T] [--retry D] [--json]
       locker unlock NAME --force [--fence N] [--retry D] [--json]

Gives back one hold on lock NAME taken with KEY by HOLDER (default: the key).
Unlocking a lock that is free, or that HOLDER does not hold, changes nothing.
While the server cannot be reached (restarting, say) or answers that it
cannot serve now (503), it tries again for up to --retry, with a growing
pause, saying so once on stderr; a signal stops it (exit 130). It reads the
lock before each attempt: a release whose answer was lost (the connection
cut after it went out, no answer in time) is judged by reading the lock
back, not sent again blindly (holds are counted: a key and holder holding
twice would be released twice). Fewer holds than before, or the hold gone:
it was made, and that is the result; the same hold: sent again. When the
lock cannot be read back, or --retry runs out, it exits 1 saying what to
check, and a hold left stays until its lease ends, or, without one, until
released. Another process that takes or gives back holds with the same key
and holder meanwhile is one holder to the server, and can mislead the read.

  --key KEY       the key the lock was taken with
  --holder NAME   the holder that took it (default: the key)
  --fence N       only the hold taken under fence token N (the one locker
                  lock printed): if the lock was released, expired or forced
                  and taken again since (another token, even by the same key
                  and holder: a job tried again), exit 3 and nothing is
                  released. A server that does not check it releases by key
                  and holder, and a warning says so
  --acquired T    only HOLDER's hold that began at time T (the hold's
                  "acquired" in locker lock --json, holds.HOLDER.acquired):
                  in a lock shared under one key, a hold the same key and
                  holder took again while another holder kept the lock held
                  has the same fence; this tells them apart (exit 3, nothing
                  released). As with --fence, the lock is read first, and
                  a hold that began at another time then is refused there;
                  a server that does not check it releases by key, holder
                  and fence whatever came after the read, and a warning
                  says so
  --force         release every hold, whatever the key: for an operator
                  cleaning up after a job that died. When the server has an
                  admin user (LOCKER_ADMIN_USER), only that user may. With
                  --fence N: only if the lock is still held under fence
                  token N (locker status shows it), so that a job that took
                  it since is not the one forced; otherwise exit 3 and
                  nothing is forced
  --retry D       try again for up to D (default 1m) while the server cannot
                  be reached or is unavailable; 0: one attempt, and no read
                  first (without --fence or --acquired)
  --json          print the lock's new state as JSON
`

func runUnlock(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("unlock", unlockHelp, env, stdout, stderr)
	key := c.fs.String("key", "", "")
	holder := c.fs.String("holder", "", "")
	force := c.fs.Bool("force", false, "")
	var fenceValue fenceFlag
	c.fs.Var(&fenceValue, "fence", "")
	fence := (*uint64)(&fenceValue)
	var acquired acquiredFlag
	c.fs.Var(&acquired, "acquired", "")
	asJSON := c.fs.Bool("json", false, "")
	retry := &durationFlag{d: releaseRetries}
	c.fs.Var(retry, "retry", "")
	name, err := c.parseOne(args, "lock name")
	if err != nil {
		return c.usage(err)
	}
	if *force && !acquired.t.IsZero() {
		return c.usage(errors.New("--force releases every hold: --acquired names one holder's, give it with --key"))
	}
	if *key == "" && !*force {
		return c.usage(errors.New("--key is required: the key the lock was taken with (or --force to release it whatever the key)"))
	}
	if *force && (*key != "" || *holder != "") {
		return c.usage(errors.New("--force releases every hold whatever the key: give it without --key and --holder"))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	nothing := "nothing was released"
	if *force {
		nothing = "nothing was forced"
	}
	u := &unlocker{c: c, cl: cl, name: name, key: *key, holder: *holder, force: *force, fence: *fence, acquired: acquired.t, nothing: nothing, retry: retry.d}
	l, err := u.release(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return c.wrote(writeJSONTo(stdout, l), "the release was done")
	}
	_, err = fmt.Fprintln(stdout, unlockMessage(name, firstOf(*holder, *key), *force, l, u.was))
	return c.wrote(err, "the release was done")
}

// wrote fails a command that made its change (done says so) but could not
// write its result to stdout (err): exit 1, saying that the change stands,
// so that the 1 is not read as nothing done (and an unlock tried again,
// giving back a second hold). nil when err is.
func (c *clientCmd) wrote(err error, done string) error {
	if err == nil {
		return nil
	}
	fmt.Fprintf(c.stderr, "locker %s: %s, but its result could not be written to stdout (%v)\n", c.name, done, err)
	return ExitError{Code: exitError}
}

// unlockMessage is what locker unlock prints of the release's answer l;
// was, when not nil, is the lock as read just before the release.
func unlockMessage(name, holder string, force bool, l, was *client.Lock) string {
	return shown(unlockText(name, holder, force, l, was))
}

func unlockText(name, holder string, force bool, l, was *client.Lock) string {
	if l.Legacy {
		return l.Message
	}
	if force {
		if strings.Contains(l.Message, "nothing to release") || strings.Contains(l.Message, "its answer lost") {
			return l.Message
		}
		from := ""
		if was != nil && !was.Free() {
			from = " (it was held by " + holderList(was) + ")"
		}
		switch {
		case l.Free() && l.Waiters > 0:
			return fmt.Sprintf("force-released '%s'%s; the first of its %d waiter(s) takes it next", name, from, l.Waiters)
		case l.Free():
			return fmt.Sprintf("force-released '%s'%s; it is free now", name, from)
		}
		return fmt.Sprintf("force-released '%s'%s; now held by %s (key '%s')", name, from, holderList(l), l.Key)
	}
	switch n := l.LockedBy[holder]; {
	case strings.Contains(l.Message, "nothing to unlock"), strings.Contains(l.Message, "nothing changed"):
		return l.Message
	case l.Free():
		return fmt.Sprintf("unlocked '%s'; it is free now", name)
	case n > 0:
		return fmt.Sprintf("unlocked '%s' once; '%s' still holds it %d more time(s)", name, holder, n)
	default:
		return fmt.Sprintf("unlocked '%s' for '%s'; still held by %s (key '%s')", name, holder, holderList(l), l.Key)
	}
}

// staleFence refuses a release (or force) with --fence N of a lock held
// under another fence now: exit 3, and nothing says what did not happen.
func (c *clientCmd) staleFence(name string, fence uint64, now *client.Lock, nothing string) error {
	fmt.Fprintf(c.stderr, "locker %s: lock '%s' %s (fence %d now: %s); %s\n", c.name, shown(name), fenceChange(fence, now.Fence), now.Fence, heldBy(now), nothing)
	return ExitError{Code: exitHeld}
}

// notChecked warns on stderr that the server did not check what (a
// condition the command sent, which a server that predates it ignores),
// and says what it did instead (did): the change was made, unchecked.
func (c *clientCmd) notChecked(what, did string) {
	fmt.Fprintf(c.stderr, "locker %s: warning: the server does not check %s: %s\n", c.name, what, did)
}

// fenceChange says how a lock's fence now stands to the one --fence gave:
// taken again since, or never that high (a token from another lock or
// server, or a typo).
func fenceChange(given, now uint64) string {
	if given > now {
		return fmt.Sprintf("has never had fence %d (no holding period of it had that token)", given)
	}
	return fmt.Sprintf("was taken again since fence %d", given)
}
