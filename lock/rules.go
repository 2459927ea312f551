package lock

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Env is what a store gives the rules for one change: the time by the store's
// clock and a source of fence tokens. NextFence returns a token greater than
// every token it returned before, across restarts.
type Env struct {
	Now       time.Time
	NextFence func() uint64
	// Queue is the lock's live waiters, oldest first, read together with
	// the lock by a store that keeps the wait queue (a WaitQueue fills it
	// on every Update); nil from other stores.
	Queue []Queued
	// Found is whether the store holds the lock: false for a name it
	// never saw (or has forgotten), which the mutation is given as a
	// free lock all the same.
	Found bool
}

// Request asks for a hold on a lock.
type Request struct {
	Key    string
	Holder string
	// TTL is the lease; zero means the hold never expires.
	TTL time.Duration
	// MaxTTL, when set, is the server's longest lease: no hold this
	// request touches is left expiring later than now+MaxTTL, or never.
	MaxTTL time.Duration
}

// MaxCount is the most times one holder can hold a lock: the largest integer
// that every JSON reader (JavaScript's numbers included) keeps exactly. Only
// a converted file can bring a hold near it; past it a count would wrap.
const MaxCount = 1<<53 - 1

// MaxHolders is how many holders a lock may have at once. Every change of a
// lock writes its whole state (a log record, a row), and releasing them all
// at once one event each: without a bound, holders that are never released
// (a pipeline that takes a shared key under each build's name) made every
// change of the lock, and every change batched with it, slower without end.
// Far more than any real sharing needs.
const MaxHolders = 1000

// Acquire takes one hold on l for r.Holder under r.Key: allowed when the lock
// is free or already held under r.Key. The holder's count goes up by one.
// A lease never shortens: a hold's expiry becomes the later of its current one
// and now+TTL, where a hold without a lease counts as never expiring.
// Stale leases are expired first. On a conflict l keeps its expiries (they
// are returned as events) and the error is an *Error with code ECONFLICT.
// A new holder of a lock with MaxHolders holders is refused with ETOOLARGE.
func Acquire(l *Lock, r Request, env Env) ([]Event, error) {
	events := Expire(l, env.Now)
	if l.Key != "" && l.Key != r.Key {
		return events, conflict(l)
	}
	if _, held := l.Holds.Lookup(r.Holder); !held && len(l.Holds) >= MaxHolders {
		return events, &Error{Code: ETOOLARGE, Message: fmt.Sprintf("lock %q has %d holders, the most a lock may have: %q cannot hold it too until one of them releases it", l.Name, len(l.Holds), r.Holder)}
	}
	if l.Key == "" {
		l.Key = r.Key
		l.Fence = env.NextFence()
		l.Since = env.Now
		l.FreeSince = time.Time{}
	}
	h, held := l.Holds.Lookup(r.Holder)
	if h.Count >= MaxCount {
		return events, Errorf(EINVALID, "holder %q already holds lock %q %d times, the most one hold can count; release it first", r.Holder, l.Name, h.Count)
	}
	var exp time.Time
	if r.TTL > 0 {
		exp = env.Now.Add(r.TTL)
	}
	switch {
	case !held:
		h = Hold{Acquired: env.Now, Expires: exp}
	case h.Expires.IsZero() || exp.IsZero():
		h.Expires = time.Time{}
	case exp.After(h.Expires):
		h.Expires = exp
	}
	if r.MaxTTL > 0 {
		if limit := env.Now.Add(r.MaxTTL); h.Expires.IsZero() || h.Expires.After(limit) {
			h.Expires = limit
		}
	}
	h.Count++
	l.Holds.Set(r.Holder, h)
	return append(events, event(l, Acquired, r.Holder, env.Now)), nil
}

// Release gives back one hold of holder under key. A free lock, or a holder
// that holds nothing under the lock's key, is not an error and changes
// nothing. Another key is an ECONFLICT error. When the last hold goes, the
// lock becomes free.
func Release(l *Lock, key, holder string, env Env) ([]Event, error) {
	return ReleaseHold(l, key, holder, HoldRef{}, env)
}

// HoldRef names the hold a release or refresh is meant for, as the answer
// that granted it showed it: the fence token of the holding period it was
// taken in (0: any) and the time it began, its Acquired (zero: any). A
// fence names a holding period, not a hold within it: while another
// holder under the same key keeps the lock held, the period goes on, and
// a hold that ran out or was released and was taken again by the same key
// and holder meanwhile has the same fence. It began at another time: only
// Acquired tells the two apart.
type HoldRef struct {
	Fence    uint64
	Acquired time.Time
}

