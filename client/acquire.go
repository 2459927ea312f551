package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Acquire takes one hold on the named lock, waiting as long as it takes:
// until ctx ends, or for o.Wait when it is set. It returns the new state,
// with the fencing token.
//
// With a server that supports blocking waits, Acquire waits in the server's
// queue (first come, first served, and the hold is handed over the moment
// the lock is released), asking again every Options.WaitChunk. With a server
// that does not (the original locker, which answers 423 at once), it polls
// every Options.PollInterval.
//
// When o.Wait runs out, the error is the server's last refusal (ErrLocked,
// with who holds the lock). When ctx ends, the error matches ctx.Err() and,
// if the lock was refused before, ErrLocked too. A server that is
// unavailable for a while (ErrUnavailable, e.g. restarting or too many
// waiters) is tried again with a back-off; its 429 for too many failed
// logins from this address is not (asking again only adds to them).
// Acquire first reads the lock, to judge a later unknown outcome by; a
// server refusing that read for now is asked again the same way.
//
// A request whose outcome is unknown (Ambiguous: no answer, or a proxy's
// error; a *WaitCutError when a proxy's timeout shorter than
// Options.WaitChunk likely cut it) is never sent again, which could take
// the lock twice: Acquire
// lets the server settle (a quarter second: it gives back by itself a
// grant whose request it saw end) and reads the lock back. A hold of o's key and holder taken since the wait
// began is returned as this call's with o.OwnKey; without, it may as well
// be another call's that shares them, and the error is a *MaybeHeldError
// naming it (see ErrMaybeHeld). No such hold: the error. When ctx ends
// while a request is on its way, the server gives back a grant whose
// request ended before the answer went out; Acquire lets it settle (a
// quarter second: a grant made as the request ended may still be on its
// way to the store) and reads the lock back. A hold it finds is released
// with o.OwnKey, and otherwise reported with ErrMaybeHeld. (Reading back
// needs a Locker server: with the original, an unknown outcome is returned
// as it is.)
//
// With o.Wait set (not zero), Acquire gives up Options.AnswerGrace after
// o.Wait at the latest, even against a server that takes its requests and
// never answers: it settles a request on its way as when ctx ends, and the
// error matches ErrNoAnswer.
func (c *Client) Acquire(ctx context.Context, name string, o LockOptions) (*Lock, error) {
	return c.answerBound(ctx, o, func(ctx context.Context) (*Lock, error) { return c.acquire(ctx, name, o) })
}

// errAnswerBound is the cause of the context that answerBound ends.
var errAnswerBound = errors.New("no answer within the wait and its grace")

// answerBound runs wait, the wait of Acquire or AcquireFromPool for o, in a
// ctx that ends Options.AnswerGrace after o.Wait when o.Wait is set: a
// server that takes the requests and never answers holds it no longer,
// whatever its requests (each has Options.Timeout, and they added up). The
// wait ends as when ctx ends (a request on its way is settled by reading
// the lock back), and its error is then an ErrNoAnswer.
func (c *Client) answerBound(ctx context.Context, o LockOptions, wait func(context.Context) (*Lock, error)) (*Lock, error) {
	w := max(o.Wait, 0)
	if o.Wait == 0 || c.grace < 0 || w > math.MaxInt64-c.grace {
		return wait(ctx)
	}
	bctx, cancel := context.WithTimeoutCause(ctx, w+c.grace, errAnswerBound)
	defer cancel()
	l, err := wait(bctx)
	if err != nil && ctx.Err() == nil && noAnswer(bctx) && errors.Is(err, context.DeadlineExceeded) {
		err = &noAnswerError{url: c.base, wait: w.Round(time.Millisecond), grace: c.grace, err: err}
	}
	return l, err
}

// noAnswer reports whether ctx is one that answerBound ended.
func noAnswer(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errAnswerBound) }

