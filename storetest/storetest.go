// Package storetest is the behavioural suite every lock.Store must pass:
// the seed's semantics, waits, leases, fencing, force release, history and
// events, run through the lock service exactly as the server runs them.
// filestore and pgstore each run it against themselves, so that both
// behave identically.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// Opener opens the store under test. Each call opens the same data afresh,
// as a server restart would; the previous store is closed first.
type Opener func(t *testing.T) lock.Store

// Factory makes a new, empty data set for one test and returns its Opener.
type Factory func(t *testing.T) Opener

// Run runs the suite.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"SeedSemantics", testSeedSemantics},
		{"ConflictChangesNothing", testConflictChangesNothing},
		{"FenceIncreasesAcrossRestarts", testFenceAcrossRestarts},
		{"StateSurvivesRestart", testStateSurvivesRestart},
		{"FIFOWaiters", testFIFO},
		{"ResultsCountWaiters", testResultsCountWaiters},
		{"SharedKeyDoesNotStarveExclusive", testNoStarvation},
		{"CancelledWaiterNeverTakesLock", testCancelledWaiter},
		{"WaitTimeout", testWaitTimeout},
		{"WaitAskedAgainKeepsPlace", testWaitKeepsPlace},
		{"KeptPlaceDoesNotBlock", testKeptPlaceDoesNotBlock},
		{"KeptPlaceRunsOut", testKeptPlaceRunsOut},
		{"LeaseExpiryWakesWaiter", testLeaseExpiryWakesWaiter},
		{"RefreshExtendsLease", testRefresh},
		{"HoldNamedByWhenItBegan", testHoldRef},
		{"LeaseExpiresAcrossRestart", testExpiryAcrossRestart},
		{"ForceReleaseAndHistory", testForceAndHistory},
		{"HistoryIsBounded", testHistoryBound},
		{"EventsInOrder", testEventsInOrder},
		{"MutualExclusionUnderContention", testMutualExclusion},
		{"PoolBasics", testPoolBasics},
		{"PoolContention", testPoolContention},
		{"PoolFIFO", testPoolFIFO},
		{"PoolFairAcrossQueues", testPoolFairAcrossQueues},
		{"ListPool", testListPool},
		{"PoolRemoveHeldBy", testPoolRemoveHeldBy},
		{"Forget", testForget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// svc starts a service over a freshly opened store; both stop with the test
// or when the returned stop is called.
func svc(t *testing.T, open Opener, cfg lockservice.Config) (*lockservice.Service, lock.Store, func()) {
	t.Helper()
	store := open(t)
	s := lockservice.New(store, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			s.Close()
			cancel()
			store.Close()
		})
	}
	t.Cleanup(stop)
	return s, store, stop
}

var bg = context.Background()

func req(key, holder string) lock.Request { return lock.Request{Key: key, Holder: holder} }

func mustAcquire(t *testing.T, s *lockservice.Service, name string, r lock.Request) lock.Lock {
	t.Helper()
	l, err := s.Acquire(bg, name, r, 0)
	if err != nil {
		t.Fatalf("acquire %s %+v: %v", name, r, err)
	}
	return l
}

func mustRelease(t *testing.T, s *lockservice.Service, name, key, holder string) lock.Lock {
	t.Helper()
	l, _, err := s.Release(bg, name, key, holder)
	if err != nil {
		t.Fatalf("release %s %s/%s: %v", name, key, holder, err)
	}
	return l
}

