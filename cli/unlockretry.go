package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/shellquote"
)

// unlocker is one locker unlock: its release, tried again (for up to
// retry) while the server cannot be reached or says it is unavailable.
type unlocker struct {
	c           *clientCmd
	cl          *client.Client
	name        string
	key, holder string
	force       bool
	fence       uint64
	acquired    time.Time
	nothing     string        // what a refusal says was not done
	retry       time.Duration // 0: one attempt, as before --retry

	// read says what the read before a release with --fence found, for
	// the warning of a server that does not check the fence.
	read string
	// was is the lock as read just before the release that was made
	// (nil: not read), for what --force says it freed.
	was *client.Lock
}

// release gives back the hold (or, with --force, every hold) and returns
// the lock's state after it, or the ExitError to return (its message
// printed).
//
// Before each attempt it reads the lock (with --retry 0, only with --fence
// or --acquired, as before): the state a release whose answer is lost is
// judged by. An attempt that may have reached the server and failed
// without a clear answer (the connection cut after the request went out,
// no answer in time, a gateway's 5xx, a 503 of a store that may have
// committed) is not sent again blindly: holds are counted, and the same
// key and holder holding twice would be released twice. The next read
// tells: the hold, as read before that attempt, shows a count fewer, or
// is gone (the lock free, another fence token, a hold begun at another
// time): the release was made, and that is the result. Otherwise nothing
// was released, and the release is sent again. When the lock cannot be
// read back (a server that does not show it: the original locker), a
// lost answer ends the trying, as with --retry 0.
func (u *unlocker) release(ctx context.Context) (*client.Lock, error) {
	c := u.c
	u.read = fmt.Sprintf("the lock was read under fence %d just before", u.fence)
	checked := u.fence != 0 || !u.acquired.IsZero()
	deadline := time.Now().Add(u.retry)
	var (
		before   *client.Lock // read just before the last attempt (nil: not read)
		maybe    bool         // the last attempt may have been made: judge it by a read
		retried  bool         // it was said on stderr that it tries again
		saidLost bool         // it was said that an answer was lost
		l        *client.Lock
		err      error
	)
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err = nil
		if u.retry > 0 || checked {
			now, gerr := u.cl.Get(ctx, u.name)
			switch {
			case gerr == nil && maybe && before != nil && releasedSince(before, now, u.force, client.LockOptions{Key: u.key, Holder: u.holder}):
				fmt.Fprintf(c.stderr, "locker %s: the lock, read back, no longer shows the hold as it was before the attempt whose answer was lost: that release was made (or the hold ended otherwise meanwhile)\n", c.name)
				if u.force {
					now.Message = fmt.Sprintf("force-released lock %q (its answer lost: the lock read back)", u.name)
				}
				return now, nil
			case gerr == nil:
				if maybe {
					fmt.Fprintf(c.stderr, "locker %s: the lock, read back, shows the hold as before: that release was not made; sending it again\n", c.name)
				}
				maybe = false
				if checked {
					if done, cerr := u.check(now); done {
						return nil, cerr
					}
				}
				before = now
			case unreachable(gerr) && ctx.Err() == nil:
				err = gerr
			case errors.Is(gerr, client.ErrNotFound) && !maybe:
				// A lock the server does not know (nothing to
				// release), or a server that does not show one.
				before = nil
				u.read = "the read just before did not find the lock: unknown to the server, or a server without fencing tokens (the original locker)"
			case checked || maybe || ctx.Err() != nil:
				err = gerr
			default:
				// Not read (a server that does not show locks so): sent
				// all the same, but a lost answer will not be tried again.
				before = nil
			}
		}
		switch {
		case err != nil && (ctx.Err() != nil || !unreachable(err)):
			// A read that failed for good: as the release would.
		case err == nil:
			l, err = u.send(ctx)
			if err == nil {
				u.was = before
			}
			if err == nil || !unreachable(err) && ctx.Err() == nil {
				break
			}
			// Any answer of the server's (a 503 of a store whose
			// commit was cut off may have made it) is judged by a
			// read too, as a lost one is; with --retry 0, as before,
			// only a lost one is said to be in doubt.
			var ae *client.APIError
			maybe = client.Ambiguous(err) || u.retry > 0 && errors.As(err, &ae)
		}
		if err == nil || ctx.Err() != nil || !unreachable(err) || maybe && before == nil {
			// Done, refused, stopped, or a lost answer that no read can
			// judge: not sent again.
			break
		}
		if u.retry == 0 || time.Now().Add(delay).After(deadline) {
			break
		}
		// One line per state: trying again, and an answer lost (then
		// what its read showed), not one per attempt.
		msg, _ := explain(err)
		switch {
		case maybe && !saidLost:
			saidLost, retried = true, true
			fmt.Fprintf(c.stderr, "locker %s: the answer to the release of '%s' was lost (%s): it may have been made; the lock is read back before it is sent again, for up to %s (a signal stops it)\n", c.name, shown(u.name), msg, u.retry)
		case !retried:
			retried = true
			fmt.Fprintf(c.stderr, "locker %s: could not release '%s' (%s); trying again for up to %s (a signal stops it)\n", c.name, shown(u.name), msg, u.retry)
		}
		if !sleepCtx(ctx, delay) {
			break
		}
	}
	return u.result(ctx, l, err, maybe, retried)
}

