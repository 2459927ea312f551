package lockservice_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
	"github.com/cloudfoundry-community/locker/storetest"
)

// Every way a waiter of the file store's queue can come to be able to
// have its lock wakes it: with the poll an hour away, nothing else
// reaches it (a change wakes only the waiters that may have the lock now,
// and the others skip their poll and lease-expiry wake-ups). Each test
// makes one of those ways happen and checks that exactly the waiters the
// rules let go get the lock, and the others go on waiting.

// wakeEnv is a Service over a real file store whose waiters never poll.
func wakeEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, lockservice.Config{PollInterval: time.Hour, MaxWait: time.Hour})
}

// gets fails the test unless w got its lock.
func (w *waiter) gets(t testing.TB) lock.Lock {
	t.Helper()
	r := w.wait(t)
	if r.err != nil {
		t.Fatalf("waiter %q: %v, want the lock", w.who, r.err)
	}
	return r.lock
}

// waits fails the test if w returns within a moment.
func (w *waiter) waits(t testing.TB) {
	t.Helper()
	select {
	case r := <-w.done:
		t.Fatalf("waiter %q returned (lock %+v, err %v), want it still waiting", w.who, r.lock, r.err)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestWakeHeadTimeoutLetsKeyBehindJoin: the lock is held under key b and
// the first waiter has key a, so the waiters with key b behind it wait.
// When its wait runs out (its place kept), nothing changes the lock, yet
// those right behind it with key b may join the hold: its leaving wakes
// them. One with key c behind them waits on.
func TestWakeHeadTimeoutLetsKeyBehindJoin(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"wait runs out", "client goes away"} {
		t.Run(how, func(t *testing.T) {
			e := wakeEnv(t)
			e.acquire("m", "b", "z", 0)
			wait := time.Hour
			if how == "wait runs out" {
				wait = 300 * time.Millisecond
			}
			a := e.startWaiter("m", "a", "a", 0, wait)
			b1 := e.startWaiter("m", "b", "b1", 0, longWait)
			b2 := e.startWaiter("m", "b", "b2", 0, longWait)
			c := e.startWaiter("m", "c", "c", 0, longWait)
			b1.waits(t)
			if how == "client goes away" {
				a.cancel()
			}
			if r := a.wait(t); r.err == nil {
				t.Fatalf("a got the lock: %+v", r.lock)
			}
			b1.gets(t)
			b2.gets(t)
			c.waits(t)
			if l := e.get("m"); len(l.Holds) != 3 {
				t.Fatalf("m: %+v, want z, b1 and b2 holding it", l.Holds)
			}
		})
	}
}

// TestWakeKeptPlaceComesBack: a waiter whose wait ran out asks again and
// has its place back, ahead of one that queued after it; the release
// goes to it, and its release to the next.
func TestWakeKeptPlaceComesBack(t *testing.T) {
	e := wakeEnv(t)
	e.acquire("m", "z", "z", 0)
	a := e.startWaiter("m", "a", "a", 0, 200*time.Millisecond)
	b := e.startWaiter("m", "b", "b", 0, longWait)
	if r := a.wait(t); lock.ErrorCode(r.err) != lock.ECONFLICT {
		t.Fatalf("a's wait: %v, want it to run out", r.err)
	}
	b.waits(t) // the lock is still held
	a = e.startWaiter("m", "a", "a", 0, longWait)
	e.release("m", "z", "z")
	a.gets(t)
	b.waits(t)
	e.release("m", "a", "a")
	b.gets(t)
}

// TestWakeLeaseExpiryHandsOnInOrder: the holder's lease runs out while
// waiters wait; the first gets the lock, and each release then hands it
// to the next, a waiter with the first one's key behind another key
// after that one.
func TestWakeLeaseExpiryHandsOnInOrder(t *testing.T) {
	t.Parallel()
	e := wakeEnv(t)
	e.acquire("m", "z", "z", 300*time.Millisecond)
	a := e.startWaiter("m", "a", "a", 0, longWait)
	b := e.startWaiter("m", "b", "b", 0, longWait)
	a2 := e.startWaiter("m", "a", "a2", 0, longWait)
	a.gets(t)
	b.waits(t)
	a2.waits(t)
	e.release("m", "a", "a")
	b.gets(t)
	a2.waits(t)
	e.release("m", "b", "b")
	a2.gets(t)
}

// TestWakeWaiterLeaseExpiry: the lock a waiter took with a lease runs out
// while the next waits; the next gets it.
func TestWakeWaiterLeaseExpiry(t *testing.T) {
	e := wakeEnv(t)
	e.acquire("m", "z", "z", 0)
	a := e.startWaiter("m", "a", "a", 300*time.Millisecond, longWait)
	b := e.startWaiter("m", "b", "b", 0, longWait)
	e.release("m", "z", "z")
	a.gets(t)
	b.gets(t) // a's lease ran out
}

// TestWakeForceRelease: a force release hands the lock to the first
// waiter and those right behind it with its key.
func TestWakeForceRelease(t *testing.T) {
	e := wakeEnv(t)
	e.acquire("m", "z", "z", 0)
	e.acquire("m", "z", "z2", 0)
	a1 := e.startWaiter("m", "a", "a1", 0, longWait)
	a2 := e.startWaiter("m", "a", "a2", 0, longWait)
	b := e.startWaiter("m", "b", "b", 0, longWait)
	if _, _, err := e.svc.ForceRelease(context.Background(), "m", "op"); err != nil {
		t.Fatal(err)
	}
	a1.gets(t)
	a2.gets(t)
	b.waits(t)
	e.release("m", "a", "a1")
	b.waits(t)
	e.release("m", "a", "a2")
	b.gets(t)
}

// TestWakeSameHolderBehindAnotherKey: the first waiter's holder also waits
// behind a waiter with another key; when the first gets the lock, its
// holder holds it under its key, and may take it again: it is woken and
// does, while the one with the other key waits.
func TestWakeSameHolderBehindAnotherKey(t *testing.T) {
	e := wakeEnv(t)
	e.acquire("m", "z", "z", 0)
	w1 := e.startWaiter("m", "k", "h", 0, longWait)
	x := e.startWaiter("m", "x", "x", 0, longWait)
	w2 := e.startWaiter("m", "k", "h", 0, longWait)
	e.release("m", "z", "z")
	w1.gets(t)
	w2.gets(t)
	x.waits(t)
	if l := e.get("m"); l.Holds.Get("h").Count != 2 {
		t.Fatalf("m: %+v, want h holding it twice", l.Holds)
	}
	e.release("m", "k", "h")
	x.waits(t)
	e.release("m", "k", "h")
	x.gets(t)
}

// TestWakeSharedKeyHolders: two holders share the lock; the first waiter
// gets it when the last of them lets go, a waiter with their key behind
// it when it lets go.
func TestWakeSharedKeyHolders(t *testing.T) {
	e := wakeEnv(t)
	e.acquire("m", "k", "h1", 0)
	e.acquire("m", "k", "h2", 0)
	a := e.startWaiter("m", "a", "a", 0, longWait)
	k := e.startWaiter("m", "k", "h3", 0, longWait)
	e.release("m", "k", "h1")
	a.waits(t)
	k.waits(t)
	e.release("m", "k", "h2")
	a.gets(t)
	k.waits(t)
	e.release("m", "a", "a")
	k.gets(t)
}

// TestWakeHeadStoreFailure: the first waiter's look at the freed lock
// fails (the store, for a moment): it goes, keeping its place, and the
// next one, with another key, gets the lock at once.
func TestWakeHeadStoreFailure(t *testing.T) {
	hs := newHookStore(t)
	svc := storetest.Serve(t, hs, lockservice.Config{PollInterval: time.Hour})
	bg := context.Background()
	if _, err := svc.Acquire(bg, "m", lock.Request{Key: "z", Holder: "z"}, 0); err != nil {
		t.Fatal(err)
	}
	start := func(ctx context.Context, who string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := svc.Acquire(ctx, "m", lock.Request{Key: who, Holder: who}, longWait)
			done <- err
		}()
		return done
	}
	a := start(context.WithValue(bg, failKey{}, "a"), "a")
	eventually(t, func() bool { return svc.Waiters("m") == 1 }, "a to queue")
	b := start(bg, "b")
	eventually(t, func() bool { return svc.Waiters("m") == 2 }, "b to queue")
	hs.failFor.Store("a")
	if _, _, err := svc.Release(bg, "m", "z", "z"); err != nil {
		t.Fatal(err)
	}
	if err := <-a; lock.ErrorCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("a: %v, want the store's failure", err)
	}
	select {
	case err := <-b:
		if err != nil {
			t.Fatalf("b: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("b was not woken when a, first, went away from the free lock")
	}
}

// poolWait starts a waiting AcquireFromPool and returns once it is queued.
func (e *env) poolWait(pool, holder string) *waiter {
	e.t.Helper()
	before := e.svc.PoolWaiters(pool)
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	w := &waiter{who: holder, done: make(chan result, 1), cancel: cancel}
	go func() {
		l, err := e.svc.AcquireFromPool(ctx, pool, lock.Request{Key: holder, Holder: holder}, longWait)
		w.done <- result{who: holder, lock: l, err: err, at: time.Now()}
	}()
	e.eventually(func() bool { return e.svc.PoolWaiters(pool) == before+1 }, "pool waiter %q to queue", holder)
	return w
}

func (e *env) addMember(pool, name string) {
	e.t.Helper()
	if _, err := e.svc.AddMember(context.Background(), pool, name, nil); err != nil {
		e.t.Fatal(err)
	}
}

// TestWakePoolMembersAdded: members added to a pool while its waiters
// wait go to them, one each, although only its first is woken by each
// change.
func TestWakePoolMembersAdded(t *testing.T) {
	e := wakeEnv(t)
	e.addMember("p", "m0")
	e.acquire("m0", "z", "z", 0)
	var ws []*waiter
	for i := range 3 {
		ws = append(ws, e.poolWait("p", fmt.Sprint("p", i)))
	}
	ws[0].waits(t)
	for i := 1; i <= 3; i++ {
		e.addMember("p", fmt.Sprint("m", i))
	}
	got := map[string]bool{}
	for _, w := range ws {
		got[w.gets(t).Name] = true
	}
	if len(got) != 3 || got["m0"] {
		t.Fatalf("the pool waiters got %v, want m1, m2 and m3", got)
	}
}

// TestWakePoolMemberRemoved: the only member of a pool is removed (by
// force) while several wait for it: each of them hears at once that the
// pool has no members now.
func TestWakePoolMemberRemoved(t *testing.T) {
	e := wakeEnv(t)
	e.addMember("p", "m")
	e.acquire("m", "z", "z", 0)
	var ws []*waiter
	for i := range 3 {
		ws = append(ws, e.poolWait("p", fmt.Sprint("p", i)))
	}
	if _, _, err := e.svc.RemoveMember(context.Background(), "p", "m", true, "op"); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if r := w.wait(t); lock.ErrorCode(r.err) != lock.ENOTFOUND {
			t.Fatalf("pool waiter %s: %v, want ENOTFOUND", w.who, r.err)
		}
	}
}

