package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
)

// ErrNoLease: Keep was given a hold without a lease (taken without a TTL,
// or from a server without leases, Lock.Legacy): nothing can expire, so
// there is nothing to keep alive.
var ErrNoLease = errors.New("the hold has no lease to keep alive")

// ErrLost: a kept hold was lost. The error is a *LostError.
var ErrLost = errors.New("the hold was lost")

// KeepOptions say how Keep renews a hold's lease.
type KeepOptions struct {
	// TTL is the lease each renewal asks for: each sets the lease to TTL
	// from then (or the server's maximum, when shorter), a longer one the
	// hold had included. 0: what the hold's lease had left when l was
	// answered, rounded up to a whole second; for a Lock without Lease
	// (read back after a lost answer, or from Get), which can tell that
	// only by this machine's clock, no more than the hold has run for and
	// has left together by the server's clock (its expires less its
	// acquired: the lease it was taken with, when it was taken just
	// before), so that a server clock ahead of this one does not make the
	// renewals ask for a longer lease.
	TTL time.Duration
	// Notify, when set, hears of each renewal that failed, of the hold
	// lost, and of a presumed loss the server disproved (see
	// KeepEventType). It is called one event at a time, from Keep (its
	// first renewal) or the keeper's goroutine: a Notify that blocks
	// delays the renewals, and one that calls Stop never returns. A
	// loss Keep returns as its error is not told.
	Notify func(KeepEvent)
}

// KeepEventType says what a KeepEvent reports.
type KeepEventType int

const (
	// KeepRetrying: a renewal failed (Err says why) while the hold is
	// still believed held; the keeper tries again sooner. Not sent while
	// the hold is presumed lost.
	KeepRetrying KeepEventType = iota + 1
	// KeepLost: the hold is lost, or presumed lost (Err is the
	// *LostError; Keeper.Lost is closed).
	KeepLost
	// KeepRecovered: a renewal succeeded after the hold was presumed
	// lost: the server had it all along, and has it still. Keeper.Err is
	// nil again.
	KeepRecovered
)

// KeepEvent is one thing a Keeper reports to KeepOptions.Notify.
type KeepEvent struct {
	Type KeepEventType
	// Err is the renewal's failure (KeepRetrying) or the *LostError
	// (KeepLost); nil for KeepRecovered.
	Err error
}

// LostError is why a kept hold was lost. It matches ErrLost, and the
// failure behind it (ErrNotFound, ErrLocked, ErrUnreachable, ...).
type LostError struct {
	// Lock is the lock's name; Fence the token the kept hold was taken
	// under.
	Lock  string
	Fence uint64
	// Presumed is true when the server could not be reached (or failed)
	// for nine tenths of the lease, or at Keep's own renewal of a Lock
	// without Lease (Left is then 0: how long its lease has left is not
	// known): it may still have the hold, but may give the lock to
	// another within Left. The keeper goes on trying; should the server
	// then still have the hold, KeepRecovered follows.
	// Otherwise the server said the hold is gone, and the keeper has
	// stopped.
	Presumed bool
	// TakenFence is the lock's token when the server has a hold of the
	// same key and holder taken afresh since (the kept one ran out, then
	// another call took the lock with them): that hold is not this
	// one's. It equals Fence when another holder kept the lock held under
	// the key meanwhile (the token moves on only when the lock goes free):
	// the new hold began at another time (Hold.Acquired). 0 otherwise.
	TakenFence uint64
	// Unrenewed is how long it has been since the last renewal that
	// succeeded was sent (or since Keep was called); Left how long the
	// lease has at the least (Presumed only).
	Unrenewed, Left time.Duration
	// Err is the server's answer (ErrNotFound, ErrLocked) or the last
	// renewal's failure; nil when TakenFence is set.
	Err error
}

func (e *LostError) Error() string {
	switch {
	case e.TakenFence != 0 && e.TakenFence == e.Fence:
		return fmt.Sprintf("lock %q was lost and taken again under the same key and holder while it stayed held under fence %d (the hold began afresh)", e.Lock, e.Fence)
	case e.TakenFence != 0:
		return fmt.Sprintf("lock %q was lost and taken again under the same key and holder (fence %d, the kept hold's %d)", e.Lock, e.TakenFence, e.Fence)
	case e.Presumed:
		if e.Left <= 0 {
			return fmt.Sprintf("could not renew the lease on %q for %s (%v); it may have run out already", e.Lock, e.Unrenewed.Round(10*time.Millisecond), e.Err)
		}
		return fmt.Sprintf("could not renew the lease on %q for %s (%v); it runs out within %s", e.Lock, e.Unrenewed.Round(10*time.Millisecond), e.Err, e.Left.Round(10*time.Millisecond))
	}
	return fmt.Sprintf("the server no longer has the hold on %q (%v): its lease ran out, or it was forced", e.Lock, e.Err)
}

