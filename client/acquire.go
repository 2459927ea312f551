package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
// waiters) is tried again with a back-off; other errors, including a server
// that cannot be reached, end Acquire at once: retrying a request whose
// answer was lost could take the lock twice.
func (c *Client) Acquire(ctx context.Context, name string, o LockOptions) (*Lock, error) {
	return c.waitFor(ctx, fmt.Sprintf("lock %q", name), o, true,
		func(ctx context.Context, req LockOptions) (*Lock, error) { return c.Lock(ctx, name, req) })
}

// waitFor is the wait of Acquire and AcquireFromPool: it asks with try, each
// time for up to Options.WaitChunk of o.Wait, until try succeeds, o.Wait
// runs out or ctx ends. what names what it waits for in the error when ctx
// ends. With pollLegacy, a refusal without the lock's state, or from the
// original locker, means a server that does not wait: it polls every
// Options.PollInterval instead.
func (c *Client) waitFor(ctx context.Context, what string, o LockOptions, pollLegacy bool, try func(context.Context, LockOptions) (*Lock, error)) (*Lock, error) {
	var deadline time.Time
	if o.Wait > 0 {
		deadline = time.Now().Add(o.Wait)
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
		if ctx.Err() != nil {
			return nil, gaveUp(what, ctx.Err(), refused)
		}
		var delay time.Duration
		switch {
		case errors.Is(err, ErrLocked):
			refused, backoff = err, 0
			var ae *APIError
			if pollLegacy && errors.As(err, &ae) && (ae.Lock == nil || ae.Lock.Legacy) {
				legacy = true
			}
			switch {
			case legacy:
				delay = jitter(c.poll)
			case time.Since(start) < 50*time.Millisecond && ask > 0:
				// The server keeps no one waiting (a tiny maximum wait):
				// do not hammer it.
				delay = jitter(250 * time.Millisecond)
			}
		case errors.Is(err, ErrUnavailable):
			backoff = min(max(2*backoff, 500*time.Millisecond), 10*time.Second)
			delay = jitter(backoff)
			if refused == nil {
				refused = err
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