// acquire is Acquire without its bound.
func (c *Client) acquire(ctx context.Context, name string, o LockOptions) (*Lock, error) {
	holder := o.Holder
	if holder == "" {
		holder = o.Key
	}
	look := func(ctx context.Context) (*Lock, ours, error) {
		l, err := c.Get(ctx, name)
		if unknownLock(err) {
			return nil, ours{}, nil
		}
		if err != nil {
			return nil, ours{}, err
		}
		return l, oursOf(l, o.Key, holder), nil
	}
	start := time.Now()
	var granted grantedFunc
	var before ours
	switch first, err := c.lookFirst(ctx, fmt.Sprintf("lock %q", name), o, func(ctx context.Context) (err error) {
		_, before, err = look(ctx)
		return err
	}); {
	case err != nil:
		return nil, err
	case first == judged:
		granted = func(ctx context.Context) (*Lock, error) {
			l, now, err := look(ctx)
			if err != nil || !now.newer(before) {
				return nil, err
			}
			return l, nil
		}
	case first == unjudged:
		granted = cannotJudge
	}
	o.Wait = waitLeft(o.Wait, start)
	return c.waitFor(ctx, fmt.Sprintf("lock %q", name), o, true, granted,
		func(ctx context.Context, req LockOptions) (*Lock, error) { return c.Lock(ctx, name, req) })
}

// firstLook is what lookFirst got: the read to judge by (judged), none
// because the server has no such read (the original locker: its unknown
// outcomes are returned as they are), or none because it failed (unjudged:
// an unknown outcome is then ErrMaybeHeld, never sent again).
type firstLook int

const (
	judged firstLook = iota
	legacy
	unjudged
)

// errNoFirstRead is what cannotJudge says.
var errNoFirstRead = errors.New("the lock could not be read before the request was sent, so a hold it shows now cannot be told from one it had then")

// cannotJudge is the grantedFunc of a wait whose first read failed.
func cannotJudge(context.Context) (*Lock, error) { return nil, errNoFirstRead }