// ReleaseHold is Release of the hold ref names only: a lock released,
// expired or forced and taken again since (another fence, even by the same
// key and holder, such as a job tried again) is refused with ECONFLICT, as
// ForceReleaseFence refuses it, and so is a hold of the holder that began
// at another time than ref.Acquired (taken again within the period); both
// are left alone, so that a client whose hold ran out cannot give back the
// newer one in its place. A free lock, or a holder holding nothing, has
// nothing to release either way. A holder that re-entered its hold has one
// count given back, as Release gives it.
func ReleaseHold(l *Lock, key, holder string, ref HoldRef, env Env) ([]Event, error) {
	events := Expire(l, env.Now)
	if l.Key == "" {
		return events, nil
	}
	if ref.Fence != 0 && l.Fence != ref.Fence {
		return events, staleFence(l, ref.Fence, "nothing was released")
	}
	if l.Key != key {
		return events, conflict(l)
	}
	h, ok := l.Holds.Lookup(holder)
	if !ok {
		return events, nil
	}
	if !ref.Acquired.IsZero() && !h.Acquired.Equal(ref.Acquired) {
		e := conflict(l)
		e.Message = holdTakenAgain(l, key, holder, ref.Acquired, h.Acquired) + " (" + DescribeHolders(l) + "); nothing was released"
		return events, e
	}
	h.Count--
	l.Holds.Set(holder, h)
	ev := event(l, Released, holder, env.Now)
	if h.Count == 0 {
		ev.Expires = time.Time{} // the hold, and its lease, are gone
		l.Holds.Delete(holder)
	}
	freeIfEmpty(l, env.Now)
	return append(events, ev), nil
}

// holdTakenAgain says that holder's hold of l under key that began at asked is
// gone, and the hold it has now began at began.
func holdTakenAgain(l *Lock, key, holder string, asked, began time.Time) string {
	return fmt.Sprintf("lock %q: the hold of %q under key %q acquired at %s is gone: %q took the lock again at %s", l.Name, holder, key, asked.UTC().Format(time.RFC3339Nano), holder, began.UTC().Format(time.RFC3339Nano))
}

// GiveBack undoes one grant whose caller went away before it heard of it:
// Acquire gave holder, under key, the hold granted (the lock's fence token
// then was fence) in place of before (the zero Hold when it had none). The
// holder's count goes down by one, and if the hold remains, its lease goes
// back to before's, unless it was changed since (a refresh, or another
// grant to the same holder, even one that left the lease as it was). A re-entrant grant can remove a lease (a hold
// taken again without a ttl never expires) or lengthen it; giving back
// only the count would leave that change behind, and a hold its client
// meant to expire held for good. When the lock was released, expired or
// taken afresh since (another fence), or the hold the grant was counted in
// ended and the same key and holder began another (another Acquired than
// granted's: under the same fence, while another holder of the key kept
// the lock held), nothing of the grant is left to give back. It reports
// whether it gave a count back.
func GiveBack(l *Lock, key, holder string, fence uint64, before, granted Hold, env Env) ([]Event, bool) {
	events := Expire(l, env.Now)
	h, ok := l.Holds.Lookup(holder)
	if !ok || l.Key != key || l.Fence != fence || !h.Acquired.Equal(granted.Acquired) {
		return events, false
	}
	h.Count--
	if h.Count > 0 && h.Count <= before.Count && h.Expires.Equal(granted.Expires) {
		// No other grant since (releases, which never change a lease,
		// may have come): its lease goes back. After another grant to the
		// same holder (same key and holder: the server cannot tell them
		// apart) the lease is that grant's too, and putting back the old
		// one could shorten it, or remove it altogether.
		h.Expires = before.Expires
	}
	l.Holds.Set(holder, h)
	ev := event(l, Released, holder, env.Now)
	if h.Count == 0 {
		ev.Expires = time.Time{}
		l.Holds.Delete(holder)
	}
	freeIfEmpty(l, env.Now)
	return append(events, ev), true
}

// GiveBackAgain is GiveBack tried again after a give-back whose outcome is
// unknown (it may have been made): it undoes the grant only while the
// holder's hold is still exactly as the grant left it (granted's count and
// lease, the same fence, and for a hold the grant began, the time it
// began), so that a give-back that was made is not made twice. It reports
// whether it gave the grant back. (A holder with the same key and name
// that took the lock again since, re-entering a hold it had, leaving a
// hold equal to granted, cannot be told apart: it would lose that count.
// One that took it afresh began its hold at another time.)
func GiveBackAgain(l *Lock, key, holder string, fence uint64, before, granted Hold, env Env) ([]Event, bool) {
	events := Expire(l, env.Now)
	h, ok := l.Holds.Lookup(holder)
	if !ok || l.Key != key || l.Fence != fence || h.Count != granted.Count || !h.Expires.Equal(granted.Expires) ||
		before.Count == 0 && !h.Acquired.Equal(granted.Acquired) {
		return events, false
	}
	more, gave := GiveBack(l, key, holder, fence, before, granted, env)
	return append(events, more...), gave
}

