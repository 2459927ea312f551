package lock_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// The model below is the contract of README.md and docs/api.md written out
// again, as plainly as possible and independently of rules.go: a map of
// holds, a key, a fence. Random sequences of operations run against both,
// and after every step the real lock must look exactly like the model and
// keep the invariants every lock keeps (see checkInvariants). The same
// runner is a fuzz target (FuzzRules), whose input picks the operations.

// modelHold is one holder's hold in the model.
type modelHold struct {
	count    int
	acquired time.Time
	expires  time.Time // zero: no lease
}

// model is one lock as the docs describe it.
type model struct {
	key   string
	holds map[string]modelHold
	fence uint64
	since time.Time
	// issued is every fence token the lock has had, in order.
	issued []uint64
}

func (m *model) free() bool { return m.key == "" }

// expire drops the holds whose lease ran out at or before now, all of
// their count, and frees the lock when none is left.
func (m *model) expire(now time.Time) {
	for h, x := range m.holds {
		if !x.expires.IsZero() && !x.expires.After(now) {
			delete(m.holds, h)
		}
	}
	m.freeIfEmpty()
}

func (m *model) freeIfEmpty() {
	if len(m.holds) == 0 {
		m.key, m.since = "", time.Time{}
	}
}

// acquire is PUT /lock: the same key (or a free lock) gets one more count;
// a lease never shortens; MaxTTL caps whatever the hold is left with.
func (m *model) acquire(r lock.Request, now time.Time, next uint64) string {
	m.expire(now)
	if !m.free() && m.key != r.Key {
		return lock.ECONFLICT
	}
	if _, ok := m.holds[r.Holder]; !ok && len(m.holds) >= lock.MaxHolders {
		return lock.ETOOLARGE
	}
	if m.free() {
		m.key, m.since, m.fence = r.Key, now, next
		m.issued = append(m.issued, next)
	}
	var exp time.Time
	if r.TTL > 0 {
		exp = now.Add(r.TTL)
	}
	x, ok := m.holds[r.Holder]
	switch {
	case !ok:
		x = modelHold{acquired: now, expires: exp}
	case x.expires.IsZero() || exp.IsZero():
		x.expires = time.Time{} // "never" is the latest expiry there is
	case exp.After(x.expires):
		x.expires = exp
	}
	if r.MaxTTL > 0 {
		limit := now.Add(r.MaxTTL)
		if x.expires.IsZero() || x.expires.After(limit) {
			x.expires = limit
		}
	}
	x.count++
	m.holds[r.Holder] = x
	return ""
}

// release is DELETE /lock, with a fence or without (0), and with the time
// the hold began or without (zero).
func (m *model) release(key, holder string, fence uint64, acquired time.Time, now time.Time) string {
	m.expire(now)
	switch {
	case m.free():
		return ""
	case fence != 0 && fence != m.fence:
		return lock.ECONFLICT
	case key != m.key:
		return lock.ECONFLICT
	}
	x, ok := m.holds[holder]
	if !ok {
		return ""
	}
	if !acquired.IsZero() && !acquired.Equal(x.acquired) {
		return lock.ECONFLICT
	}
	if x.count--; x.count == 0 {
		delete(m.holds, holder)
	} else {
		m.holds[holder] = x
	}
	m.freeIfEmpty()
	return ""
}

// refresh is POST /lock/{name}/refresh: exactly now+ttl, shorter or not.
func (m *model) refresh(key, holder string, ttl time.Duration, fence uint64, acquired time.Time, now time.Time) string {
	if ttl <= 0 {
		return lock.EINVALID
	}
	m.expire(now)
	if !m.free() && m.key != key {
		return lock.ECONFLICT
	}
	x, ok := m.holds[holder]
	if m.free() || !ok || fence != 0 && fence != m.fence || !acquired.IsZero() && !acquired.Equal(x.acquired) {
		return lock.ENOTFOUND
	}
	x.expires = now.Add(ttl)
	m.holds[holder] = x
	return ""
}

// force is a force release, with a fence or without (0).
func (m *model) force(fence uint64, now time.Time) string {
	m.expire(now)
	if fence != 0 && !m.free() && fence != m.fence {
		return lock.ECONFLICT
	}
	clear(m.holds)
	m.freeIfEmpty()
	return ""
}

// forget is POST /lock/{name}/forget: a lock the store holds (found), free
// once its run-out leases are gone, is removed, and the store has it no
// more; the tokens issued stay issued, and the next is above them all.
func (m *model) forget(found bool, now time.Time) string {
	if !found {
		return lock.ENOTFOUND
	}
	m.expire(now)
	if !m.free() {
		return lock.ECONFLICT
	}
	return "" // the runner starts the model's lock afresh, as the store does
}