func code(err error) string { return lock.ErrorCode(err) }

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testSeedSemantics(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	l := mustAcquire(t, s, "prod", req("k", "k"))
	if l.Key != "k" || l.Holds.Get("k").Count != 1 || l.Fence == 0 {
		t.Fatalf("first acquire: %+v", l)
	}
	l = mustAcquire(t, s, "prod", req("k", "k"))
	if l.Holds.Get("k").Count != 2 {
		t.Fatalf("re-entry: count %d, want 2", l.Holds.Get("k").Count)
	}
	l = mustAcquire(t, s, "prod", req("k", "node-b"))
	if len(l.Holds) != 2 {
		t.Fatalf("shared key: holds %v", l.Holds)
	}
	if _, err := s.Acquire(bg, "prod", req("other", "other"), 0); code(err) != lock.ECONFLICT {
		t.Fatalf("other key: err %v, want conflict", err)
	}
	// Releasing: unknown lock and a holder holding nothing change nothing.
	if _, released, err := s.Release(bg, "never-seen", "k", "k"); err != nil || released {
		t.Fatalf("release of unknown lock: released %v err %v", released, err)
	}
	if _, released, err := s.Release(bg, "prod", "k", "nobody"); err != nil || released {
		t.Fatalf("release by non-holder: released %v err %v", released, err)
	}
	if _, _, err := s.Release(bg, "prod", "wrong", "k"); code(err) != lock.ECONFLICT {
		t.Fatalf("release with wrong key: %v", err)
	}
	mustRelease(t, s, "prod", "k", "node-b")
	l = mustRelease(t, s, "prod", "k", "k")
	if l.Free() || l.Holds.Get("k").Count != 1 {
		t.Fatalf("after one of two releases: %+v", l)
	}
	l = mustRelease(t, s, "prod", "k", "k")
	if !l.Free() || len(l.Holds) != 0 {
		t.Fatalf("after the last release: %+v", l)
	}
	got, err := s.Get(bg, "prod")
	if err != nil || !got.Free() {
		t.Fatalf("a released lock stays listed as free: %+v %v", got, err)
	}
	if _, err := s.Get(bg, "never-seen"); code(err) != lock.ENOTFOUND {
		t.Fatalf("get of a name never seen: %v", err)
	}
	locks, err := s.List(bg)
	if err != nil || len(locks) != 1 || locks[0].Name != "prod" {
		t.Fatalf("list: %+v %v", locks, err)
	}
	// A listing is a snapshot: later changes leave the listed locks (which
	// a store may share with its own state) as they were.
	listed := locks[0].Clone()
	mustAcquire(t, s, "prod", req("k", "a"))
	mustAcquire(t, s, "prod", req("k", "b"))
	mustAcquire(t, s, "prod", req("k", "a"))
	if !reflect.DeepEqual(*locks[0], listed) {
		t.Fatalf("a listed lock changed under its reader:\n was %+v\n now %+v", listed, *locks[0])
	}
}

func testConflictChangesNothing(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	before := mustAcquire(t, s, "x", req("a", "h"))
	s.Acquire(bg, "x", req("b", "h"), 0)
	s.Release(bg, "x", "b", "h")
	after, _ := s.Get(bg, "x")
	if after.Key != before.Key || after.Holds.Get("h").Count != 1 || after.Fence != before.Fence {
		t.Fatalf("conflicts changed the lock: before %+v after %+v", before, after)
	}
	h, _ := s.History(bg, "x")
	if len(h) != 1 {
		t.Fatalf("conflicts recorded history: %+v", h)
	}
}

func testFenceAcrossRestarts(t *testing.T, open Opener) {
	var last uint64
	for round := 0; round < 3; round++ {
		s, _, stop := svc(t, open, lockservice.Config{})
		for i := 0; i < 20; i++ {
			name := fmt.Sprintf("f%d", i%3)
			l := mustAcquire(t, s, name, req("k", "h"))
			if l.Fence <= last {
				t.Fatalf("round %d: fence %d after %d", round, l.Fence, last)
			}
			last = l.Fence
			mustRelease(t, s, name, "k", "h")
		}
		stop()
	}
}