// TestWakePoolAndNameTakeTurns: a member of two pools is waited for by
// name and through each pool, in turns; each release hands it to the
// next in arrival order, whichever way it waits.
func TestWakePoolAndNameTakeTurns(t *testing.T) {
	t.Parallel()
	e := wakeEnv(t)
	e.addMember("p", "m")
	e.addMember("q", "m")
	e.addMember("q", "other")
	e.acquire("other", "o", "o", 0)
	e.acquire("m", "z", "z", 0)
	q1 := e.poolWait("q", "q1")
	n1 := e.startWaiter("m", "n1", "n1", 0, longWait)
	p1 := e.poolWait("p", "p1")
	q2 := e.poolWait("q", "q2")
	n2 := e.startWaiter("m", "n2", "n2", 0, longWait)
	p2 := e.poolWait("p", "p2")
	order := []*waiter{q1, n1, p1, q2, n2, p2}
	prev := "z"
	for i, w := range order {
		e.release("m", prev, prev)
		if l := w.gets(t); l.Name != "m" {
			t.Fatalf("%s got %q, want m", w.who, l.Name)
		}
		for _, later := range order[i+1:] {
			later.waits(t)
		}
		prev = w.who
	}
}

// TestWakeNamedWaiterWhenMemberLeavesPool: a waiter by name lets an
// earlier pool waiter have the free member first; when the member leaves
// the pool, it takes it at once.
func TestWakeNamedWaiterWhenMemberLeavesPool(t *testing.T) {
	d := startDeferring(t)
	if _, _, err := d.svc.RemoveMember(d.ctx, "p", "m", false, "op"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.byName:
		if err != nil {
			t.Fatalf("the waiter by name: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("the waiter by name was not woken when its lock left the pool")
	}
	d.leave()
	<-d.poolDone
}

// TestWakePoolWaiterLeaseExpiry: pool waiters get a member whose holder's
// lease runs out, one after the other.
func TestWakePoolWaiterLeaseExpiry(t *testing.T) {
	e := wakeEnv(t)
	e.addMember("p", "m")
	e.acquire("m", "z", "z", 200*time.Millisecond)
	ws := []*waiter{e.poolWait("p", "p0"), e.poolWait("p", "p1")}
	ws[0].gets(t)
	ws[1].waits(t)
	e.release("m", "p0", "p0")
	ws[1].gets(t)
}

// TestWakeNoWaiterLeftBehind: many clients take and give back locks by
// name and through pools that share members, with keys shared among them,
// holders taking a lock again, waits that run out (and are asked again,
// their places kept), clients that go away, leases that run out, a force
// release now and then, and members leaving and joining a pool. Nobody
// polls: a waiter that may have its lock and is not woken would wait for
// the rest of its wait (a minute), and the run would not end in time.
func TestWakeNoWaiterLeftBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("a run of many waits")
	}
	store := memstore.New(memstore.Options{})
	svc := lockservice.New(store, lockservice.Config{PollInterval: time.Hour, KeepPlace: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for _, pm := range [][2]string{{"p", "m1"}, {"p", "m2"}, {"q", "m2"}, {"q", "m3"}} {
		if _, err := svc.AddMember(ctx, pm[0], pm[1], nil); err != nil {
			t.Fatal(err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	locks := []string{"m1", "m2", "m3"}
	keys := []string{"a", "b", "c"}
	const workers, ops = 12, 40
	stuck := make(chan string, workers*ops)
	var stats struct {
		sync.Mutex
		n map[string]int
	}
	stats.n = map[string]int{}
	done := make(chan struct{})
	var running sync.WaitGroup
	for w := range workers {
		running.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), seed))
			for i := range ops {
				holder := fmt.Sprintf("w%d-%d", w, i)
				again := rnd.IntN(5) == 0
				if again {
					holder = fmt.Sprintf("w%d", w) // the same holder again
				}
				r := lock.Request{Key: keys[rnd.IntN(len(keys))], Holder: holder}
				shared := rnd.IntN(4) == 0
				if shared {
					// A holder several clients share, each of them
					// releasing what it took: one may wait behind
					// another key while another takes the lock for it.
					n := rnd.IntN(3)
					r.Holder, r.Key = fmt.Sprint("h", n), keys[n%2]
				} else if rnd.IntN(4) == 0 {
					r.TTL = time.Duration(1+rnd.IntN(5)) * time.Millisecond // left to run out
				}
				wait := longWait
				octx, ocancel := context.WithCancel(ctx)
				switch rnd.IntN(8) {
				case 0:
					wait = time.Duration(1+rnd.IntN(10)) * time.Millisecond
				case 1:
					time.AfterFunc(time.Duration(rnd.IntN(10))*time.Millisecond, ocancel)
				}
				began := time.Now()
				var l lock.Lock
				var err error
				pool := ""
				switch rnd.IntN(3) {
				case 0:
					if shared {
						r.Holder = holder
					}
					pool = []string{"p", "q"}[rnd.IntN(2)]
					r.Key = holder // a pool hold is its holder's own
					l, err = svc.AcquireFromPool(octx, pool, r, wait)
				default:
					l, err = svc.Acquire(octx, locks[rnd.IntN(len(locks))], r, wait)
				}
				ocancel()
				stats.Lock()
				stats.n[lock.ErrorCode(err)]++
				if err == nil && time.Since(began) > time.Millisecond {
					stats.n["waited"]++
				}
				stats.Unlock()
				if wait == longWait && time.Since(began) > longWait/2 {
					stuck <- fmt.Sprintf("%s waited %s (%v)", holder, time.Since(began).Round(time.Second), err)
				}
				if err != nil {
					continue
				}
				time.Sleep(time.Duration(rnd.IntN(3)) * time.Millisecond)
				// Only a holder of its own leaves its hold to run out: a
				// holder that comes again and takes the lock again without
				// a lease removes the lease (a hold taken again without a
				// ttl never expires), and its one release would leave the
				// lock held for good, its waiters behind it for their whole
				// wait (the test failed so, now and then).
				if r.TTL == 0 || again || rnd.IntN(2) == 0 {
					svc.Release(ctx, l.Name, r.Key, r.Holder)
				}
				switch rnd.IntN(40) {
				case 0:
					svc.ForceRelease(ctx, locks[rnd.IntN(len(locks))], "op")
				case 1:
					svc.RemoveMember(ctx, "p", "m1", true, "op")
					time.Sleep(time.Millisecond)
					svc.AddMember(ctx, "p", "m1", nil)
				}
			}
		})
	}
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the run did not end: waiters %v", svc.WaiterCounts(ctx))
	}
	close(stuck)
	t.Logf("outcomes: %v", stats.n)
	for s := range stuck {
		t.Errorf("a waiter was left behind: %s", s)
	}
}
