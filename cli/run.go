package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

const runHelp = `Usage: locker run NAME [--key KEY] [--holder HOLDER] [--wait D] [--ttl D] -- COMMAND [ARGS...]
       locker run --pool POOL [--key KEY] [...] -- COMMAND [ARGS...]

Waits for lock NAME, runs COMMAND while holding it, and releases it when
COMMAND exits, whether it succeeds or fails. Exits with COMMAND's exit status
(128+N when a signal N killed it).

With --pool instead of NAME, it takes whichever member of pool POOL is free
(waiting, first come, first served, while all are held), runs COMMAND with
it, and releases that member.

While COMMAND runs, the hold's lease is refreshed every third of the TTL, so
that a locker run that dies (kill -9, a lost machine) frees the lock within
the TTL instead of holding it forever. The first refresh comes before
COMMAND starts: a grant whose answer arrived after its lease ran out (a
slow network or store) is lost, and COMMAND is not run (exit 1). Nor is it
when the answer to taking the lock was lost, the hold read back, and that
refresh cannot reach the server: only this machine's clock, which may not
agree with the server's, could say how long the lease has left. If the
lease is lost (the server could not be reached for nine tenths of a TTL, or
an operator forced the lock) it says so loudly on stderr: another process
may then take the lock. A COMMAND that then succeeds makes locker run exit
1 all the same, unless the lock turned out to be still ours.

The release gives back the hold this run took, by its fencing token: a
hold taken afresh since by another process with the same --key and
--holder (a job tried again) is left alone, and said to be. A server
without that check releases by key and holder (said with --verbose).

SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to
COMMAND (one ignored when locker run starts, as nohup ignores SIGHUP, stays
ignored, by COMMAND too); the lock is released once COMMAND has exited, so a
COMMAND that starts workers must pass the signals on to them (exec the last
one, or trap and forward) and wait for them. Ctrl-C and Ctrl-\ typed at the
terminal whose foreground locker run is in reach COMMAND directly and are
not sent twice; a signal sent to the whole process group (kill -TERM -PGID,
a service manager stopping its unit) reaches COMMAND directly and again
through locker run. While the release is tried again after COMMAND has
exited, a signal stops the trying (one in the first half second, which may
be the one that ended COMMAND, only once an attempt has failed).

COMMAND gets LOCKER_LOCK (the lock's name), LOCKER_FENCE (its fencing token:
pass it to the service the lock protects), LOCKER_KEY and LOCKER_HOLDER in
its environment; with --pool also LOCKER_POOL (the pool) and LOCKER_METADATA
(the member's metadata as JSON; empty when it has none). LOCKER_LOCK is then
the member it got. COMMAND inherits the rest of locker run's environment,
LOCKER_URL, LOCKER_USER and LOCKER_PASS included (so that it can run locker
itself): unset them for a COMMAND that must not have them. A COMMAND that
takes NAME again shares this hold with --key "$LOCKER_KEY": under another
key it would wait for this run, for ever (it warns of it).

  --key KEY        key to lock with (default: HOSTNAME:PID:RANDOM, unique
                   to this run, for exclusive use). Runs with the same key
                   share the lock
  --holder NAME    who holds it (default: the same HOSTNAME:PID:RANDOM)
  --wait D         give up after waiting D for the lock (exit 3); 0 fails at
                   once; exit 1 on a server that has not answered by D+10s.
                   Default: wait until the lock is free
  --ttl D          lease, refreshed in the background (default 1m, at least
                   100ms; 0 asks for none: then a crashed run leaves the
                   lock held)
  --kill-on-lost   send SIGTERM to COMMAND if the lease is lost: forced, or
                   not renewed by nine tenths of its length (so before the
                   server can give the lock to anyone else). Nothing
                   harder follows: a COMMAND that ignores SIGTERM, or
                   takes longer than that last tenth to exit, runs on
                   without the lock (exit 1 if it then succeeds). It
                   needs a lease: with --ttl 0 (and no server default)
                   there is none to watch, and it warns so
  --pool POOL      take any free member of POOL instead of a lock NAME
  --wait-chunk D   wait in requests of at most D each (default 5m; env
                   LOCKER_WAIT_CHUNK; at least 1s). Behind a proxy or load
                   balancer, set it below the proxy's read (idle) timeout,
                   60s by default for nginx and AWS ALB (docs/deploy.md)

If locker run itself is killed (kill -9, the OOM killer), COMMAND is killed
too (SIGKILL, on Linux): the lease it ran under runs out, and the lock may
then be another's. Only COMMAND's own process: what it started goes on
unless it dies with it (exec the last one, as for signals); and not a
COMMAND that is setuid or has file capabilities (sudo), whose start drops
the kernel's promise.

If the server cannot be reached when COMMAND exits, the release is tried
again for the lease's length (at least a minute), the lease still renewed
meanwhile: a release that gets through late finds the hold still ours,
not run out since. If the answer to taking the
lock is lost on the way, the lock is read back, and a hold the server granted
is used; if it shows none (a server that died while the lock was waited
for), locker run exits 1 without running COMMAND, rather than ask again
what might still arrive. A server restarted cleanly (SIGTERM) is asked
again once it is back.

COMMAND starts after "--", or at the first argument after NAME that is not a
flag. Exit status when COMMAND did not run: 1 error, 2 bad command line,
3 lock held (--wait ran out), 126 COMMAND cannot be run, 127 not found
(both found before the lock is asked for, which is then not taken),
130 interrupted while waiting (by any of the signals above; also during the
first refresh: COMMAND is then not started, and the lock is given back).
When COMMAND succeeded but a lock without a lease (--ttl 0) could not be
released, 1.
`