// lookFirst makes the read that a wait's read-back judges by (look keeps
// what it read) before anything is asked: a request sent without it could
// not be judged should its answer be lost. While the server refuses for
// now (its own 503: restarting, its database away), it is asked again
// with a back-off until o.Wait or ctx ends (then that error). One that
// cannot be reached, or answers through a proxy's error, leaves it
// unjudged (the request is still sent: it fails the same way, or is
// answered); one that has no such read (the original locker), legacy.
func (c *Client) lookFirst(ctx context.Context, what string, o LockOptions, look func(context.Context) error) (firstLook, error) {
	var deadline time.Time
	if o.Wait > 0 {
		deadline = time.Now().Add(o.Wait)
	}
	var backoff time.Duration
	for {
		err := look(ctx)
		var ae *APIError
		switch {
		case err == nil:
			return judged, nil
		case ctx.Err() != nil:
			if errors.As(err, new(*endedError)) {
				err = nil // ended by ctx: said already
			}
			return unjudged, gaveUp(what, ctx.Err(), err)
		case errors.Is(err, ErrUnreachable) || Ambiguous(err) || loginRefused(err):
			return unjudged, nil
		case !errors.Is(err, ErrUnavailable) || !errors.As(err, &ae) || !ae.fromLocker:
			return legacy, nil
		case o.Wait < 0 || !deadline.IsZero() && !time.Now().Before(deadline):
			return unjudged, err
		}
		backoff = min(max(2*backoff, 500*time.Millisecond), 10*time.Second)
		delay := jitter(backoff)
		if !deadline.IsZero() {
			delay = min(delay, time.Until(deadline))
		}
		if o.Retrying != nil {
			o.Retrying(err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return unjudged, gaveUp(what, ctx.Err(), err)
		}
	}
}

// waitLeft is what is left of wait (0: for ever) after the reads made
// since start: a wait is counted from the call.
func waitLeft(wait time.Duration, start time.Time) time.Duration {
	if wait <= 0 {
		return wait
	}
	return max(wait-time.Since(start), time.Nanosecond)
}

// unknownLock reports whether err is a Locker server's answer that it has
// never seen the lock (the original locker's 404 for GET /lock/NAME, a
// route it lacks, says nothing).
func unknownLock(err error) bool { return lockerSaid(err, http.StatusNotFound) }

// ours is what a lock holds for one key and holder: its count, and the
// lock's fence token while they hold it.
type ours struct {
	count int
	fence uint64
}

func oursOf(l *Lock, key, holder string) ours {
	if l.Key != key || l.LockedBy[holder] == 0 {
		return ours{}
	}
	return ours{l.LockedBy[holder], l.Fence}
}

// newer reports whether now shows a hold taken since before: a higher
// count, or a new fence token (the lock was taken afresh: held by us
// before, it may have expired and come back to us).
func (now ours) newer(before ours) bool {
	return now.count > 0 && (now.count > before.count || now.fence != before.fence)
}

// waitFor is the wait of Acquire and AcquireFromPool: it asks with try, each
// time for up to Options.WaitChunk of o.Wait, until try succeeds, o.Wait
// runs out or ctx ends. what names what it waits for in the error when ctx
// ends. With pollLegacy, a refusal without the lock's state, or from the
// original locker, means a server that does not wait: it polls every
// Options.PollInterval instead. granted, when not nil, reads the server's
// state and returns a hold that try took since the wait began (nil if none):
// after an outcome that is unknown, and when ctx ends while try is on its
// way.
func (c *Client) waitFor(ctx context.Context, what string, o LockOptions, pollLegacy bool, granted grantedFunc, try func(context.Context, LockOptions) (*Lock, error)) (*Lock, error) {
	var deadline time.Time
	switch {
	case o.Wait > 0:
		deadline = time.Now().Add(o.Wait)
	case o.Wait < 0:
		// A time.Until of a moment past: asked once, as Lock does,
		// rather than for ever.
		deadline = time.Now()
	}
	var (
		legacy  bool  // the server does not wait: poll
		refused error // the last ErrLocked (or ErrUnavailable)
		backoff time.Duration
	)
	for {
		ask := c.waitChunk
		if !deadline.IsZero() {
			ask = min(ask, time.Until(deadline))
		}
		if d, ok := ctx.Deadline(); ok {
			// Let the server answer just before ctx ends, so that the
			// caller learns who holds the lock.
			left := time.Until(d)
			ask = min(ask, left-min(left/10, time.Second))
		}
		if legacy || ask < 0 {
			ask = 0
		}
		start := time.Now()
		req := o
		req.Wait = ask
		l, err := try(ctx, req)
		if err == nil {
			return l, nil
		}
		waited := time.Since(start) // the request's own, before any reading back
		if ctx.Err() != nil {
			// The request may have been granted as ctx ended.
			ended := gaveUp(what, ctx.Err(), refused)
			if granted == nil && Ambiguous(err) && noAnswer(ctx) {
				// The original locker, which cannot be read back: the
				// request went out and got no answer.
				ended = fmt.Errorf("%w; %w (the original locker's locks cannot be read back to see)", ended, ErrMaybeHeld)
			}
			return nil, c.giveBack(ctx, ended, o, granted)
		}
		var delay time.Duration
		switch {
		case Ambiguous(err) && !lockerMaybeMade(err):
			// Never asked again: the server may have granted it, or
			// may yet (a proxy could still pass the request on). The
			// server's state says which hold is ours. (The server's
			// own 503 that cannot tell whether it was made is read
			// back below, and asked again if it was not: the server
			// answered, so nothing is on its way.)
			if l, merr := c.readBack(ctx, granted, o, "the answer was lost on the way", err); l != nil || merr != nil {
				return l, merr
			}
			if ctx.Err() != nil {
				// It ended while the lock was read back.
				return nil, c.giveBack(ctx, gaveUp(what, ctx.Err(), err), o, granted)
			}
			if granted != nil {
				return nil, cutShort(err, ask, waited)
			}
			return nil, err
		case errors.Is(err, ErrLocked):
			refused, backoff = err, 0
			var ae *APIError
			if pollLegacy && errors.As(err, &ae) && (ae.Lock == nil || ae.Lock.Legacy) {
				legacy = true
			}
			switch {
			case legacy:
				delay = jitter(c.poll)
			case waited < 50*time.Millisecond && ask > 0:
				// The server keeps no one waiting (a tiny maximum wait):
				// do not hammer it.
				delay = jitter(250 * time.Millisecond)
			}
		case loginRefused(err):
			// Too many failed logins: asking again only adds to them.
			return nil, err
		case errors.Is(err, ErrUnavailable):
			// The server's own refusal, so not on its way any more.
			// With PostgreSQL, a commit whose outcome the server did
			// not learn (the connection broke) is a 503 too: look
			// before asking again.
			if l, merr := c.readBack(ctx, granted, o, "the server did not learn it had been", err); l != nil || merr != nil {
				return l, merr
			}
			if ctx.Err() != nil {
				return nil, c.giveBack(ctx, gaveUp(what, ctx.Err(), err), o, granted)
			}
			backoff = min(max(2*backoff, 500*time.Millisecond), 10*time.Second)
			delay = jitter(backoff)
			if refused == nil {
				refused = err
			}
			if o.Retrying != nil {
				o.Retrying(err, delay)
			}
		default:
			return nil, err
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, refused
			}
			delay = min(delay, left)
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, gaveUp(what, ctx.Err(), refused)
			}
		}
	}
}