func testStateSurvivesRestart(t *testing.T, open Opener) {
	s, _, stop := svc(t, open, lockservice.Config{})
	mustAcquire(t, s, "a", req("k", "h1"))
	mustAcquire(t, s, "a", req("k", "h1"))
	mustAcquire(t, s, "a", req("k", "h2"))
	l, err := s.Acquire(bg, "b", lock.Request{Key: "k2", Holder: "h", TTL: time.Hour}, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, s, "c", req("k", "h"))
	mustRelease(t, s, "c", "k", "h")
	stop()
	s, _, _ = svc(t, open, lockservice.Config{})
	a, _ := s.Get(bg, "a")
	if a.Key != "k" || a.Holds.Get("h1").Count != 2 || a.Holds.Get("h2").Count != 1 {
		t.Fatalf("a after restart: %+v", a)
	}
	b, _ := s.Get(bg, "b")
	if !b.Holds.Get("h").Expires.Equal(l.Holds.Get("h").Expires) || b.Fence != l.Fence {
		t.Fatalf("b after restart: %+v, want %+v", b, l)
	}
	c, err := s.Get(bg, "c")
	if err != nil || !c.Free() {
		t.Fatalf("c after restart: %+v %v", c, err)
	}
	h, _ := s.History(bg, "a")
	if len(h) != 3 {
		t.Fatalf("history of a after restart: %d events", len(h))
	}
}