// defaultRunTTL is locker run's lease when --ttl is not given; minRunTTL
// the shortest it keeps alive.
const (
	defaultRunTTL = time.Minute
	minRunTTL     = 100 * time.Millisecond
)

func runRun(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	// Its messages to a stderr nobody reads any more (2>&1 | tee, tee
	// ended) fail rather than kill it: it must live to wait for COMMAND
	// and give the lock back. COMMAND starts with SIGPIPE at its default.
	defer brokenPipesFail()()
	c := newClientCmd("run", runHelp, env, stdout, stderr)
	key := c.fs.String("key", "", "")
	holder := c.fs.String("holder", "", "")
	wait := &waitFlag{forever: true}
	c.fs.Var(wait, "wait", "")
	ttl := &durationFlag{d: defaultRunTTL}
	c.fs.Var(ttl, "ttl", "")
	killOnLost := c.fs.Bool("kill-on-lost", false, "")
	pool := c.fs.String("pool", "", "")
	c.addWaitChunk()
	poolMode := givesPool(c, args)
	if poolMode {
		// No NAME: a stand-in for it, so that the first word that is not
		// a flag starts the command.
		args = append([]string{"\x00pool"}, args...)
	}
	pos, argv, err := c.parse(args, true)
	if err != nil {
		return c.usage(err)
	}
	if poolMode {
		pos = pos[1:]
	}
	switch {
	case poolMode && *pool == "":
		return c.usage(errors.New("--pool needs a pool name: locker run --pool POOL -- COMMAND [ARGS...]"))
	case *pool != "" && len(pos) > 0:
		return c.usage(fmt.Errorf("give a lock NAME or --pool POOL, not both (got %q and --pool %q)", pos, *pool))
	case *pool != "" && len(argv) == 0:
		return c.usage(errors.New("no command to run: locker run --pool POOL -- COMMAND [ARGS...]"))
	case *pool != "":
	case len(pos) == 0:
		return c.usage(errors.New("give the lock name, then the command: locker run NAME -- COMMAND [ARGS...]"))
	case len(pos) > 1:
		return c.usage(fmt.Errorf("give one lock name (got %q)", pos))
	case len(argv) == 0:
		return c.usage(errors.New("no command to run: locker run NAME -- COMMAND [ARGS...]"))
	case ttl.d > 0 && ttl.d < minRunTTL:
		// Refreshed every third of it, over the network: it would be
		// lost at once, and the command run without the lock.
		return c.usage(fmt.Errorf("--ttl %s is too short to keep alive; use at least %s, or 0 for no lease", ttl.d, minRunTTL))
	}
	switch {
	case argv[0] == "":
		return c.usage(errors.New("the command is empty (an empty variable?)"))
	case *pool == "" && pos[0] == "":
		return c.usage(errors.New("the lock name is empty (an empty variable?)"))
	}
	// A COMMAND that cannot be run fails now, not after waiting for the
	// lock (all of --wait, behind every other job) and taking it.
	if _, err := exec.LookPath(argv[0]); err != nil {
		fmt.Fprintf(stderr, "locker run: cannot run %s: %s\n", argv[0], cleanExecError(err))
		return ExitError{Code: startFailedCode(err)}
	}
	// A key or a holder of this run's own: no other call shares the key
	// and holder, so a hold of theirs granted as an interrupted wait ended
	// (or whose answer was lost) is this run's, to use or give back.
	own := *key == "" || *holder == ""
	me := self()
	if *key == "" {
		*key = me
	}
	if *holder == "" {
		*holder = me
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}

	var l *client.Lock
	if *pool != "" {
		l, err = c.acquireFromPool(ctx, cl, *pool, client.LockOptions{Key: *key, Holder: *holder, TTL: ttl.d, OwnKey: own}, wait)
	} else {
		l, err = c.acquire(ctx, cl, pos[0], client.LockOptions{Key: *key, Holder: *holder, TTL: ttl.d, OwnKey: own}, wait)
	}
	if err != nil {
		return err
	}
	c.shortLease(l, *holder, ttl.d, "locker run renews it every third of that while the command runs")
	name := l.Name
	r := &runner{c: c, cl: cl, name: name, pool: *pool, key: *key, holder: *holder, ttl: ttl.d, killOnLost: *killOnLost, fence: l.Fence, acquired: l.Holds[*holder].Acquired}
	if h, ok := l.Holds[*holder]; ok && !l.Legacy && !h.Expires.IsZero() {
		// The server's, which may differ from --ttl (its default or
		// maximum lease).
		r.lease = max(time.Until(h.Expires), time.Second).Round(time.Second)
	}
	return r.run(ctx, l, argv, stdout, stderr)
}