func (e *LostError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrLost}
	}
	return []error{ErrLost, e.Err}
}

// A Keeper renews one hold's lease in the background, like an etcd
// session's keep-alive: every third of the lease, sooner while renewals
// fail. Each renewal names the hold's fence token, so a hold the same key
// and holder took afresh after this one was lost is not renewed in its
// place (a server from before fenced renewals, which ignores the token,
// renews that hold once before the keeper sees the new token and stops;
// so does any server when another holder kept the lock held under the key
// meanwhile, which leaves the token as it was: the keeper sees that the
// hold began afresh, and stops).
// Stop it before releasing the hold.
type Keeper struct {
	c         *Client
	name, key string
	holder    string
	fence     uint64
	acquired  time.Time // when the kept hold began, by the server's clock
	ask       time.Duration
	notify    func(KeepEvent)
	cancel    context.CancelFunc
	done      chan struct{}
	lost      chan struct{}
	lostOnce  sync.Once

	// Owned by the keeper's goroutine (and Keep, before it starts).
	lease    time.Duration // the lease last granted
	expiry   time.Time     // when it runs out at the earliest, by this machine's clock
	interval time.Duration // until the next renewal
	presumed bool          // the hold is presumed lost
	// known: lease and expiry were counted from when a request was sent
	// (an answer said the lease, or a renewal succeeded), not read from
	// the hold's expires by this machine's clock.
	known bool

	mu          sync.Mutex
	err         error     // guarded by mu
	lastRenewed time.Time // guarded by mu
}