// testResultsCountWaiters: every lock a change or a read returns carries the
// number of requests waiting for it, a refused request's lock too.
func testResultsCountWaiters(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	if _, err := s.Acquire(bg, "w", lock.Request{Key: "a", Holder: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	done, cancel := waitFor(t, s, "w", lock.Request{Key: "b", Holder: "b"}, 10*time.Second)
	defer cancel()
	l, err := s.Acquire(bg, "w", lock.Request{Key: "a", Holder: "a"}, 0)
	if err != nil || l.Waiters != 1 {
		t.Fatalf("re-entry: waiters %d, err %v; want 1, nil", l.Waiters, err)
	}
	_, err = s.Acquire(bg, "w", lock.Request{Key: "c", Holder: "c"}, 0)
	var e *lock.Error
	if !errors.As(err, &e) || e.Lock == nil || e.Lock.Waiters != 1 {
		t.Fatalf("refused acquire: %v; want a conflict whose lock counts 1 waiter", err)
	}
	if g, err := s.Get(bg, "w"); err != nil || g.Waiters != 1 {
		t.Fatalf("get: waiters %d, err %v; want 1, nil", g.Waiters, err)
	}
	_, _, err = s.Release(bg, "w", "c", "c")
	if !errors.As(err, &e) || e.Lock == nil || e.Lock.Waiters != 1 {
		t.Fatalf("refused release: %v; want a conflict whose lock counts 1 waiter", err)
	}
	// A request that waits does not count itself.
	if l, err := s.Acquire(bg, "free", lock.Request{Key: "a", Holder: "a"}, 10*time.Second); err != nil || l.Waiters != 0 {
		t.Fatalf("waiting acquire of a free lock: waiters %d, err %v; want 0, nil", l.Waiters, err)
	}
	if l, _, err := s.Release(bg, "w", "a", "a"); err != nil || l.Waiters != 1 {
		t.Fatalf("release: waiters %d, err %v; want 1, nil", l.Waiters, err)
	}
	l, _, err = s.Release(bg, "w", "a", "a")
	if err != nil || l.Waiters != 1 || !l.Free() {
		t.Fatalf("last release: %+v, err %v; want free with 1 waiter", l, err)
	}
	if err := receive(t, done, "the waiter"); err != nil {
		t.Fatal(err)
	}
}

// waitFor starts a blocking acquire and waits until it is queued.
func waitFor(t *testing.T, s *lockservice.Service, name string, r lock.Request, wait time.Duration) (<-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	before := s.Waiters(name)
	done := make(chan error, 1)
	go func() {
		_, err := s.Acquire(ctx, name, r, wait)
		done <- err
	}()
	eventually(t, "waiter queued", func() bool { return s.Waiters(name) > before })
	return done, cancel
}

func receive(t *testing.T, c <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out: %s", what)
		return nil
	}
}

func notYet(t *testing.T, c <-chan error, what string) {
	t.Helper()
	select {
	case err := <-c:
		t.Fatalf("%s returned early: %v", what, err)
	case <-time.After(100 * time.Millisecond):
	}
}

func testFIFO(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	mustAcquire(t, s, "q", req("a", "a"))
	keys := []string{"b", "c", "d"}
	var done []<-chan error
	for _, k := range keys {
		c, _ := waitFor(t, s, "q", req(k, k), time.Minute)
		done = append(done, c)
	}
	prev := "a"
	for i, k := range keys {
		mustRelease(t, s, "q", prev, prev)
		if err := receive(t, done[i], "waiter "+k); err != nil {
			t.Fatalf("waiter %s: %v", k, err)
		}
		for _, later := range done[i+1:] {
			notYet(t, later, "a later waiter")
		}
		l, _ := s.Get(bg, "q")
		if l.Key != k {
			t.Fatalf("after %s released, key %q, want %q", prev, l.Key, k)
		}
		prev = k
	}
}

func testNoStarvation(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	mustAcquire(t, s, "n", req("shared", "s1"))
	x, _ := waitFor(t, s, "n", req("exclusive", "x"), time.Minute)
	// A new holder under the current key must not jump the queue...
	if _, err := s.Acquire(bg, "n", req("shared", "s2"), 0); code(err) != lock.ECONFLICT {
		t.Fatalf("a new shared holder jumped ahead of an exclusive waiter: %v", err)
	}
	s2, _ := waitFor(t, s, "n", req("shared", "s2"), time.Minute)
	// ...but a holder that already holds may take it again.
	mustAcquire(t, s, "n", req("shared", "s1"))
	mustRelease(t, s, "n", "shared", "s1")
	mustRelease(t, s, "n", "shared", "s1")
	if err := receive(t, x, "exclusive waiter"); err != nil {
		t.Fatal(err)
	}
	notYet(t, s2, "the shared waiter")
	mustRelease(t, s, "n", "exclusive", "x")
	if err := receive(t, s2, "shared waiter"); err != nil {
		t.Fatal(err)
	}
	// Waiters sharing one key get the lock together.
	mustAcquire(t, s, "m", req("a", "a"))
	w1, _ := waitFor(t, s, "m", req("k", "w1"), time.Minute)
	w2, _ := waitFor(t, s, "m", req("k", "w2"), time.Minute)
	mustRelease(t, s, "m", "a", "a")
	for _, w := range []<-chan error{w1, w2} {
		if err := receive(t, w, "shared waiters"); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := s.Get(bg, "m"); len(l.Holds) != 2 {
		t.Fatalf("shared waiters: holds %v", l.Holds)
	}
}

func testCancelledWaiter(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	mustAcquire(t, s, "c", req("a", "a"))
	w1, cancel1 := waitFor(t, s, "c", req("gone", "gone"), time.Minute)
	w2, _ := waitFor(t, s, "c", req("b", "b"), time.Minute)
	cancel1()
	if err := receive(t, w1, "cancelled waiter"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	eventually(t, "cancelled waiter leaves the queue", func() bool { return s.Waiters("c") == 1 })
	mustRelease(t, s, "c", "a", "a")
	if err := receive(t, w2, "waiter behind the cancelled one"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Get(bg, "c"); l.Key != "b" {
		t.Fatalf("lock went to %q, want b", l.Key)
	}
}

func testWaitTimeout(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	mustAcquire(t, s, "t", req("a", "a"))
	_, err := s.Acquire(bg, "t", req("b", "b"), 200*time.Millisecond)
	var e *lock.Error
	if !errors.As(err, &e) || e.Code != lock.ECONFLICT || e.Lock == nil || e.Lock.Key != "a" {
		t.Fatalf("wait timeout: %v", err)
	}
	if s.Waiters("t") != 0 {
		t.Fatalf("timed-out waiter still queued")
	}
}

// waitRunsOut makes r wait for the held lock name until its wait runs out.
func waitRunsOut(t *testing.T, s *lockservice.Service, name string, r lock.Request) {
	t.Helper()
	done, _ := waitFor(t, s, name, r, 300*time.Millisecond)
	if err := receive(t, done, r.Holder+"'s wait"); code(err) != lock.ECONFLICT {
		t.Fatalf("%s's wait: %v, want it to run out", r.Holder, err)
	}
}

// testWaitKeepsPlace: a client that waits in parts (each request up to the
// server's MaxWait, then again) keeps its turn: asked again at once, it
// is back in its place, ahead of those who came after it.
func testWaitKeepsPlace(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	askAgainThenRelease(t, s, "kp", 0, "b", "c")
}

// testKeptPlaceRunsOut: asked again after the place ran out, a client goes
// to the back of the line.
func testKeptPlaceRunsOut(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{KeepPlace: 200 * time.Millisecond})
	askAgainThenRelease(t, s, "ko", 500*time.Millisecond, "c", "b")
}

// askAgainThenRelease: a holds name; b waits until its wait runs out; c
// waits; after pause b asks again; a releases. The lock must go to first,
// then, once first releases, to second.
func askAgainThenRelease(t *testing.T, s *lockservice.Service, name string, pause time.Duration, first, second string) {
	t.Helper()
	mustAcquire(t, s, name, req("a", "a"))
	waitRunsOut(t, s, name, req("b", "b"))
	waiting := map[string]<-chan error{}
	waiting["c"], _ = waitFor(t, s, name, req("c", "c"), time.Minute)
	time.Sleep(pause)
	waiting["b"], _ = waitFor(t, s, name, req("b", "b"), time.Minute) // asked again
	mustRelease(t, s, name, "a", "a")
	if err := receive(t, waiting[first], first); err != nil {
		t.Fatalf("%s, first in line: %v", first, err)
	}
	notYet(t, waiting[second], second+", second in line")
	mustRelease(t, s, name, first, first)
	if err := receive(t, waiting[second], second); err != nil {
		t.Fatal(err)
	}
}

// testKeptPlaceDoesNotBlock: a kept place is not a waiter: while it is
// kept, the lock goes to whoever asks.
func testKeptPlaceDoesNotBlock(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{KeepPlace: time.Minute})
	mustAcquire(t, s, "kb", req("a", "a"))
	waitRunsOut(t, s, "kb", req("b", "b"))
	if n := s.Waiters("kb"); n != 0 {
		t.Fatalf("waiters = %d with only a kept place, want 0", n)
	}
	mustRelease(t, s, "kb", "a", "a")
	mustAcquire(t, s, "kb", req("c", "c"))
}

func testLeaseExpiryWakesWaiter(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	if _, err := s.Acquire(bg, "l", lock.Request{Key: "a", Holder: "a", TTL: 300 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	w, _ := waitFor(t, s, "l", req("b", "b"), time.Minute)
	if err := receive(t, w, "waiter after lease expiry"); err != nil {
		t.Fatal(err)
	}
	h, _ := s.History(bg, "l")
	var types []lock.EventType
	for _, ev := range h {
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != "[acquired expired acquired]" {
		t.Fatalf("history %v", types)
	}
}

func testRefresh(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	l, err := s.Acquire(bg, "r", lock.Request{Key: "k", Holder: "h", TTL: time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Refresh(bg, "r", "k", "h", time.Hour)
	if err != nil || !r.Holds.Get("h").Expires.After(l.Holds.Get("h").Expires) || r.Holds.Get("h").Count != 1 {
		t.Fatalf("refresh: %+v %v", r, err)
	}
	if _, err := s.Refresh(bg, "r", "other", "h", time.Hour); code(err) != lock.ECONFLICT {
		t.Fatalf("refresh with another key: %v", err)
	}
	if _, err := s.Refresh(bg, "r", "k", "nobody", time.Hour); code(err) != lock.ENOTFOUND {
		t.Fatalf("refresh of nothing held: %v", err)
	}
}

// testHoldRef: the time a hold began, as the grant returned it, names that
// hold in a release or refresh (lock.HoldRef) before and after a restart:
// the store keeps it to the precision it gave it (PostgreSQL's clock has
// microseconds, the file store's nanoseconds), so that a client sending
// back what it was given is not refused. A hold the same key and holder
// took again under the same fence (another holder kept the key) is not
// named by it.
func testHoldRef(t *testing.T, open Opener) {
	s, _, stop := svc(t, open, lockservice.Config{})
	mine := mustAcquire(t, s, "r", lock.Request{Key: "k", Holder: "job", TTL: time.Hour})
	mustAcquire(t, s, "r", req("k", "sibling"))
	ref := lock.HoldRef{Fence: mine.Fence, Acquired: mine.Holds.Get("job").Acquired}
	if _, err := s.RefreshHold(bg, "r", "k", "job", 2*time.Hour, ref); err != nil {
		t.Fatalf("refresh naming the hold by its grant: %v", err)
	}
	stop()
	s, _, stop = svc(t, open, lockservice.Config{})
	if _, err := s.RefreshHold(bg, "r", "k", "job", 2*time.Hour, ref); err != nil {
		t.Fatalf("after a restart, refresh naming the hold by its grant: %v", err)
	}
	if _, released, err := s.ReleaseHold(bg, "r", "k", "job", ref); err != nil || !released {
		t.Fatalf("after a restart, release naming the hold by its grant: released %v, %v", released, err)
	}
	time.Sleep(time.Millisecond) // a clock that reads the same twice would make one hold of two
	again := mustAcquire(t, s, "r", req("k", "job"))
	if again.Fence != mine.Fence {
		t.Fatalf("taken again under fence %d, want the period's %d", again.Fence, mine.Fence)
	}
	if _, err := s.RefreshHold(bg, "r", "k", "job", time.Second, ref); code(err) != lock.ENOTFOUND {
		t.Fatalf("refresh of the hold taken again, named by the first: %v, want ENOTFOUND", err)
	}
	if _, released, err := s.ReleaseHold(bg, "r", "k", "job", ref); code(err) != lock.ECONFLICT || released {
		t.Fatalf("release of the hold taken again, named by the first: released %v, %v; want ECONFLICT", released, err)
	}
	stop()
	s, _, _ = svc(t, open, lockservice.Config{})
	now := lock.HoldRef{Fence: again.Fence, Acquired: again.Holds.Get("job").Acquired}
	if l, released, err := s.ReleaseHold(bg, "r", "k", "job", now); err != nil || !released || l.Holds.Get("sibling").Count != 1 {
		t.Fatalf("after a restart, release of the hold taken again by its own grant: %+v, released %v, %v", l, released, err)
	}
}

func testExpiryAcrossRestart(t *testing.T, open Opener) {
	s, _, stop := svc(t, open, lockservice.Config{})
	if _, err := s.Acquire(bg, "e", lock.Request{Key: "k", Holder: "h", TTL: 200 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	stop()
	time.Sleep(400 * time.Millisecond)
	s, _, _ = svc(t, open, lockservice.Config{})
	eventually(t, "lease that ran out while down is expired at start", func() bool {
		l, _ := s.Get(bg, "e")
		return l.Free()
	})
	h, _ := s.History(bg, "e")
	if len(h) == 0 || h[len(h)-1].Type != lock.Expired {
		t.Fatalf("history: %+v", h)
	}
}

func testForceAndHistory(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	mustAcquire(t, s, "f", req("k", "h1"))
	mustAcquire(t, s, "f", req("k", "h2"))
	l, events, err := s.ForceRelease(bg, "f", "operator")
	if err != nil || !l.Free() || len(events) != 2 {
		t.Fatalf("force: %+v %+v %v", l, events, err)
	}
	h, _ := s.History(bg, "f")
	if len(h) != 4 || h[2].Type != lock.Forced || h[2].By != "operator" || h[3].By != "operator" {
		t.Fatalf("history: %+v", h)
	}
}

func testHistoryBound(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	for i := 0; i < 70; i++ {
		mustAcquire(t, s, "h", req("k", "h"))
		mustRelease(t, s, "h", "k", "h")
	}
	h, _ := s.History(bg, "h")
	if len(h) != 100 {
		t.Fatalf("history holds %d events, want the last 100", len(h))
	}
	if h[len(h)-1].Type != lock.Released || h[0].Type != lock.Acquired {
		t.Fatalf("history is not the newest events in order: first %s last %s", h[0].Type, h[len(h)-1].Type)
	}
}

func testEventsInOrder(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	sub := s.Events().Subscribe(100)
	defer s.Events().Unsubscribe(sub)
	mustAcquire(t, s, "ev", req("k", "a"))
	mustAcquire(t, s, "ev", req("k", "b"))
	mustRelease(t, s, "ev", "k", "a")
	s.ForceRelease(bg, "ev", "op")
	want := []string{"acquired a", "acquired b", "released a", "forced b"}
	var got []string
	for len(got) < len(want) {
		select {
		case evs := <-sub.C:
			for _, ev := range evs {
				got = append(got, string(ev.Type)+" "+ev.Holder)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d (%s) never came", len(got), want[len(got)])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func testMutualExclusion(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	var inside atomic.Int32
	var violations atomic.Int32
	var wg sync.WaitGroup
	for c := 0; c < 6; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			key := fmt.Sprintf("client-%d", c)
			for i := 0; i < 5; i++ {
				if _, err := s.Acquire(bg, "mx", req(key, key), time.Minute); err != nil {
					t.Errorf("%s: %v", key, err)
					return
				}
				if inside.Add(1) != 1 {
					violations.Add(1)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				if _, _, err := s.Release(bg, "mx", key, key); err != nil {
					t.Errorf("%s release: %v", key, err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d times two keys held the lock at once", v)
	}
}

// testForget: a free lock is forgotten with its history, durably (gone
// after a restart too), and taking its name again gives a higher fence
// than it ever had; a held lock, a pool member and a name never seen are
// refused and change nothing.
func testForget(t *testing.T, open Opener) {
	s, _, stop := svc(t, open, lockservice.Config{})
	if _, err := s.Forget(bg, "never"); code(err) != lock.ENOTFOUND {
		t.Fatalf("forget of a name never seen: %v, want %s", err, lock.ENOTFOUND)
	}
	first := mustAcquire(t, s, "pr-1", req("k", "ci"))
	mustRelease(t, s, "pr-1", "k", "ci")
	held := mustAcquire(t, s, "kept", req("k", "ci"))
	if _, err := s.Forget(bg, "kept"); code(err) != lock.ECONFLICT {
		t.Fatalf("forget of a held lock: %v, want %s", err, lock.ECONFLICT)
	}
	if l, err := s.Get(bg, "kept"); err != nil || l.Key != "k" || l.Fence != held.Fence {
		t.Fatalf("a refused forget changed the lock: %+v, %v", l, err)
	}
	if _, err := s.AddMember(bg, "workers", "w1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forget(bg, "w1"); code(err) != lock.EINUSE {
		t.Fatalf("forget of a pool member: %v, want %s", err, lock.EINUSE)
	}
	if _, err := s.Forget(bg, "pr-1"); err != nil {
		t.Fatalf("forget of a free lock: %v", err)
	}
	gone := func(when string) {
		t.Helper()
		if _, err := s.Get(bg, "pr-1"); code(err) != lock.ENOTFOUND {
			t.Fatalf("%s: Get of a forgotten lock: %v, want %s", when, err, lock.ENOTFOUND)
		}
		if _, err := s.History(bg, "pr-1"); code(err) != lock.ENOTFOUND {
			t.Fatalf("%s: History of a forgotten lock: %v, want %s", when, err, lock.ENOTFOUND)
		}
		locks, err := s.List(bg)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, l := range locks {
			names = append(names, l.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"kept", "w1"}) {
			t.Fatalf("%s: locks listed %v, want [kept w1]", when, names)
		}
	}
	gone("after the forget")
	if _, err := s.Forget(bg, "pr-1"); code(err) != lock.ENOTFOUND {
		t.Fatalf("a second forget: %v, want %s", err, lock.ENOTFOUND)
	}
	stop()
	s, _, _ = svc(t, open, lockservice.Config{})
	gone("after a restart")
	again := mustAcquire(t, s, "pr-1", req("k2", "ci"))
	if again.Fence <= held.Fence || again.Fence <= first.Fence {
		t.Fatalf("taken again after its forget, the lock has fence %d; it had %d, and another lock %d since", again.Fence, first.Fence, held.Fence)
	}
	if h, err := s.History(bg, "pr-1"); err != nil || len(h) != 1 || h[0].Type != lock.Acquired {
		t.Fatalf("the history of the lock taken again: %+v, %v; want its one acquire (the old history is gone)", h, err)
	}
}