// self names this run: HOSTNAME:PID:RANDOM. The random part keeps it
// unique where HOSTNAME:PID is not: containers that share a host name
// (host networking, a fixed --hostname) each have their own PIDs, often
// the same low ones.
func self() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	b := make([]byte, 4)
	rand.Read(b)
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b)
}

// givesPool reports whether args ask for --pool before any lock NAME and
// before "--" (after them, --pool may be the command's own argument).
func givesPool(c *clientCmd, args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return false
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "pool" {
			return true
		}
		if f := c.fs.Lookup(name); f != nil && !isBoolFlag(f) && !hasValue {
			i++
		}
	}
	return false
}

// runner runs a command while holding a lock.
type runner struct {
	c          *clientCmd
	cl         *client.Client
	name, key  string
	pool       string // with --pool: the pool name was taken from
	holder     string
	ttl        time.Duration
	killOnLost bool
	fence      uint64 // the lock's fence token when we took it (0: a server without)
	// acquired is when our hold began, by the server's clock (zero: it
	// did not say): a hold of our key and holder that began at another
	// time was taken afresh, even under our fence (a sibling holder kept
	// the lock held under the key meanwhile).
	acquired time.Time
	// lease is the hold's lease as the server granted it (0: none, so a
	// release that fails leaves the lock held until someone releases it).
	lease     time.Duration
	lostOnce  sync.Once
	stillLost atomic.Bool   // declared lost, and not found ours again since
	started   atomic.Bool   // COMMAND was started (after the keeper's first renewal)
	ended     atomic.Bool   // COMMAND has exited: the keeper's news is not told
	lost      chan struct{} // closed when the lease is lost
	released  bool          // release gave the hold back
	// stopKeeper, once COMMAND has exited, stops the keeper (nil before:
	// the release of a COMMAND not started has none running).
	stopKeeper func()
	// mu makes the start (started set) and a loss the keeper declares
	// (before or after it) one or the other: a loss declared just before
	// is found by start, one just after is announced.
	mu         sync.Mutex
	lostBefore string // why the hold was declared lost before COMMAND started
}