// result turns release's last outcome into its result: the lock as the
// release left it, or the ExitError whose message it prints.
func (u *unlocker) result(ctx context.Context, l *client.Lock, err error, maybe, retried bool) (*client.Lock, error) {
	c := u.c
	status := shown(suggest([]string{"status"}, u.name))
	what := "release"
	if u.force {
		what = "forced release"
	}
	if ctx.Err() != nil && err != nil {
		msg := u.nothing + ": a hold stays until its lease ends, or, without one, until released"
		if maybe {
			msg = fmt.Sprintf("the answer to the last attempt was lost, and the %s may have been done: see '%s' before unlocking again", what, status)
		}
		fmt.Fprintf(c.stderr, "locker %s: interrupted: stopped trying to release '%s'; %s\n", c.name, shown(u.name), msg)
		return nil, ExitError{Code: exitInterrupted}
	}
	var ae *client.APIError
	switch {
	case err == nil:
		return l, nil
	case errors.Is(err, client.ErrAcquiredNotChecked):
		// Released all the same, by key, holder and fence (if given).
		c.notChecked("the time a hold began", fmt.Sprintf("it released a hold of key '%s' and holder '%s' whenever it began", shown(u.key), shown(firstOf(u.holder, u.key))))
		return l, nil
	case errors.Is(err, client.ErrFenceNotChecked):
		// Released all the same, by key and holder: the read just
		// before found the lock under that fence (or free).
		c.notChecked("a release's fence", fmt.Sprintf("it released by key '%s' and holder '%s', whatever the fence (%s)", shown(u.key), shown(firstOf(u.holder, u.key)), u.read))
		return l, nil
	case !u.force && errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil && !ae.Lock.Free() && u.fence != 0 && ae.Lock.Fence != u.fence:
		// Taken again between the read and the release.
		return nil, c.staleFence(u.name, u.fence, ae.Lock, u.nothing)
	case !u.force && (u.fence != 0 || !u.acquired.IsZero()) && errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil && ae.Lock.Key == u.key:
		// Under our key still: the holder's hold began at another
		// time than --acquired (taken again). The server's words
		// say when.
		fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, ae.Message)
		return nil, ExitError{Code: exitHeld}
	case maybe:
		// Sent, and perhaps done: another unlock would give back a
		// second hold of the key and holder, if there is one.
		msg, _ := explain(err)
		then := ""
		if retried {
			then = fmt.Sprintf(" (tried for %s; the lock could not be read back to see)", u.retry)
		}
		fmt.Fprintf(c.stderr, "locker %s: %s; the answer was lost on the way, and the %s may have been done%s: see '%s' before unlocking again\n", c.name, msg, what, then, status)
		return nil, ExitError{Code: exitError}
	case retried:
		msg, _ := explain(err)
		fmt.Fprintf(c.stderr, "locker %s: could not release '%s' within %s: %s; %s: a hold stays until its lease ends, or, without one, until released ('%s' once the server answers)\n", c.name, shown(u.name), u.retry, msg, u.nothing, shown(u.again()))
		return nil, ExitError{Code: exitError}
	}
	return nil, c.fail(err)
}

