package lockservice_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// queueModel is one lock's blocking waits as docs/api.md describes them:
// the lock's key and holders, and the waiters in arrival order. A waiter
// takes the lock when no waiter with another key is ahead of it and the
// lock is free or held under its key; several with one key at the front
// go together; a holder re-entering never waits.
type queueModel struct {
	key     string
	holders map[string]int
	queue   []modelWaiter
}

type modelWaiter struct{ key, holder string }

func (m *queueModel) free() bool { return m.key == "" }

// admit grants the waiters at the front that may have the lock now, and
// returns their holders.
func (m *queueModel) admit() []string {
	var granted []string
	for len(m.queue) > 0 && (m.free() || m.queue[0].key == m.key) {
		w := m.queue[0]
		m.queue = m.queue[1:]
		m.key = w.key
		m.holders[w.holder]++
		granted = append(granted, w.holder)
	}
	return granted
}

// now is a request without wait: granted at once or refused (423).
func (m *queueModel) now(key, holder string) bool {
	if m.holders[holder] > 0 && m.key == key {
		m.holders[holder]++
		return true
	}
	if !m.free() && m.key != key {
		return false
	}
	for _, w := range m.queue {
		if w.key != key {
			return false
		}
	}
	m.key = key
	m.holders[holder]++
	return true
}

func (m *queueModel) release(holder string) {
	if m.holders[holder]--; m.holders[holder] == 0 {
		delete(m.holders, holder)
	}
	if len(m.holders) == 0 {
		m.key = ""
	}
}

// TestWaitsAgainstModel runs random sequences of waiting requests,
// immediate ones, re-entries, releases, force releases and forgets on one
// lock, and
// checks after every step that exactly the waiters the model grants have
// the lock, in its order. The poll interval is an hour: a waiter that could
// have the lock and is not woken for it stays asleep, and the test fails.
func TestWaitsAgainstModel(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	for seed := range rounds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runWaitModel(t, rand.New(rand.NewPCG(uint64(seed), 11)), 40)
		})
	}
}

