package lockservice_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// heldUpStore holds up the changes made under a context marked heldUp,
// until that context ends, and counts the changes made to the lock named
// name.
type heldUpStore struct {
	*memstore.Store
	name    string
	changes atomic.Int64 // changes of the lock named name
	waiting atomic.Int32 // changes held up now
}

type heldUpKey struct{}

func (s *heldUpStore) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	if ctx.Value(heldUpKey{}) != nil {
		s.waiting.Add(1)
		<-ctx.Done()
		return lock.Lock{}, nil, ctx.Err()
	}
	if name == s.name {
		s.changes.Add(1)
	}
	return s.Store.Update(ctx, name, m)
}

// deferring is a waiter by name (key x) on member m of pool p, deferring
// to an earlier pool waiter whose claim of m, free, the store holds up:
// leave makes the pool waiter go away, then poolDone and byName give the
// two waits' outcomes. Nothing but wake-ups reaches the waiter by name:
// the service's poll is an hour away.
type deferring struct {
	svc              *lockservice.Service
	store            *heldUpStore
	ctx              context.Context
	leave            func()
	poolDone, byName chan error
}

func startDeferring(t *testing.T) *deferring {
	t.Helper()
	d := &deferring{store: &heldUpStore{Store: memstore.New(memstore.Options{}), name: "m"}, poolDone: make(chan error, 1), byName: make(chan error, 1)}
	d.svc = lockservice.New(d.store, lockservice.Config{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d.ctx = ctx
	if err := d.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.svc.Close)
	if _, err := d.svc.AddMember(ctx, "p", "m", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.svc.Acquire(ctx, "m", lock.Request{Key: "h", Holder: "h"}, 0); err != nil {
		t.Fatal(err)
	}
	poolCtx, leave := context.WithCancel(context.WithValue(ctx, heldUpKey{}, true))
	t.Cleanup(leave)
	d.leave = leave
	go func() {
		_, err := d.svc.AcquireFromPool(poolCtx, "p", lock.Request{Key: "pool", Holder: "pool"}, time.Minute)
		d.poolDone <- err
	}()
	eventually(t, func() bool { return d.svc.PoolWaiters("p") == 1 }, "the pool waiter queued")
	go func() {
		_, err := d.svc.Acquire(ctx, "m", lock.Request{Key: "x", Holder: "x"}, time.Minute)
		d.byName <- err
	}()
	eventually(t, func() bool { return d.svc.Waiters("m") == 1 }, "the waiter by name queued")
	if _, _, err := d.svc.Release(ctx, "m", "h", "h"); err != nil {
		t.Fatal(err)
	}
	// The pool waiter is now making its claim (held up); the waiter by
	// name has looked and let it go first.
	eventually(t, func() bool { return d.store.waiting.Load() == 1 }, "the pool waiter's claim held up")
	return d
}

// leaveAndServe makes the pool waiter go away and checks that the waiter
// by name then gets m, woken by its leaving.
func (d *deferring) leaveAndServe(t *testing.T) {
	t.Helper()
	d.leave()
	if err := <-d.poolDone; err == nil {
		t.Fatal("the pool waiter that went away got a member")
	}
	select {
	case err := <-d.byName:
		if err != nil {
			t.Fatalf("the waiter by name: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("the waiter by name was not woken when the pool waiter ahead of it left")
	}
	if l, _ := d.svc.Get(d.ctx, "m"); l.Key != "x" {
		t.Fatalf("m is held by %q, want x", l.Key)
	}
}

// TestWaiterByNameWokenWhenPoolWaiterAheadLeaves: a waiter by name finds
// its lock free but an earlier waiter of the lock's pool first, so it
// waits. When that pool waiter leaves without taking the lock (here: it
// goes away while its claim is being made), the waiter by name must look
// again at once: nothing changes the lock or its own queue, and its poll
// is an hour away.
func TestWaiterByNameWokenWhenPoolWaiterAheadLeaves(t *testing.T) {
	d := startDeferring(t)
	select {
	case err := <-d.byName:
		t.Fatalf("the waiter by name returned (%v) while an earlier pool waiter was making its claim", err)
	case <-time.After(100 * time.Millisecond):
	}
	d.leaveAndServe(t)
}

// TestDeferredWaiterNotWokenByOtherLocks: a waiter by name that lets an
// earlier pool waiter have its free lock first looks again when that
// waiter, its lock or its pool's queue changes, not at every change of
// every other lock: with many changes a second elsewhere, each of its
// looks is a change attempt (with PostgreSQL, reads of the database), and
// it would make one for each of them for as long as it defers.
func TestDeferredWaiterNotWokenByOtherLocks(t *testing.T) {
	d := startDeferring(t)
	time.Sleep(20 * time.Millisecond)
	before := d.store.changes.Load()
	const others = 200
	for i := range others {
		other := fmt.Sprint("other-", i)
		if _, err := d.svc.Acquire(d.ctx, other, lock.Request{Key: "o", Holder: "o"}, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // time for a woken waiter to look
	}
	if n := d.store.changes.Load() - before; n > others/10 {
		t.Errorf("the deferred waiter made %d attempts on m during %d changes of other locks", n, others)
	}
	d.leaveAndServe(t)
}

// TestSharedKeyDoesNotJumpPoolWaiter: a request by name whose key is the
// one a member is held under would join the hold at once; while a pool
// waiter that came before it waits, it does not (a pool waiter never
// joins a hold, so holders of one key taking turns would keep it out for
// ever), as it does not jump an earlier waiter by name with another key.
// Re-entry by a holder is still never refused. When the pool waiter
// leaves, the one by name joins at once.
func TestSharedKeyDoesNotJumpPoolWaiter(t *testing.T) {
	svc := lockservice.New(memstore.New(memstore.Options{}), lockservice.Config{PollInterval: time.Hour, MaxWait: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := svc.AddMember(ctx, "p", "m", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Acquire(ctx, "m", lock.Request{Key: "K", Holder: "h1"}, 0); err != nil {
		t.Fatal(err)
	}
	poolCtx, leave := context.WithCancel(ctx)
	defer leave()
	poolDone := make(chan error, 1)
	go func() {
		l, err := svc.AcquireFromPool(poolCtx, "p", lock.Request{Key: "pool", Holder: "pool"}, time.Minute)
		if err == nil && l.Name != "m" {
			t.Errorf("the pool waiter got %q", l.Name)
		}
		poolDone <- err
	}()
	eventually(t, func() bool { return svc.PoolWaiters("p") == 1 }, "the pool waiter queued")

	_, err := svc.Acquire(ctx, "m", lock.Request{Key: "K", Holder: "h2"}, 0)
	e := wantCode(t, err, lock.ECONFLICT)
	if want := `lock "m" is held by key "K" (holders: h1 x1) and 1 earlier waiter(s) for its pool(s) "p" come first`; e.Message != want {
		t.Errorf("refusal: %q, want %q", e.Message, want)
	}
	if l, _ := svc.Get(ctx, "m"); len(l.Holds) != 1 {
		t.Fatalf("the refused request changed the lock: %+v", l.Holds)
	}
	if _, err := svc.Acquire(ctx, "m", lock.Request{Key: "K", Holder: "h1"}, 0); err != nil {
		t.Fatalf("re-entry by the holder: %v", err)
	}

	// A waiting one waits behind the pool waiter, and gets the lock after it.
	byName := make(chan error, 1)
	go func() {
		_, err := svc.Acquire(ctx, "m", lock.Request{Key: "K", Holder: "h2"}, time.Minute)
		byName <- err
	}()
	eventually(t, func() bool { return svc.Waiters("m") == 1 }, "the waiter by name queued")
	for range 2 {
		if _, _, err := svc.Release(ctx, "m", "K", "h1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-poolDone; err != nil {
		t.Fatalf("the pool waiter: %v", err)
	}
	select {
	case err := <-byName:
		t.Fatalf("the waiter by name returned (%v) while the pool waiter held the member", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, _, err := svc.Release(ctx, "m", "pool", "pool"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-byName:
		if err != nil {
			t.Fatalf("the waiter by name: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("the waiter by name was not woken when the member was released")
	}

	// A waiter by name deferring to a pool waiter while the member is
	// held under its key joins the hold when the pool waiter gives up.
	poolCtx2, leave2 := context.WithCancel(ctx)
	defer leave2()
	poolDone2 := make(chan error, 1)
	go func() {
		_, err := svc.AcquireFromPool(poolCtx2, "p", lock.Request{Key: "pool", Holder: "pool"}, time.Minute)
		poolDone2 <- err
	}()
	eventually(t, func() bool { return svc.PoolWaiters("p") == 1 }, "the second pool waiter queued")
	byName2 := make(chan error, 1)
	go func() {
		_, err := svc.Acquire(ctx, "m", lock.Request{Key: "K", Holder: "h3"}, time.Minute)
		byName2 <- err
	}()
	eventually(t, func() bool { return svc.Waiters("m") == 1 }, "the second waiter by name queued")
	leave2()
	if err := <-poolDone2; err == nil {
		t.Fatal("the pool waiter that went away got a member")
	}
	select {
	case err := <-byName2:
		if err != nil {
			t.Fatalf("the second waiter by name: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("the waiter by name was not woken when the pool waiter ahead of it left")
	}
	if l, _ := svc.Get(ctx, "m"); l.Holds.Get("h2").Count != 1 || l.Holds.Get("h3").Count != 1 {
		t.Fatalf("m's holds: %+v, want h2 and h3", l.Holds)
	}
}