// Keep renews the lease of the hold of key and holder (the key when holder
// is "") on l, as Lock or Acquire returned it: once before it returns,
// then in the background until ctx ends or Stop is called. It never
// releases the hold. A hold without a lease is ErrNoLease; key and holder
// without a hold on l, ErrNotFound; a hold the server no longer has (its
// lease ran out, or it was forced), a *LostError. When the first renewal
// fails otherwise (the server cannot be reached), Keep returns the Keeper,
// which goes on trying.
//
// Lost is closed when the hold is lost: the server says it no longer has
// it, or renewals have failed for nine tenths of the lease, so that the
// work it protects can stop before the server may give the lock to
// another. Stop the work then: the lock may be someone else's.
//
// The lease's length is read from each answer (its Locker-Lease header) and
// counted from when its request was sent, so the clocks of client and
// server need not agree; against a server without that header, from the
// hold's expiry by this machine's clock (no longer than TTL). A Lock
// without Lease (read back after a lost answer, or from Get) says how
// long its lease has left only by that clock, which may be behind the
// server's: until a renewal has succeeded, the keeper does not rely on
// it, and a first renewal that fails (the server cannot be reached)
// presumes the hold lost at once (Keeper.Err, Lost closed), the keeper
// trying on.
//
// Each renewal sets the lease to TTL from then: two keepers of one hold
// (the same key and holder) would each cut the other's lease to their own
// TTL. Give each its own holder.
func (c *Client) Keep(ctx context.Context, l *Lock, key, holder string, o KeepOptions) (*Keeper, error) {
	if holder == "" {
		holder = key
	}
	if l.Legacy {
		return nil, fmt.Errorf("locker client: %w: lock %q is from a server without leases", ErrNoLease, l.Name)
	}
	if o.TTL < 0 {
		return nil, fmt.Errorf("locker client: %w: Keep needs a TTL of zero or more (%s)", ErrBadRequest, o.TTL)
	}
	h, ok := l.Holds[holder]
	if !ok || l.Key != key || h.Count == 0 {
		return nil, fmt.Errorf("locker client: %w: lock %q has no hold of key %q and holder %q", ErrNotFound, l.Name, key, holder)
	}
	if h.Expires.IsZero() {
		return nil, fmt.Errorf("locker client: %w: the hold of %q on %q was taken without a TTL", ErrNoLease, holder, l.Name)
	}
	// Until the first renewal answers, the lease is the one l's request
	// granted, or what the hold's expiry leaves (no more than asked).
	expiry, lease, left, known := leaseOf(l, h)
	ask := o.TTL
	if ask <= 0 {
		// What the lease had left when l was answered: not the lease
		// counted from when its request was sent, which includes the
		// time it waited for the lock (one of Acquire's requests may
		// wait Options.WaitChunk).
		if span := h.Expires.Sub(h.Acquired); !known && !h.Acquired.IsZero() && span > 0 {
			// Read by this machine's clock, which a server's ahead
			// of it would lengthen by as much (an hour ahead: an
			// hour's lease asked): no more than the server's own
			// clock says the hold has had and has left.
			left = min(left, span)
		}
		ask = max(left, time.Second)
		if r := ask % time.Second; r != 0 && ask <= math.MaxInt64-time.Second {
			ask += time.Second - r // whole seconds, as a person would ask
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	now := time.Now()
	k := &Keeper{
		c: c, name: l.Name, key: key, holder: holder, fence: l.Fence, acquired: h.Acquired,
		ask: ask, notify: o.Notify, cancel: cancel,
		done: make(chan struct{}), lost: make(chan struct{}), lastRenewed: now,
		lease: min(lease, ask), expiry: minTime(expiry, now.Add(ask)), known: known,
	}
	if k.lease <= 0 {
		k.lease = ask
	}
	if err := k.step(ctx, true); err != nil {
		cancel()
		return nil, err
	}
	go k.run(ctx)
	return k, nil
}

// leaseOf is when h's lease runs out at the earliest, by this machine's
// clock, its length, and what it had left when l was answered: the lease
// l's request granted, from when it was sent, when the server said
// (Lock.Lease: known); else the hold's expiry as this machine's clock
// reads it, which is off by as much as the clocks disagree.
func leaseOf(l *Lock, h Hold) (expiry time.Time, lease, left time.Duration, known bool) {
	if l.Lease > 0 && !l.sent.IsZero() {
		expiry = l.sent.Add(l.Lease)
		left = l.Lease
		if !l.answered.IsZero() {
			left = expiry.Sub(l.answered)
		}
		return expiry, l.Lease, left, true
	}
	left = time.Until(h.Expires)
	return time.Now().Add(left), left, left, false
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Lost is closed when the hold is lost or presumed lost, and stays closed
// (should a presumed loss be disproved, KeepRecovered says so and Err is
// nil again).
func (k *Keeper) Lost() <-chan struct{} { return k.lost }

// Err is nil while the hold is believed held, and the *LostError once it is
// lost (nil again should a presumed loss be disproved).
func (k *Keeper) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// Renewed is when the last renewal that succeeded was sent (or Keep was
// called, before one has): the lease runs at least until then plus its
// length.
func (k *Keeper) Renewed() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastRenewed
}

// Stop stops the renewals and waits for the keeper to end. It does not
// release the hold: its lease runs out unless it is released or renewed.
// Not from Notify, which the keeper waits for: cancel Keep's context
// there instead.
func (k *Keeper) Stop() {
	k.cancel()
	<-k.done
}

// Done is closed when the keeper has ended: stopped, its context ended, or
// the hold lost for sure.
func (k *Keeper) Done() <-chan struct{} { return k.done }

func (k *Keeper) run(ctx context.Context) {
	defer close(k.done)
	timer := time.NewTimer(k.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if k.step(ctx, false) != nil || ctx.Err() != nil {
			return
		}
		timer.Reset(k.interval)
	}
}

// step sends one renewal and takes in its outcome; it returns the
// *LostError of a hold lost for sure (told to Notify unless first: Keep
// returns it), or ctx's error.
func (k *Keeper) step(ctx context.Context, first bool) error {
	tell := !first
	// The hold is presumed lost a tenth of the lease before it can run
	// out, so that the work can stop before anyone else can be given the
	// lock. A renewal may take a second, but never past that point: a
	// server that hangs must not keep it from coming in time.
	margin := k.lease / 10
	limit := max(k.interval, time.Second)
	if until := time.Until(k.expiry.Add(-margin)); until < limit && !k.presumed {
		limit = max(until, 10*time.Millisecond)
	}
	if first {
		// Keep's own renewal, which an estimate of the lease that errs
		// short must not cut off at once.
		limit = max(limit, min(time.Second, k.lease/3))
	}
	sent := time.Now()
	nl, err := k.renew(ctx, limit)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case err == nil && (nl.TakenAgainSince(k.fence) || k.begunAfresh(nl)):
		return k.lose(&LostError{Lock: k.name, Fence: k.fence, TakenFence: nl.Fence, Unrenewed: time.Since(k.Renewed())}, tell)
	case err == nil:
		// The lease granted, from when the renewal was sent (the server
		// renewed it later than that).
		lease := k.ask
		if nl.Lease > 0 {
			lease = nl.Lease
		} else if h, ok := nl.Holds[k.holder]; ok && !h.Expires.IsZero() {
			lease = min(lease, time.Until(h.Expires))
		}
		k.lease, k.expiry, k.known = max(lease, 0), sent.Add(lease), true
		k.mu.Lock()
		k.lastRenewed, k.err = sent, nil
		k.mu.Unlock()
		if k.presumed {
			k.presumed = false
			k.tell(KeepEvent{Type: KeepRecovered})
		}
		k.interval = max(k.lease/3, 20*time.Millisecond)
	case lockerSaid(err, http.StatusNotFound, http.StatusLocked):
		// The server's own word (a proxy's 404 page, say while a
		// replica restarts, is not: it is tried again).
		return k.lose(&LostError{Lock: k.name, Fence: k.fence, Unrenewed: time.Since(k.Renewed()), Err: err}, tell)
	default:
		left := time.Until(k.expiry)
		if !k.known {
			// What the lease has left is known only by this
			// machine's clock, which may be behind the server's: it
			// may have run out already.
			left = 0
		}
		if left <= margin && !k.presumed {
			k.presumed = true
			k.lose(&LostError{Lock: k.name, Fence: k.fence, Presumed: true, Unrenewed: time.Since(k.Renewed()), Left: max(left, 0), Err: err}, true)
		} else if !k.presumed {
			k.tell(KeepEvent{Type: KeepRetrying, Err: err})
		}
		k.interval = max(min(k.lease/20, time.Second), 10*time.Millisecond)
		if until := time.Until(k.expiry.Add(-margin)); !k.presumed && until < k.interval {
			// The next try comes when the hold is to be presumed lost,
			// not up to a try later: the loss is presumed at nine
			// tenths of the lease, as promised, and the try after it
			// still comes before the lease runs out (a failure just
			// before that point left one that came as it ran out).
			k.interval = max(until, 0)
		}
	}
	return nil
}

// begunAfresh reports whether the hold nl has for the keeper's holder began
// at another time than the kept one: the kept hold ran out and the same
// key and holder took the lock again while another holder kept it held
// under the key, so that its fence token did not move on (and a server
// from before the acquired condition, which checks only the token,
// renewed that hold). False when either time is unknown.
func (k *Keeper) begunAfresh(nl *Lock) bool {
	return nl.TakenAgainWithin(k.holder, k.acquired)
}

// renew sends one renewal with up to limit for its answer: a server that
// does not answer in time counts as one that cannot be reached.
func (k *Keeper) renew(ctx context.Context, limit time.Duration) (*Lock, error) {
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// Named by its fence and the time it began: a hold the same key and
	// holder took again, under the same fence while a sibling holder kept
	// the lock held, is refused (404), its lease left as it was.
	l, err := k.c.RefreshHold(rctx, k.name, k.key, k.holder, k.ask, HoldRef{Fence: k.fence, Acquired: k.acquired})
	if errors.Is(err, ErrAcquiredNotChecked) {
		// A server from before the check renewed that other hold: the
		// answer shows it, and step takes it as the loss it is
		// (begunAfresh).
		err = nil
	}
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		err = &ConnError{URL: k.c.URL(), Err: fmt.Errorf("no answer within %s", limit.Round(time.Millisecond))}
	}
	return l, err
}

// lose records e, closes Lost and tells Notify (when tell); it returns e
// unless the loss is only presumed.
func (k *Keeper) lose(e *LostError, tell bool) error {
	k.mu.Lock()
	k.err = e
	k.mu.Unlock()
	k.lostOnce.Do(func() { close(k.lost) })
	if tell {
		k.tell(KeepEvent{Type: KeepLost, Err: e})
	}
	if e.Presumed {
		return nil
	}
	return e
}

func (k *Keeper) tell(e KeepEvent) {
	if k.notify != nil {
		k.notify(e)
	}
}