func (r *runner) run(ctx context.Context, l *client.Lock, argv []string, stdout, stderr io.Writer) error {
	r.lost = make(chan struct{})
	desc := fmt.Sprintf("holding '%s' (key '%s'", r.name, r.key)
	if r.pool != "" {
		desc = fmt.Sprintf("holding '%s' from pool '%s' (key '%s'", r.name, r.pool, r.key)
	}
	if l.Fence > 0 {
		desc += fmt.Sprintf(", fence %d", l.Fence)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 2 * time.Second // output pipes held open by a leftover grandchild
	cmd.Env = append(os.Environ(),
		"LOCKER_LOCK="+r.name,
		"LOCKER_FENCE="+strconv.FormatUint(l.Fence, 10),
		"LOCKER_KEY="+r.key,
		"LOCKER_HOLDER="+r.holder,
	)
	if r.pool != "" {
		cmd.Env = append(cmd.Env, "LOCKER_POOL="+r.pool, "LOCKER_METADATA="+string(l.Metadata))
	}

	// The command stays in locker run's process group: in a group of its
	// own, setsid(1) would fork away from it (and locker run release the
	// lock while the command still ran), and a command reading the
	// terminal would be stopped for ever. Signals go to the command; one
	// that starts workers must pass them on (exec, or a trap).

	// Those ignored at start (nohup's SIGHUP) are left ignored: caught
	// here, COMMAND would start with them back at their default, and one
	// passed on would end it.
	sigc := make(chan os.Signal, 8)
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2} {
		if !signal.Ignored(sig) {
			signal.Notify(sigc, sig)
		}
	}
	defer signal.Stop(sigc)

	// Interrupted as the lock was granted: COMMAND is not started. From
	// here on, every release is given sigc, so that a signal stops its
	// retries (the one that ended ctx went to main's handler, which
	// swallows those that follow it).
	if ctx.Err() != nil {
		r.release(sigc)
		fmt.Fprintf(stderr, "locker run: interrupted before %s started%s\n", argv[0], r.gaveBack())
		return ExitError{Code: exitInterrupted}
	}

	// The keeper's first renewal comes before COMMAND starts: a grant
	// whose answer came after its lease ran out (a slow network, a write
	// that waited in the store) is another's to take already.
	keepCtx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeeping()
	k, err := r.startKeeping(keepCtx, l)
	if err != nil {
		msg, _ := explain(err)
		var lost *client.LostError
		switch {
		case errors.As(err, &lost) && lost.Presumed:
			// The server could not say: if it is ours after all, give it
			// back.
			r.release(sigc)
			gave := ""
			if r.released {
				gave = "; gave it back"
			}
			fmt.Fprintf(stderr, "locker run: could not confirm that '%s' is still ours before %s could start (%s)%s: not running it\n", shown(r.name), argv[0], msg, gave)
			return ExitError{Code: exitError}
		case errors.As(err, &lost) && lost.TakenFence == 0:
			msg = "the server no longer has our hold: " + msg
		}
		fmt.Fprintf(stderr, "locker run: '%s' was lost before %s could start (%s): not running it\n", shown(r.name), argv[0], msg)
		return ExitError{Code: exitError}
	}
	// A signal (or the caller) that ended ctx during the first renewal:
	// COMMAND is not started, to be killed at once.
	if ctx.Err() != nil {
		stopKeeping()
		if k != nil {
			<-k.Done()
		}
		r.release(sigc)
		fmt.Fprintf(stderr, "locker run: interrupted before %s started%s\n", argv[0], r.gaveBack())
		return ExitError{Code: exitInterrupted}
	}
	if testHookBeforeStart != nil {
		testHookBeforeStart()
	}
	if why := r.start(); why != "" {
		// Declared lost by the keeper after its first renewal, before
		// started was set: declareLost only noted it.
		stopKeeping()
		if k != nil {
			<-k.Done()
		}
		r.release(sigc) // if it is ours after all
		gave := ""
		if r.released {
			gave = " (it was ours after all: gave it back)"
		}
		fmt.Fprintf(stderr, "locker run: %s, as %s was about to start%s: not running it\n", shown(why), argv[0], gave)
		return ExitError{Code: exitError}
	}
	r.c.say("%s); running %s", desc, strings.Join(argv, " "))

	defer dieWithParent(cmd)()
	if err := cmd.Start(); err != nil {
		r.release(sigc)
		code := startFailedCode(err)
		gave := ""
		if r.released {
			gave = fmt.Sprintf(" (released '%s')", shown(r.name))
		}
		fmt.Fprintf(stderr, "locker run: cannot run %s: %v%s\n", argv[0], cleanExecError(err), gave)
		return ExitError{Code: code}
	}

	kept := make(chan struct{})
	go func() {
		defer close(kept)
		if k != nil {
			<-k.Done()
		}
	}()

	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	var (
		ctxDone     = ctx.Done()
		lost        = (<-chan struct{})(r.lost)
		fallback    <-chan time.Time
		passedOn    bool
		waitErr     error
		childExited bool
	)
	for !childExited {
		select {
		case waitErr = <-waitc:
			childExited = true
		case s := <-sigc:
			passedOn = true
			if (s == syscall.SIGINT || s == syscall.SIGQUIT) && atForeground() {
				// Ctrl-C (or Ctrl-\) at the terminal: the command, in
				// the same process group, has it already.
				r.c.say("interrupted; waiting for %s to exit", argv[0])
				continue
			}
			r.c.say("passing %v on to %s", s, argv[0])
			cmd.Process.Signal(s)
		case <-ctxDone:
			// Stopped without a signal seen here (a caller's context):
			// stop the command unless a signal is on its way.
			ctxDone = nil
			fallback = time.After(200 * time.Millisecond)
		case <-fallback:
			fallback = nil
			if !passedOn {
				cmd.Process.Signal(syscall.SIGTERM)
			}
		case <-lost:
			lost = nil
			if r.killOnLost {
				fmt.Fprintf(stderr, "locker run: sending SIGTERM to %s (--kill-on-lost)\n", argv[0])
				cmd.Process.Signal(syscall.SIGTERM)
			}
		}
	}
	// The keeper renews on while the release is tried (a server that
	// restarts as COMMAND ends), so that a release that gets through
	// only after the lease's length finds the hold still ours, not run
	// out since; the release stops it just before giving the hold back.
	// What it sees from here on is the release's to tell.
	r.ended.Store(true)
	var stopOnce sync.Once
	r.stopKeeper = func() { stopOnce.Do(func() { stopKeeping(); <-kept }) }
	stuck := r.release(sigc)
	r.stopKeeper()

	code := 0
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
			r.c.say("%s was killed by %v", argv[0], ws.Signal())
		} else {
			code = ee.ExitCode()
		}
	default:
		// The command exited but its output could not be copied.
		fmt.Fprintf(stderr, "locker run: %v\n", waitErr)
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
		if code <= 0 {
			code = exitError
		}
	}
	switch {
	case code == 0 && stuck:
		// The command succeeded, but the lock, without a lease, stays
		// held: the caller must know.
		code = exitError
	case code == 0 && r.stillLost.Load():
		// It succeeded without the lock for a while: whatever the lock
		// protects may have been changed by someone else meanwhile.
		fmt.Fprintf(stderr, "locker run: %s succeeded, but '%s' was lost while it ran (see above): exiting 1\n", argv[0], shown(r.name))
		code = exitError
	}
	if code != 0 {
		return ExitError{Code: code}
	}
	return nil
}