// again is the locker unlock command to run again.
func (u *unlocker) again() string {
	if u.force {
		return shellquote.Locker([]string{"unlock"}, []string{u.name}, "--force")
	}
	return suggestUnlock(u.name, u.key, firstOf(u.holder, u.key))
}

// check judges the lock as read before a release with --fence or
// --acquired: done when the release is not to be sent (a hold taken
// again: exit 3, said on stderr).
func (u *unlocker) check(now *client.Lock) (done bool, err error) {
	c := u.c
	switch {
	case now.Legacy:
		u.read = "a server without fencing tokens: the read just before could not check it"
	case now.Free():
		u.read = "the lock was free when read just before"
	case u.fence != 0 && now.Fence != u.fence:
		return true, c.staleFence(u.name, u.fence, now, u.nothing)
	case now.Key == u.key && now.TakenAgainWithin(firstOf(u.holder, u.key), u.acquired):
		// Under our key (and fence) still, but the holder's hold
		// began at another time: taken again. A server from before
		// the acquired check would release it.
		who := firstOf(u.holder, u.key)
		fmt.Fprintf(c.stderr, "locker %s: lock '%s': the hold of '%s' under key '%s' acquired at %s is gone: '%s' took the lock again at %s (%s); %s\n", c.name, shown(u.name), shown(who), shown(u.key), u.acquired.UTC().Format(time.RFC3339Nano), shown(who), now.Holds[who].Acquired.UTC().Format(time.RFC3339Nano), heldBy(now), u.nothing)
		return true, ExitError{Code: exitHeld}
	default:
		u.read = fmt.Sprintf("the lock was read under fence %d just before", u.fence)
	}
	return false, nil
}

// send makes one attempt at the release.
func (u *unlocker) send(ctx context.Context) (*client.Lock, error) {
	switch {
	case u.force:
		return u.cl.ForceUnlockFence(ctx, u.name, u.fence)
	case u.fence != 0 || !u.acquired.IsZero():
		return u.cl.UnlockHold(ctx, u.name, u.key, u.holder, client.HoldRef{Fence: u.fence, Acquired: u.acquired})
	}
	return u.cl.Unlock(ctx, u.name, u.key, u.holder)
}

// releasedSince reports whether now, the lock read after a release whose
// answer was lost, shows that release made: the hold it was to give back,
// as before (read just before it) showed it, has a count fewer or is gone
// (the lock free or taken again under another fence token, the holder's
// hold begun at another time); with force, the holding period before
// showed is over. A hold before showed nothing of has nothing to tell:
// false (sending the release again changes nothing there either). Another
// process that shares the key and holder, taking or releasing a hold
// meanwhile, can mislead it: they are one holder to the server.
func releasedSince(before, now *client.Lock, force bool, o client.LockOptions) bool {
	if force {
		return !before.Free() && (now.Free() || now.Key != before.Key || now.TakenAgainSince(before.Fence))
	}
	had := countOf(before, o)
	if had == 0 {
		return false
	}
	holder := firstOf(o.Holder, o.Key)
	return countOf(now, o) < had || now.TakenAgainSince(before.Fence) || now.TakenAgainWithin(holder, before.Holds[holder].Acquired)
}