// Refresh sets the lease of holder's hold to now+ttl without changing its
// count. Nothing held by holder: ENOTFOUND; another key: ECONFLICT. With a
// fence token in ref (not 0), only a hold taken under it is refreshed, and
// with ref.Acquired (not zero) only the hold that began then: a lock taken
// afresh since (a new token), or a hold the same key and holder took again
// within the period (another start), is ENOTFOUND, so that a holder whose
// hold was lost cannot renew another's that has the same key and holder.
func Refresh(l *Lock, key, holder string, ttl time.Duration, ref HoldRef, env Env) ([]Event, error) {
	if ttl <= 0 {
		return nil, Errorf(EINVALID, "refresh needs a ttl greater than zero")
	}
	events := Expire(l, env.Now)
	if l.Key != "" && l.Key != key {
		return events, conflict(l)
	}
	h, ok := l.Holds.Lookup(holder)
	if l.Key == "" || !ok {
		return events, &Error{Code: ENOTFOUND, Message: fmt.Sprintf("lock %q: %q holds nothing under key %q to refresh", l.Name, holder, key)}
	}
	fence := ref.Fence
	if fence > l.Fence {
		// Not a hold that is gone: one that never was (a token from
		// another lock, or made up).
		return events, &Error{Code: ENOTFOUND, Message: fmt.Sprintf("lock %q: fence %d is higher than any this lock has had (its latest is %d): no hold of %q under key %q was taken under it; nothing was renewed", l.Name, fence, l.Fence, holder, key)}
	}
	if fence != 0 && l.Fence != fence {
		return events, &Error{Code: ENOTFOUND, Message: fmt.Sprintf("lock %q: the hold of %q under key %q with fence %d is gone; the lock was taken afresh (fence %d)", l.Name, holder, key, fence, l.Fence)}
	}
	if !ref.Acquired.IsZero() && !h.Acquired.Equal(ref.Acquired) {
		return events, &Error{Code: ENOTFOUND, Message: holdTakenAgain(l, key, holder, ref.Acquired, h.Acquired) + "; nothing was renewed"}
	}
	h.Expires = env.Now.Add(ttl)
	l.Holds.Set(holder, h)
	return append(events, event(l, Refreshed, holder, env.Now)), nil
}

// CapLeases gives every hold that never expires, or expires later than
// now+max, a lease ending at now+max: what a server does at start when an
// operator has set a maximum lease, so that holds taken before it was set
// (or imported) cannot be held forever either.
func CapLeases(l *Lock, max time.Duration, env Env) []Event {
	events := Expire(l, env.Now)
	limit := env.Now.Add(max)
	for i := range l.Holds {
		if h := &l.Holds[i]; h.Expires.IsZero() || h.Expires.After(limit) {
			h.Expires = limit
			events = append(events, event(l, Refreshed, h.Holder, env.Now))
		}
	}
	return events
}

// ForceRelease releases every hold on l whatever its key, recording by (the
// operator) in the events, cut to MaxNameLen bytes like any name the events
// hold (so that a store can bound what releasing a lock writes). A free
// lock is not an error.
func ForceRelease(l *Lock, by string, env Env) []Event {
	by = cutName(by)
	events := Expire(l, env.Now)
	for _, h := range l.Holds {
		ev := event(l, Forced, h.Holder, env.Now)
		ev.Count, ev.Expires, ev.By = 0, time.Time{}, by
		events = append(events, ev)
	}
	l.Holds = nil
	freeIfEmpty(l, env.Now)
	return events
}

// ForceReleaseFence is ForceRelease of the holds taken under fence only (0:
// whatever holds the lock): a lock released and taken again since (another
// fence) is refused with ECONFLICT and left alone, so that an operator who
// looked at one holder does not end another's hold. A free lock has nothing
// to force either way.
func ForceReleaseFence(l *Lock, by string, fence uint64, env Env) ([]Event, error) {
	if fence != 0 {
		events := Expire(l, env.Now)
		if l.Key != "" && l.Fence != fence {
			return events, staleFence(l, fence, "nothing was forced")
		}
		return append(events, ForceRelease(l, by, env)...), nil
	}
	return ForceRelease(l, by, env), nil
}

// Expire releases every hold whose lease ran out at or before now (all of
// that holder's count), and frees the lock if none is left.
func Expire(l *Lock, now time.Time) []Event {
	var events []Event
	for _, h := range l.Holds {
		if h.Expires.IsZero() || h.Expires.After(now) {
			continue
		}
		ev := event(l, Expired, h.Holder, now)
		ev.Count = 0
		events = append(events, ev)
	}
	if len(events) > 0 {
		l.Holds = slices.DeleteFunc(l.Holds, func(h HeldBy) bool { return !h.Expires.IsZero() && !h.Expires.After(now) })
	}
	freeIfEmpty(l, now)
	return events
}