// gaveBack says, after a release before COMMAND ran, that the lock was
// given back ("; released 'NAME'"); "" when it was not (release said why).
func (r *runner) gaveBack() string {
	if !r.released {
		return ""
	}
	return fmt.Sprintf("; released '%s'", shown(r.name))
}

// unreachable reports whether err may pass: the server could not be
// reached, or said it is unavailable.
func unreachable(err error) bool {
	return errors.Is(err, client.ErrUnreachable) || errors.Is(err, client.ErrUnavailable)
}

// sleepCtx waits d, or less if ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// releaseRetries bounds how long release keeps trying while the server
// cannot be reached: a lease's length, and at least this.
var releaseRetries = time.Minute

// release gives the lock back, trying again while the server cannot be
// reached or is unavailable (for the lease's length, at least a minute, or
// until a signal comes on stop): a release that is lost leaves the lock
// held until its lease ends, or, without one, until someone releases it
// by hand. It reports whether the lock was left held without a lease; a
// failure is reported, not returned.
func (r *runner) release(stop <-chan os.Signal) (stuck bool) {
	ctx, cancel := context.WithTimeout(context.Background(), max(r.ttl, releaseRetries))
	defer cancel()
	o := client.LockOptions{Key: r.key, Holder: r.holder}
	var (
		l    *client.Lock
		err  error
		held = -1 // our holds before the release, once read
		// confirmed: a read after the command ended found our hold
		// under our fence, so the command ran under the lock
		// throughout; a loss found later came after it.
		confirmed bool
		unchecked bool // released by a server that does not check the fence
	)
	watch := watchStop(stop, cancel)
	defer watch.end()
	// Each round reads our holds first: a release whose answer was lost
	// may have been done, and sending it again would give back a second
	// hold (one taken by whoever holds the lock under our key too).
	readBack := true // false with a server that cannot be read so (the original)
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		l, err = nil, nil
		if readBack {
			var now *client.Lock
			now, err = r.attempt(ctx, func(ctx context.Context) (*client.Lock, error) { return r.cl.Get(ctx, r.name) })
			switch {
			case err != nil && !unreachable(err):
				readBack, err = false, nil
			case err != nil:
			case held < 0 && (countOf(now, o) == 0 || now.TakenAgainSince(r.fence) || r.begunAfresh(now)):
				// Gone, or taken afresh by another with our key and
				// holder (a new fence token, or under ours a hold that
				// began at another time), whose hold is not ours.
				l = &client.Lock{Message: "nothing to release"}
				if !r.stillLost.Swap(true) && r.started.Load() {
					fmt.Fprintf(r.c.stderr, "locker run: LOCK LOST: '%s' was no longer ours when the command ended (force-released, or its lease ran out unrenewed): another process may have had it meanwhile\n", shown(r.name))
				}
			case held < 0:
				// Still ours: whatever keep feared, the lease held.
				held = countOf(now, o)
				confirmed = r.fence != 0 && !now.Legacy
				if r.stillLost.Swap(false) && r.started.Load() {
					fmt.Fprintf(r.c.stderr, "locker run: '%s' turned out to be still ours (the server kept our hold): no other process took it meanwhile\n", shown(r.name))
				}
			case countOf(now, o) < held:
				r.c.say("the server released '%s' before the answer was lost (its state read back)", r.name)
				l = now
				r.released = true
			}
		}
		if l == nil && err == nil {
			if r.stopKeeper != nil {
				// No renewal after the release, which would find
				// the hold gone.
				r.stopKeeper()
			}
			// By our fence and the time our hold began: a hold the same
			// key and holder took afresh since (a job tried again with
			// the same --key and --holder), even under our fence while
			// a sibling holder kept the lock held, is refused
			// (ErrLocked), not released. The read above narrows the
			// window for a server that checks neither.
			l, err = r.attempt(ctx, func(ctx context.Context) (*client.Lock, error) {
				return r.cl.UnlockHold(ctx, r.name, r.key, r.holder, client.HoldRef{Fence: r.fence, Acquired: r.acquired})
			})
			switch {
			case errors.Is(err, client.ErrFenceNotChecked):
				// Released all the same, by key and holder.
				unchecked, err = true, nil
			case errors.Is(err, client.ErrAcquiredNotChecked):
				// By our fence, which covers our hold; the read
				// above found it ours.
				err = nil
			}
		}
		if err == nil || !unreachable(err) {
			break
		}
		watch.attemptFailed()
		if delay == 250*time.Millisecond {
			msg, _ := explain(err)
			fmt.Fprintf(r.c.stderr, "locker run: could not release '%s' (%s); trying again for up to %s (a signal stops it)\n", shown(r.name), msg, max(r.ttl, releaseRetries))
		}
		if !sleepCtx(ctx, delay) {
			break
		}
	}
	if s := watch.stoppedBy(); s != nil {
		fmt.Fprintf(r.c.stderr, "locker run: %v: stopped trying to release '%s'\n", s, shown(r.name))
	}
	if errors.Is(err, client.ErrLocked) {
		r.takenAgain(err, confirmed)
		return false
	}
	if err != nil {
		msg, _ := explain(err)
		fmt.Fprintf(r.c.stderr, "locker run: could not release '%s': %s", shown(r.name), msg)
		if r.lease > 0 {
			fmt.Fprintf(r.c.stderr, "; its lease ends within %s", r.lease)
		} else {
			fmt.Fprintf(r.c.stderr, "; it has no lease and stays held until released (%s)", shown(suggestUnlock(r.name, r.key, r.holder)))
		}
		fmt.Fprintln(r.c.stderr)
		return r.lease == 0
	}
	if strings.Contains(l.Message, "nothing") {
		r.c.say("'%s' was no longer held by us: %s", r.name, l.Message)
		return false
	}
	if unchecked {
		r.c.say("released '%s' by key and holder (the server does not check a release's fence: had the same key and holder taken it again meanwhile, that hold was released)", r.name)
	} else {
		r.c.say("released '%s'", r.name)
	}
	r.released = true
	return false
}