// grantedFunc reads the server's state and returns the hold a request of
// the wait may have taken (nil if none): one of the caller's key and
// holder taken since the wait began.
type grantedFunc func(ctx context.Context) (*Lock, error)

// readBack looks for the hold that a request whose outcome is unknown (why
// and err say why) may have taken: granted finds one of o's key and holder
// taken since the wait began. With o.OwnKey it is this call's, returned
// marked as read back; without, it may as well be another call's that
// shares the key and holder (claimed, this call's release would end that
// one's hold while it works), so it is reported as a *MaybeHeldError. A
// lock that cannot be read back is an error matching ErrMaybeHeld too: the
// request must not be sent again. Nil and nil: no such hold; or the
// caller's ctx ended (giveBack's to settle); or no way to tell (granted is
// nil: the original locker).
func (c *Client) readBack(ctx context.Context, granted grantedFunc, o LockOptions, why string, err error) (*Lock, error) {
	if granted == nil {
		return nil, nil
	}
	// Its reads have the time a request has; the pauses come on top.
	rctx, cancel := context.WithTimeout(ctx, c.readBackTime()+2*settleTime)
	defer cancel()
	// The server gives back by itself a grant whose request it saw end
	// (cut by a proxy, or by a connection that broke): read at once, this
	// call could take as its own a hold about to be given back, and work
	// without the lock. Let it settle, and look twice.
	settle(rctx)
	for {
		if ctx.Err() != nil {
			return nil, nil // the caller's wait ended: giveBack's to settle
		}
		// A server that restarted may take a moment to answer again.
		l, gerr := granted(rctx)
		if l != nil {
			settle(rctx)
			again, aerr := granted(rctx)
			switch {
			case ctx.Err() != nil:
				return nil, nil
			case aerr != nil:
				// Seen once, and not again: it may have been given
				// back since. Not to be taken as this call's.
				holder := cmp.Or(o.Holder, o.Key)
				return nil, &MaybeHeldError{Lock: l, err: fmt.Errorf("%w; %w: %q was held under key %q by holder %q (fence %d) since the wait began, and could not be read again to see whether the server was giving it back (%v): if no other call shares the key and holder, see whether it is still held, and release it if so", err, ErrMaybeHeld, l.Name, o.Key, holder, l.Fence, aerr)}
			}
			l = again // nil: it was given back
		}
		if l != nil && o.OwnKey {
			l.ReadBack = true
			l.Message = fmt.Sprintf("granted; %s (%v), and the lock's state read back", why, err)
			return l, nil
		}
		if l != nil {
			holder := cmp.Or(o.Holder, o.Key)
			return nil, &MaybeHeldError{Lock: l, err: fmt.Errorf("%w; %w: %q is held under key %q by holder %q (fence %d) since the wait began: by this call, if the server granted it (%s), or by another call with the same key and holder; if no other call shares them, it is this call's: use it or release it (LockOptions.OwnKey has it returned as this call's)", err, ErrMaybeHeld, l.Name, o.Key, holder, l.Fence, why)}
		}
		switch {
		case gerr == nil:
			return nil, nil // no hold of ours
		case ctx.Err() != nil:
			return nil, nil
		case errors.Is(gerr, ErrUnreachable) || errors.Is(gerr, ErrUnavailable) && !loginRefused(gerr):
		default:
			return nil, unread(err, gerr)
		}
		select {
		case <-rctx.Done():
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, unread(err, gerr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// unread is the error of a request whose outcome is unknown (err) and whose
// lock could not be read back (gerr): it may hold, and is not to be sent
// again.
func unread(err, gerr error) error {
	return fmt.Errorf("%w; %w (and the lock could not be read back to see: %v)", err, ErrMaybeHeld, gerr)
}

// readBackTime bounds reading a lock back after an unknown outcome.
func (c *Client) readBackTime() time.Duration {
	if c.timeout > 0 {
		return c.timeout
	}
	return 15 * time.Second
}

// settleTime is how long giveBack and readBack let the server settle a
// request that ended: a grant made as it ended may still be on its way to the store
// (reads do not show it yet), and one whose request the server saw end is
// given back by the server itself.
const settleTime = 250 * time.Millisecond

// giveBack returns ended, the error of a wait whose ctx ended while a
// request was on its way, once it has made sure the request left no hold.
// The server gives back a grant whose request ended before the answer
// went out. One answered just as the request ended stays; but a hold of our
// key and holder taken since the wait began may as well be another call's
// (one that shares them, granted as this one gave up), and releasing that
// would let a third key in while that call works. So nothing is released,
// unless o.OwnKey says no other call uses the key and holder: if the lock
// shows such a hold, the error matches ErrMaybeHeld as well, and names it.
func (c *Client) giveBack(ctx context.Context, ended error, o LockOptions, granted grantedFunc) error {
	if granted == nil {
		return ended
	}
	// ctx has ended: these requests get a short time of their own, the
	// pauses on top.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(c.readBackTime(), 5*time.Second)+2*settleTime)
	defer cancel()
	read := func() (*Lock, error) {
		for {
			l, err := granted(bctx)
			if err == nil || !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrUnavailable) || bctx.Err() != nil {
				return l, err
			}
			settle(bctx) // a blip: again, while there is time
		}
	}
	// Read at once, a grant still on its way would be missed, and left
	// held with no one told (a client review saw it 3 times in 860).
	settle(bctx)
	l, err := read()
	if err == nil && l != nil {
		// The server may be giving it back at this moment.
		settle(bctx)
		l, err = read()
	}
	switch {
	case err != nil:
		return fmt.Errorf("%w; %w (reading it back: %v)", ended, ErrMaybeHeld, err)
	case l == nil:
		return ended // nothing was granted, or the server gave it back
	}
	holder := o.Holder
	if holder == "" {
		holder = o.Key
	}
	if o.OwnKey {
		// Nobody else uses the key and holder: the hold is this wait's.
		// Given back by its fence all the same, so that a caller who
		// shares them after all (OwnKey given wrongly) does not lose a
		// hold taken afresh since this grant ended; a server without the
		// check releases by key and holder, as Unlock, which is what
		// OwnKey allows.
		_, err = c.UnlockFence(bctx, l.Name, o.Key, o.Holder, l.Fence)
		switch {
		case errors.Is(err, ErrFenceNotChecked):
			err = nil
		case errors.Is(err, ErrLocked) && l.Fence != 0:
			// Taken again since the grant: it ended (forced, or its
			// lease ran out), and nothing of this wait's is held.
			return ended
		}
		if Ambiguous(err) {
			// Its answer was lost: see whether the hold is gone.
			// A hold under another fence was taken afresh since the
			// release was made: not this wait's, and not to be named as
			// this call's to release.
			var still *Lock
			if still, err = granted(bctx); err == nil && still != nil && !still.TakenAgainSince(l.Fence) {
				err = errors.New("it is still held")
			}
		}
		if err == nil {
			return ended
		}
		return &MaybeHeldError{Lock: l, err: fmt.Errorf("%w; %w: lock %q (key %q, holder %q, fence %d) was granted as the wait ended and could not be given back (%v): release it", ended, ErrMaybeHeld, l.Name, o.Key, holder, l.Fence, err)}
	}
	return &MaybeHeldError{Lock: l, err: fmt.Errorf("%w; %w: %q is held under key %q by holder %q (fence %d) since the wait began: by this wait, if its answer was lost as it ended, or by another call with the same key and holder; if no other call shares them, release it", ended, ErrMaybeHeld, l.Name, o.Key, holder, l.Fence)}
}

// loginRefused reports whether err is a Locker server's 429: this client's
// address failed to log in too often (its credentials are wrong, or were).
func loginRefused(err error) bool { return lockerSaid(err, http.StatusTooManyRequests) }

// settle waits settleTime, or until ctx ends.
func settle(ctx context.Context) {
	t := time.NewTimer(settleTime)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// gaveUp is the error of a wait for what whose context ended.
func gaveUp(what string, ctxErr, refused error) error {
	if refused != nil {
		return fmt.Errorf("gave up waiting for %s: %w: %w", what, ctxErr, refused)
	}
	return fmt.Errorf("gave up waiting for %s: %w", what, ctxErr)
}

// jitter spreads d by ±20% so that many clients do not retry in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