// Forget removes l from the store, with its history: a lock named per
// branch or pull request, used once, need not stay listed as free for
// ever. Allowed only for a lock that is free once its run-out leases are
// expired, that no request waits for (env.Queue), and that belongs to no
// pool (a member leaves its pool by the pool's own route, and can be
// forgotten once it is in none). A held lock, or one waited for, is refused with
// ECONFLICT and the lock's state, as a refused acquire is: both are
// passing states, and the same request made later may succeed. A pool
// member is refused with EINUSE: this request never will. A name the
// store never saw is ENOTFOUND. The events end with a Forgotten event,
// which tells the store to delete the lock (see Forgets). Fence tokens
// come from a counter of the store's that only grows, not from the lock:
// whoever takes the name next gets a higher token than any it had.
func Forget(l *Lock, env Env) ([]Event, error) {
	if !env.Found {
		return nil, Errorf(ENOTFOUND, "no lock named %q", l.Name)
	}
	events := Expire(l, env.Now)
	if !l.Free() {
		e := conflict(l)
		e.Message = fmt.Sprintf("lock %q is held by key %q (%s): only a free lock can be forgotten; it was not", l.Name, l.Key, DescribeHolders(l))
		return events, e
	}
	if n := len(env.Queue); n > 0 {
		e := conflict(l)
		e.Message = fmt.Sprintf("lock %q is free but %d request(s) wait for it: only a lock nobody waits for can be forgotten; it was not", l.Name, n)
		return events, e
	}
	if len(l.Pools) > 0 {
		return events, Errorf(EINUSE, "lock %q is a member of pool(s) %s: pool members are removed with DELETE /pool/{pool}/{member} (locker pool rm), and a lock in no pool can then be forgotten; it was not forgotten", l.Name, quoteNames(l.Pools))
	}
	ev := event(l, Forgotten, "", env.Now)
	return append(events, ev), nil
}

// quoteNames quotes each name, comma-separated.
func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// Waiter is a request queued for a lock, in arrival order.
type Waiter struct {
	Key    string
	Holder string
}

// MustQueue reports whether r has to wait behind the waiters that arrived
// before it (ahead, oldest first), even if the lock itself would allow it.
// Fair queueing: a new holder never jumps ahead of an earlier waiter with a
// different key, so a stream of shared-key requests cannot starve an
// exclusive one. A holder that already holds the lock may always take it
// again: it must release every hold before anyone else can have the lock, so
// refusing it would help no one.
func MustQueue(l *Lock, r Request, ahead []Waiter) bool {
	if _, held := l.Holds.Lookup(r.Holder); held && l.Key == r.Key {
		return false
	}
	for _, w := range ahead {
		if w.Key != r.Key {
			return true
		}
	}
	return false
}

func freeIfEmpty(l *Lock, now time.Time) {
	if len(l.Holds) == 0 {
		if l.Key != "" {
			l.FreeSince = now
		}
		l.Key = ""
		l.Since = time.Time{}
		l.Holds = nil
	}
}

func event(l *Lock, t EventType, holder string, now time.Time) Event {
	h := l.Holds.Get(holder)
	return Event{Type: t, Lock: l.Name, Key: l.Key, Holder: holder, Count: h.Count, Fence: l.Fence, Time: now, Expires: h.Expires, Pools: l.Pools}
}

// conflict describes who holds l, for a refused request.
func conflict(l *Lock) *Error {
	c := l.Clone()
	return &Error{Code: ECONFLICT, Lock: &c, Message: fmt.Sprintf("lock %q is held by key %q (%s)", l.Name, l.Key, DescribeHolders(l))}
}

// staleFence refuses a change asked for under fence, which is not the
// fence of held lock l's holding period: l was taken again since, or
// fence is higher than any l has had. unchanged ends the message.
func staleFence(l *Lock, fence uint64, unchanged string) *Error {
	e := conflict(l)
	e.Message = fmt.Sprintf("lock %q was taken again since fence %d: it is held by key %q under fence %d (%s); %s", l.Name, fence, l.Key, l.Fence, DescribeHolders(l), unchanged)
	if fence > l.Fence {
		e.Message = fmt.Sprintf("lock %q: fence %d is higher than any this lock has had: it is held by key %q under fence %d (%s); %s", l.Name, fence, l.Key, l.Fence, DescribeHolders(l), unchanged)
	}
	return e
}

// DescribeHolders lists holders with their counts, e.g. "a x2, b x1".
func DescribeHolders(l *Lock) string {
	parts := make([]string, len(l.Holds))
	for i, h := range l.Holds {
		parts[i] = fmt.Sprintf("%s x%d", h.Holder, h.Count)
	}
	sort.Strings(parts)
	return "holders: " + strings.Join(parts, ", ")
}