// takenAgain reports a release refused (err, ErrLocked) because the lock
// is no longer in the holding period of our fence: held under another key,
// or taken afresh, perhaps by another process with our key and holder,
// whose hold is left alone. Found so after a read that confirmed our hold
// once the command had ended, it came after the command: its exit status
// stands. Otherwise the lock was lost while the command ran (exit 1 for a
// command that succeeded), and is said to be unless it was already.
func (r *runner) takenAgain(err error, confirmed bool) {
	now, _ := explain(err)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Lock != nil && !ae.Lock.Free() {
		now = fmt.Sprintf("held by %s (key '%s')", holderList(ae.Lock), shown(ae.Lock.Key))
		if ae.Lock.Fence != 0 {
			now += fmt.Sprintf(" under fence %d", ae.Lock.Fence)
		}
	}
	ours := "our hold"
	if r.fence != 0 {
		ours = fmt.Sprintf("our hold, fence %d", r.fence)
	}
	name := shown(r.name)
	switch {
	case confirmed:
		fmt.Fprintf(r.c.stderr, "locker run: '%s' was taken again after the command ended, before its release reached the server (%s, ended: its lease ran out, it was forced, or a release whose answer was lost was made): %s; left as it is, not released\n", name, ours, now)
	case !r.stillLost.Swap(true) && r.started.Load():
		fmt.Fprintf(r.c.stderr, "locker run: LOCK LOST: '%s' was no longer ours when the command ended (taken again since %s: %s): another process may have had it meanwhile; left as it is, not released\n", name, ours, now)
	default:
		fmt.Fprintf(r.c.stderr, "locker run: '%s' was taken again since %s (%s); left as it is, not released\n", name, ours, now)
	}
}