func runWaitModel(t *testing.T, rnd *rand.Rand, steps int) {
	e := newEnv(t, lockservice.Config{PollInterval: time.Hour})
	const name = "q"
	keys := []string{"A", "B", "C"}
	m := &queueModel{holders: map[string]int{}}
	waiting := map[string]*waiter{} // holder: its waiting request
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("after the steps\n  %s\n"+format, append([]any{strings.Join(log, "\n  ")}, args...)...)
	}
	// settle waits for the waiters the model granted, and checks that
	// none the model did not grant has returned.
	settle := func(granted []string) {
		t.Helper()
		for _, h := range granted {
			w := waiting[h]
			delete(waiting, h)
			select {
			case r := <-w.done:
				if r.err != nil {
					fail("waiter %q got %v; the model grants it the lock", h, r.err)
				}
			case <-time.After(patience):
				fail("waiter %q was not granted the lock within %s; the model grants it (it may have been left asleep)", h, patience)
			}
		}
		for h, w := range waiting {
			select {
			case r := <-w.done:
				fail("waiter %q returned (lock %+v, err %v); the model keeps it waiting", h, r.lock, r.err)
			default:
			}
		}
		l, err := e.svc.Get(context.Background(), name)
		if err != nil && !(lock.ErrorCode(err) == lock.ENOTFOUND && m.free()) {
			fail("getting %q: %v", name, err)
		}
		if l.Key != m.key || !maps.Equal(l.Counts(), m.holders) {
			fail("lock %q holds %v; the model has key %q holds %v", l.Key, l.Counts(), m.key, m.holders)
		}
	}
	n := 0
	seen := false // the store holds the lock: taken since the start, or since it was forgotten
	for range steps {
		seen = seen || !m.free() // every grant leaves it held
		holders := slices.Sorted(mapKeys(m.holders))
		switch op := rnd.IntN(12); {
		case op < 4: // a new waiting request, queued behind the others
			n++
			key, holder := keys[rnd.IntN(len(keys))], fmt.Sprintf("w%d", n)
			log = append(log, fmt.Sprintf("%s waits with key %s", holder, key))
			m.queue = append(m.queue, modelWaiter{key, holder})
			if granted := m.admit(); len(granted) > 0 {
				// Granted at once: it never queued.
				l, err := e.svc.Acquire(context.Background(), name, lock.Request{Key: key, Holder: holder}, longWait)
				if err != nil || l.Key != key {
					fail("%s with key %s: %v, lock %+v; the model grants it at once", holder, key, err, l)
				}
				settle(nil)
				continue
			}
			waiting[holder] = e.startWaiter(name, key, holder, 0, longWait)
			settle(nil)
		case op < 5 || op == 10: // a request without wait, by a new holder or a holder re-entering
			key, holder := keys[rnd.IntN(len(keys))], "now"
			if len(holders) > 0 && rnd.IntN(2) == 0 {
				key, holder = m.key, holders[rnd.IntN(len(holders))]
			}
			log = append(log, fmt.Sprintf("%s asks with key %s without wait", holder, key))
			want := m.now(key, holder)
			_, err := e.svc.Acquire(context.Background(), name, lock.Request{Key: key, Holder: holder}, 0)
			if (err == nil) != want || err != nil && lock.ErrorCode(err) != lock.ECONFLICT {
				fail("%s with key %s without wait: %v; the model grants it: %v", holder, key, err, want)
			}
			settle(nil)
		case op < 7: // a waiter gives up (its client went away): those behind it may go now
			if len(waiting) == 0 {
				continue
			}
			i := rnd.IntN(len(m.queue))
			h := m.queue[i].holder
			log = append(log, fmt.Sprintf("%s gives up", h))
			m.queue = slices.Delete(m.queue, i, i+1)
			w := waiting[h]
			delete(waiting, h)
			w.cancel()
			if r := w.wait(t); !errors.Is(r.err, context.Canceled) {
				fail("%s gave up and got lock %+v, err %v", h, r.lock, r.err)
			}
			settle(m.admit())
		case op < 9: // a holder releases one count
			if len(holders) == 0 {
				continue
			}
			h := holders[rnd.IntN(len(holders))]
			log = append(log, fmt.Sprintf("%s releases", h))
			key := m.key
			m.release(h)
			e.release(name, key, h)
			settle(m.admit())
		case op == 11: // an operator forgets the lock: only a free one that nobody waits for
			log = append(log, "forget")
			want := ""
			switch {
			case !seen:
				want = lock.ENOTFOUND
			case !m.free() || len(m.queue) > 0:
				want = lock.ECONFLICT
			}
			if _, err := e.svc.Forget(context.Background(), name); lock.ErrorCode(err) != want {
				fail("forget: %v; the model says %q", err, want)
			}
			if want == "" {
				seen = false
			}
			settle(nil)
		default: // an operator forces the lock free
			log = append(log, "force")
			clear(m.holders)
			m.key = ""
			if _, _, err := e.svc.ForceRelease(context.Background(), name, "ops"); err != nil {
				fail("force: %v", err)
			}
			settle(m.admit())
		}
	}
	// Everyone still waiting gets the lock in the end, in the model's order.
	for len(waiting) > 0 {
		for _, h := range slices.Sorted(mapKeys(m.holders)) {
			for m.holders[h] > 0 {
				key := m.key
				m.release(h)
				e.release(name, key, h)
			}
		}
		log = append(log, "everyone releases")
		settle(m.admit())
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestConcurrentClientsKeepTheRules runs clients that take locks and pool
// members at random, by name and through pools, with and without leases,
// waiting, giving up, re-entering and sharing keys, against a service over
// the real file store whose waiters are never polled (only woken). It
// checks what the answers say against each other:
//   - mutual exclusion: no lock is granted under a key while a hold of
//     another key on it, released by no one and not run out, stands;
//   - fencing: one token per holding period, and the later a period began
//     the higher its token;
//   - liveness: every hold is released or runs out soon, so a long wait
//     that runs out means a waiter was left asleep.
func TestConcurrentClientsKeepTheRules(t *testing.T) {
	e := newEnv(t, lockservice.Config{PollInterval: time.Hour})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for _, m := range []struct{ pool, name string }{{"p", "m1"}, {"p", "m2"}, {"p", "m3"}, {"q", "m3"}, {"q", "m4"}} {
		if _, err := e.svc.AddMember(ctx, m.pool, m.name, nil); err != nil {
			t.Fatal(err)
		}
	}
	locks := []string{"a", "b", "m1", "m3"}
	keys := []string{"K1", "K2", "K3"}
	clients, rounds := 6, 25
	if testing.Short() {
		rounds = 8
	}

	type holding struct {
		key, holder string
		fence       uint64
		expires     time.Time // zero: until released
	}
	type period struct {
		lock, key string
		fence     uint64
		since     time.Time
	}
	var mu sync.Mutex
	holds := map[string]map[string]holding{} // lock: holder: what it holds
	var periods []period
	var problems []string
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
		stop() // the first problem ends the run: no waiting out the others' waits
	}
	// granted records a grant, checking it against the holds that stand.
	granted := func(l lock.Lock, key, holder string) {
		mu.Lock()
		defer mu.Unlock()
		h := l.Holds.Get(holder)
		if h.Count == 0 || l.Key != key {
			problems = append(problems, fmt.Sprintf("%s was granted %q under %q but the answer says %+v", holder, l.Name, key, l))
			stop()
			return
		}
		for other, x := range holds[l.Name] {
			if x.key != key && (x.expires.IsZero() || x.expires.After(h.Acquired)) {
				stop()
				problems = append(problems, fmt.Sprintf("%q granted to %s under %q (fence %d) at %v while %s held it under %q (fence %d, lease to %v)", l.Name, holder, key, l.Fence, h.Acquired, other, x.key, x.fence, x.expires))
			}
		}
		if holds[l.Name] == nil {
			holds[l.Name] = map[string]holding{}
		}
		holds[l.Name][holder] = holding{key, holder, l.Fence, h.Expires}
		periods = append(periods, period{l.Name, key, l.Fence, l.Since})
	}
	// released forgets a hold before its release is sent.
	released := func(name, holder string) {
		mu.Lock()
		delete(holds[name], holder)
		mu.Unlock()
	}

	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), 3))
			for i := range rounds {
				holder := fmt.Sprintf("c%d-%d", c, i)
				key := keys[rnd.IntN(len(keys))]
				r := lock.Request{Key: key, Holder: holder}
				if rnd.IntN(3) == 0 {
					r.TTL = time.Duration(20+rnd.IntN(60)) * time.Millisecond
				}
				wait := longWait
				rctx, cancel := context.WithCancel(ctx)
				if rnd.IntN(8) == 0 {
					// A client that gives up soon: it may or may not get
					// the lock, and never keeps it if not answered.
					rctx, cancel = context.WithTimeout(ctx, time.Duration(rnd.IntN(20))*time.Millisecond)
				}
				var l lock.Lock
				var err error
				if rnd.IntN(3) == 0 {
					l, err = e.svc.AcquireFromPool(rctx, []string{"p", "q"}[rnd.IntN(2)], r, wait)
				} else {
					l, err = e.svc.Acquire(rctx, locks[rnd.IntN(len(locks))], r, wait)
				}
				cancel()
				switch {
				case ctx.Err() != nil:
					return // a problem ended the run
				case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
					continue
				case err != nil:
					problem("%s under %q: %v (a waiter left asleep, if the wait ran out)", holder, key, err)
					continue
				}
				granted(l, key, holder)
				count := 1
				if r.TTL == 0 && rnd.IntN(4) == 0 { // re-enter: never waits (with a lease, it may have run out by then)
					l2, err := e.svc.Acquire(ctx, l.Name, r, 0)
					if err != nil || l2.Fence != l.Fence || l2.Holds.Get(holder).Count != 2 {
						problem("%s re-entering %q: %v, %+v", holder, l.Name, err, l2)
					} else {
						count = 2
						mu.Lock()
						x := holds[l.Name][holder]
						x.expires = l2.Holds.Get(holder).Expires // a lease never shortens: it may be later now
						holds[l.Name][holder] = x
						mu.Unlock()
					}
				}
				time.Sleep(time.Duration(rnd.IntN(5)) * time.Millisecond)
				if r.TTL > 0 && rnd.IntN(2) == 0 {
					continue // left to run out; the record's lease says when
				}
				released(l.Name, holder)
				for range count {
					got, _, err := e.svc.ReleaseHold(ctx, l.Name, key, holder, lock.HoldRef{Fence: l.Fence})
					if err != nil && r.TTL == 0 {
						problem("%s releasing %q (fence %d): %v, %+v", holder, l.Name, l.Fence, err, got)
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	// One token per holding period, growing with the time it began.
	sort.Slice(periods, func(i, j int) bool { return periods[i].since.Before(periods[j].since) })
	byFence := map[uint64]period{}
	last := map[string]period{}
	for _, p := range periods {
		if q, ok := byFence[p.fence]; ok && (q.lock != p.lock || q.key != p.key || !q.since.Equal(p.since)) {
			t.Errorf("fence %d names two holding periods: %+v and %+v", p.fence, q, p)
		}
		byFence[p.fence] = p
		if q, ok := last[p.lock]; ok && q.since.Before(p.since) && q.fence >= p.fence {
			t.Errorf("%q: the period from %v has fence %d, the earlier one from %v fence %d", p.lock, p.since, p.fence, q.since, q.fence)
		}
		last[p.lock] = p
	}
	if len(periods) < clients*rounds/2 {
		t.Errorf("only %d grants of %d requests", len(periods), clients*rounds)
	}
}