// Names that differ only in ways a server that normalised, trimmed or
// folded case would lose: they must stay different keys and holders.
var (
	modelKeys    = []string{"deploy", "Deploy", "caf\u00e9", "cafe\u0301"}
	modelHolders = []string{"h1", "h1 ", "\u00e9", "e\u0301", strings.Repeat("x", lock.MaxNameLen)}
	modelTTLs    = []time.Duration{0, 0, 1, time.Second, 3 * time.Second, time.Hour, math.MaxInt64}
	modelSteps   = []time.Duration{0, 1, time.Millisecond, time.Second, 2 * time.Second}
)

// source picks the operations: from a seeded generator (the property
// test) or from bytes (the fuzz target, which stops at their end).
type source interface {
	pick(n int) int
	done() bool
}

type randSource struct {
	r    *rand.Rand
	left int
}

func (s *randSource) pick(n int) int { s.left--; return s.r.IntN(n) }
func (s *randSource) done() bool     { return s.left <= 0 }

type byteSource struct{ b []byte }

func (s *byteSource) pick(n int) int {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return int(c) % n
}
func (s *byteSource) done() bool { return len(s.b) == 0 }

// runModel runs operations from src against a real lock and the model,
// failing t at the first difference, with the steps that led to it.
func runModel(t testing.TB, src source) {
	t.Helper()
	now := t0
	last := uint64(fenceStart)
	nextFence := func() uint64 { last += uint64(1 + last%3); return last } // growing, not consecutive
	l := lock.Lock{Name: "db"}
	m := &model{holds: map[string]modelHold{}}
	found := false // the store holds the lock: a change with events made it
	var steps []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("after the steps\n  %s\n"+format, append([]any{strings.Join(steps, "\n  ")}, args...)...)
	}
	// fenceArg picks a fence to send: none, the lock's, an older one, one
	// higher than any it has had.
	fenceArg := func() (uint64, string) {
		switch src.pick(4) {
		case 1:
			return l.Fence, "current"
		case 2:
			if l.Fence > 0 {
				return l.Fence - 1, "stale"
			}
			return 0, "none"
		case 3:
			return last + 1, "future"
		}
		return 0, "none"
	}
	// acquiredArg picks the time a hold began to send: none, the
	// holder's hold's, one a nanosecond earlier (a hold taken before it).
	acquiredArg := func(holder string) (time.Time, string) {
		h, held := l.Holds.Lookup(holder)
		switch src.pick(3) {
		case 1:
			if held {
				return h.Acquired, "its own"
			}
			return now, "now"
		case 2:
			if held {
				return h.Acquired.Add(-1), "earlier"
			}
			return t0, "the start"
		}
		return time.Time{}, "none"
	}
	for !src.done() {
		key := modelKeys[src.pick(len(modelKeys))]
		holder := modelHolders[src.pick(len(modelHolders))]
		before := l.Clone()
		beforeModel := m.clone()
		var got error
		var want string
		var events []lock.Event
		expired := true // the step expired the lock's stale leases first
		switch op := src.pick(9); op {
		case 0, 1: // acquire (the most common request)
			r := lock.Request{Key: key, Holder: holder, TTL: modelTTLs[src.pick(len(modelTTLs))]}
			if src.pick(3) == 0 {
				r.MaxTTL = 2 * time.Second
			}
			steps = append(steps, fmt.Sprintf("%s: acquire key %q holder %q ttl %v maxTTL %v", now.Sub(t0), key, holder, r.TTL, r.MaxTTL))
			want = m.acquire(r, now, last+1+last%3) // the token nextFence will give
			env := lock.Env{Now: now, NextFence: nextFence}
			events, got = lock.Acquire(&l, r, env)
		case 2:
			fence, which := fenceArg()
			acquired, began := acquiredArg(holder)
			steps = append(steps, fmt.Sprintf("%s: release key %q holder %q fence %d (%s) acquired %s (%s)", now.Sub(t0), key, holder, fence, which, acquired.Format(time.RFC3339Nano), began))
			want = m.release(key, holder, fence, acquired, now)
			events, got = lock.ReleaseHold(&l, key, holder, lock.HoldRef{Fence: fence, Acquired: acquired}, lock.Env{Now: now, NextFence: nextFence})
		case 3:
			ttl := []time.Duration{-time.Second, 0, 1, time.Second, time.Hour}[src.pick(5)]
			fence, which := fenceArg()
			acquired, began := acquiredArg(holder)
			steps = append(steps, fmt.Sprintf("%s: refresh key %q holder %q ttl %v fence %d (%s) acquired %s (%s)", now.Sub(t0), key, holder, ttl, fence, which, acquired.Format(time.RFC3339Nano), began))
			want = m.refresh(key, holder, ttl, fence, acquired, now)
			expired = want != lock.EINVALID
			events, got = lock.Refresh(&l, key, holder, ttl, lock.HoldRef{Fence: fence, Acquired: acquired}, lock.Env{Now: now, NextFence: nextFence})
		case 4:
			fence, which := fenceArg()
			steps = append(steps, fmt.Sprintf("%s: force fence %d (%s)", now.Sub(t0), fence, which))
			want = m.force(fence, now)
			events, got = lock.ForceReleaseFence(&l, "ops", fence, lock.Env{Now: now, NextFence: nextFence})
		case 5:
			steps = append(steps, fmt.Sprintf("%s: expire", now.Sub(t0)))
			m.expire(now)
			events = lock.Expire(&l, now)
		case 6: // a client that went away as it was granted: given back
			r := lock.Request{Key: key, Holder: holder, TTL: modelTTLs[src.pick(len(modelTTLs))]}
			steps = append(steps, fmt.Sprintf("%s: acquire key %q holder %q ttl %v, given back at once", now.Sub(t0), key, holder, r.TTL))
			m.expire(now)
			had := l.Holds.Get(holder)
			if lock.Expire(&l, now); l.Holds.Get(holder) != had {
				had = lock.Hold{} // its lease ran out: it held nothing
			}
			before = l.Clone()
			want = m.clone().acquire(r, now, 0)
			env := lock.Env{Now: now, NextFence: nextFence}
			_, got = lock.Acquire(&l, r, env)
			if got == nil {
				wasFree := m.free()
				if _, gave := lock.GiveBack(&l, key, holder, l.Fence, had, l.Holds.Get(holder), env); !gave {
					fail("GiveBack right after the grant gave nothing back: %+v", l)
				}
				if wasFree {
					// The grant took a token: the free lock shows it.
					m.fence = l.Fence
					m.issued = append(m.issued, l.Fence)
				}
			}
		case 8:
			steps = append(steps, fmt.Sprintf("%s: forget (the store holds it: %v)", now.Sub(t0), found))
			want = m.forget(found, now)
			events, got = lock.Forget(&l, lock.Env{Now: now, NextFence: nextFence, Found: found})
			if (got == nil) != lock.Forgets(events) {
				fail("forget answered %v with events %+v", got, events)
			}
		default: // time passes: a little, or to the very instant a lease ends, or just before
			var d time.Duration
			switch exp := l.NextExpiry(); {
			case !exp.IsZero() && exp.After(now) && src.pick(2) == 0:
				d = exp.Sub(now) - time.Duration(src.pick(2))
			default:
				d = modelSteps[src.pick(len(modelSteps))]
			}
			now = now.Add(d)
			steps = append(steps, fmt.Sprintf("time passes: %v", d))
			continue
		}
		if c := lock.ErrorCode(got); c != want {
			fail("got error %v (code %q), want code %q\nlock before %+v\nafter %+v", got, c, want, before, l)
		}
		if got != nil && lock.ErrorCode(got) != lock.ECONFLICT && lock.ErrorCode(got) != lock.ENOTFOUND && lock.ErrorCode(got) != lock.EINVALID {
			fail("unexpected error %v", got)
		}
		checkInvariants(t, fail, &l, before, m, beforeModel, events, now, expired)
		found = found || len(events) > 0
		if lock.Forgets(events) {
			// The store deleted it: the next change starts from a new
			// lock, as the store gives for a name it does not hold.
			l, found = lock.Lock{Name: "db"}, false
			m.fence = 0 // its tokens stay issued (m.issued): the next must be above them
		}
	}
}