// stopWatch cancels a release when a signal asks it to stop. Signals that
// came before the release (the one that ended the command, say) are
// dropped; one that comes in its first signalGrace counts only once an
// attempt has failed (it may be the signal that ended the command, sent
// to the whole group and delivered here a moment late); a later one
// counts at once, even while an attempt waits for its answer.
type stopWatch struct {
	failOnce sync.Once
	failed   chan struct{} // closed when an attempt has failed
	done     chan struct{} // closed when the release ends
	by       atomic.Value  // the signal that stopped it
}

// watchStop watches stop (nil: nothing to watch) and calls cancel when a
// signal stops the release.
func watchStop(stop <-chan os.Signal, cancel context.CancelFunc) *stopWatch {
	w := &stopWatch{failed: make(chan struct{}), done: make(chan struct{})}
	if stop == nil {
		return w
	}
	drain(stop)
	began := time.Now()
	go func() {
		var pending os.Signal
		failed := (<-chan struct{})(w.failed)
		for {
			select {
			case s := <-stop:
				if failed != nil && time.Since(began) < signalGrace {
					pending = s
					continue
				}
				w.stop(s, cancel)
				return
			case <-failed:
				failed = nil
				if pending != nil {
					w.stop(pending, cancel)
					return
				}
			case <-w.done:
				return
			}
		}
	}()
	return w
}

func (w *stopWatch) stop(s os.Signal, cancel context.CancelFunc) {
	w.by.Store(s)
	cancel()
}

// attemptFailed says an attempt has failed: a signal kept from the grace
// now stops the release.
func (w *stopWatch) attemptFailed() { w.failOnce.Do(func() { close(w.failed) }) }

// end stops the watching.
func (w *stopWatch) end() { close(w.done) }

// stoppedBy is the signal that stopped the release, nil if none did.
func (w *stopWatch) stoppedBy() os.Signal {
	s, _ := w.by.Load().(os.Signal)
	return s
}

// signalGrace is how long after the command exits a signal is taken for
// the one that ended it (sent to the whole process group, it may reach
// locker run after the command is gone), not a request to stop releasing.
const signalGrace = 500 * time.Millisecond

// drain empties c without waiting.
func drain(c <-chan os.Signal) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// attemptTime is how long release waits for one answer.
var attemptTime = 15 * time.Second

// attempt makes one request of release, with up to attemptTime for an
// answer.
func (r *runner) attempt(ctx context.Context, do func(context.Context) (*client.Lock, error)) (*client.Lock, error) {
	return r.within(ctx, attemptTime, do)
}

// within makes one request with up to limit for an answer: a server that
// does not answer in time counts as one that cannot be reached.
func (r *runner) within(ctx context.Context, limit time.Duration, do func(context.Context) (*client.Lock, error)) (*client.Lock, error) {
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	l, err := do(actx)
	// Out of time (this attempt's, or the release's as a whole: not a
	// signal's cancel): the server did not answer.
	if err != nil && actx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		err = &client.ConnError{URL: r.cl.URL(), Err: fmt.Errorf("no answer within %s", limit.Round(time.Millisecond))}
	}
	return l, err
}

// startKeeping has the client keep the hold's lease alive until ctx ends
// (nil: no lease to keep), and say on stderr when a renewal fails, when
// the hold is lost (or presumed lost: then the command may be stopped,
// --kill-on-lost) and when a presumed loss turns out wrong. The keeper's
// first renewal is made before it returns: a hold lost by then, or
// presumed lost, is returned as the error, and COMMAND must not start.
func (r *runner) startKeeping(ctx context.Context, l *client.Lock) (*client.Keeper, error) {
	if l.Legacy {
		r.c.say("warning: the server has no leases; if this run dies, unlock '%s' by hand", r.name)
		return nil, nil
	}
	k, err := r.cl.Keep(ctx, l, r.key, r.holder, client.KeepOptions{TTL: r.ttl, Notify: r.kept})
	switch {
	case errors.Is(err, client.ErrLost):
		return nil, err // at the first renewal
	case err != nil:
		// No lease: nothing to keep alive, and nothing for
		// --kill-on-lost to watch.
		if r.killOnLost {
			fmt.Fprintf(r.c.stderr, "locker run: warning: --kill-on-lost watches the lease, and '%s' was granted none (--ttl 0): a forced release will not be noticed, and the command runs on\n", shown(r.name))
		}
		return nil, nil
	case k.Err() != nil:
		// Presumed lost at the first renewal: the server could not be
		// reached, and the lease is (nearly) over.
		k.Stop()
		return nil, k.Err()
	}
	return k, nil
}

// begunAfresh reports whether now has a hold of our holder that began at
// another time than ours: taken afresh under our fence, while a sibling
// holder kept the lock held under our key. False when either time is
// unknown.
func (r *runner) begunAfresh(now *client.Lock) bool {
	return now.TakenAgainWithin(r.holder, r.acquired)
}

// kept reports what the keeper of the hold saw.
func (r *runner) kept(e client.KeepEvent) {
	if r.ended.Load() {
		// After COMMAND: the keeper only keeps the lease until the
		// release; the release reads the lock and says what it finds.
		return
	}
	var lost *client.LostError
	errors.As(e.Err, &lost)
	switch {
	case e.Type == client.KeepRecovered:
		fmt.Fprintf(r.c.stderr, "locker run: the server answers again and '%s' is still ours: lease renewed\n", shown(r.name))
		r.stillLost.Store(false)
	case e.Type == client.KeepRetrying:
		msg, _ := explain(e.Err)
		r.c.say("could not refresh the lease on '%s' (%s); trying again", r.name, msg)
	case lost == nil:
	case lost.TakenFence != 0:
		// Taken afresh since, by a holder with our key and name.
		r.declareLost(fmt.Sprintf("'%s' was lost and taken again under our key and holder (fence %d, ours %d)", r.name, lost.TakenFence, lost.Fence))
	case lost.Presumed:
		msg, _ := explain(lost.Err)
		r.declareLost(fmt.Sprintf("could not refresh the lease on '%s' for %s (%s); it runs out within %s", r.name, lost.Unrenewed.Round(10*time.Millisecond), msg, lost.Left.Round(10*time.Millisecond)))
	default:
		msg, _ := explain(lost.Err)
		r.declareLost(fmt.Sprintf("the server no longer has our hold on '%s' (%s); it expired or was forced", r.name, msg))
	}
}

// testHookBeforeStart, when set (tests), is called after the keeper's
// first renewal, just before COMMAND is marked started.
var testHookBeforeStart func()

// start marks COMMAND started, unless the hold was declared lost before
// (and not found ours again since): then it returns why.
func (r *runner) start() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stillLost.Load() {
		return r.lostBefore // not started
	}
	r.started.Store(true)
	return ""
}

func (r *runner) declareLost(why string) {
	r.mu.Lock()
	if !r.started.Load() {
		// Before COMMAND starts: run says so, and does not start it.
		r.stillLost.Store(true)
		r.lostBefore = why
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	if r.stillLost.Swap(true) {
		// Said already (the renewals failing): the server now says so
		// too.
		fmt.Fprintf(r.c.stderr, "locker run: %s.\n", shown(why))
	} else {
		fmt.Fprintf(r.c.stderr, "locker run: LOCK LOST: %s.\nlocker run: LOCK LOST: another process may take '%s' while the command still runs.\n", shown(why), shown(r.name))
	}
	r.lostOnce.Do(func() { close(r.lost) })
}

// startFailedCode is the exit status of a COMMAND that could not be run
// (err): 127 not found, 126 otherwise (not executable, a directory), as
// the shell's.
func startFailedCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

// cleanExecError drops exec's repetition of the command name (and the
// stat of a path looked up).
func cleanExecError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	return err.Error()
}