func (m *model) clone() *model {
	c := *m
	c.holds = maps.Clone(m.holds)
	c.issued = slices.Clone(m.issued)
	return &c
}

// checkInvariants compares the lock with the model and checks what holds of
// every lock after every change.
func checkInvariants(t testing.TB, fail func(string, ...any), l *lock.Lock, before lock.Lock, m, beforeModel *model, events []lock.Event, now time.Time, expired bool) {
	t.Helper()
	// The lock is what the model says.
	if l.Key != m.key || l.Fence != m.fence || !l.Since.Equal(m.since) {
		fail("lock key %q fence %d since %v; the model has key %q fence %d since %v", l.Key, l.Fence, l.Since, m.key, m.fence, m.since)
	}
	if len(l.Holds) != len(m.holds) {
		fail("lock holds %v; the model has %v", l.Holds, m.holds)
	}
	for h, x := range l.Holds.All() {
		y, ok := m.holds[h]
		if !ok || x.Count != y.count || !x.Expires.Equal(y.expires) || !x.Acquired.Equal(y.acquired) {
			fail("hold of %q is %+v; the model has %+v (held %v)", h, x, y, ok)
		}
	}
	// Holds are sorted, one per holder, never a zero count.
	for i, x := range l.Holds {
		if x.Count < 1 {
			fail("hold of %q has count %d", x.Holder, x.Count)
		}
		if i > 0 && l.Holds[i-1].Holder >= x.Holder {
			fail("holds not sorted: %q before %q", l.Holds[i-1].Holder, x.Holder)
		}
		if expired && !x.Expires.IsZero() && !x.Expires.After(now) {
			fail("hold of %q expired at %v and is still there at %v", x.Holder, x.Expires, now)
		}
	}
	// Free means no key, no holds, no since.
	if (l.Key == "") != (len(l.Holds) == 0) || (l.Key == "") != l.Since.IsZero() {
		fail("lock key %q with %d holds, since %v", l.Key, len(l.Holds), l.Since)
	}
	// A fence never goes back, never repeats across holding periods, and
	// never changes within one.
	if lock.Forgets(events) {
		// The lock is gone: what is left of it is the free lock the
		// store deletes, with the fence it had.
		if !l.Free() || len(events) == 0 || events[len(events)-1].Fence != before.Fence {
			fail("forgot lock %+v (before %+v) with events %+v", l, before, events)
		}
		return
	}
	if l.Fence < before.Fence {
		fail("fence went back from %d to %d", before.Fence, l.Fence)
	}
	if !before.Free() && !l.Free() && before.Since.Equal(l.Since) && l.Fence != before.Fence {
		fail("fence changed from %d to %d within one holding period", before.Fence, l.Fence)
	}
	for i := 1; i < len(m.issued); i++ {
		if m.issued[i] <= m.issued[i-1] {
			fail("fences issued %v do not grow", m.issued)
		}
	}
	// Events say what changed, in the lock's terms at the time.
	counts := before.Counts()
	for _, ev := range events {
		if ev.Lock != l.Name || ev.Fence != l.Fence && ev.Fence != before.Fence {
			fail("event %+v names lock %q fence %d (before %d)", ev, l.Name, l.Fence, before.Fence)
		}
		switch ev.Type {
		case lock.Acquired:
			if ev.Count != counts[ev.Holder]+1 {
				fail("acquired event %+v after count %d", ev, counts[ev.Holder])
			}
		case lock.Released:
			if ev.Count != counts[ev.Holder]-1 {
				fail("released event %+v after count %d", ev, counts[ev.Holder])
			}
		case lock.Expired, lock.Forced:
			if ev.Count != 0 || counts[ev.Holder] == 0 {
				fail("%s event %+v of a hold of count %d", ev.Type, ev, counts[ev.Holder])
			}
		case lock.Refreshed:
			if ev.Count != counts[ev.Holder] {
				fail("refreshed event %+v changed the count %d", ev, counts[ev.Holder])
			}
		}
		counts[ev.Holder] = ev.Count
	}
	for h, n := range counts {
		if n != l.Holds.Get(h).Count {
			fail("events leave %q with count %d; the lock has %d", h, n, l.Holds.Get(h).Count)
		}
	}
}

// TestRulesAgainstModel runs random operations on one lock against the
// model: every answer, every hold, every fence.
func TestRulesAgainstModel(t *testing.T) {
	runs := 2000
	if testing.Short() {
		runs = 200
	}
	for seed := range runs {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runModel(t, &randSource{r: rand.New(rand.NewPCG(uint64(seed), 7)), left: 400})
		})
	}
}

// FuzzRules is TestRulesAgainstModel with the operations picked by the
// fuzzer's bytes.
func FuzzRules(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 2, 2, 0, 1, 1, 0, 7, 0, 0, 0, 1, 2, 1, 0, 3})
	f.Add([]byte("acquire, wait for the lease to run out exactly, take it again"))
	f.Fuzz(func(t *testing.T, b []byte) {
		runModel(t, &byteSource{b: b})
	})
}
