package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// A waiter that lets an earlier waiter of another queue have its member
// first (one line across a member's queues) waits on that queue, whose
// waiter may be on another replica: it is woken by that replica's
// notification that the waiter left, as a waiter of the queue itself is.
// The replicas poll once an hour here, so nothing else could wake it.
func TestReplicasDeferredWaiterWokenFromAnotherReplica(t *testing.T) {
	dbURL := pgtest.Schema(t)
	cfg := lockservice.Config{PollInterval: time.Hour}
	a := openReplica(t, dbURL, "a", pgstore.Options{}, cfg)
	b := openReplica(t, dbURL, "b", pgstore.Options{}, cfg)
	if _, err := a.svc.AddMember(bg, "p", "m", nil); err != nil {
		t.Fatal(err)
	}

	// A waiter by name on a, behind a pool waiter on b: m is held under
	// its key, which it would join but for the pool waiter. The pool
	// waiter goes away: the one by name joins.
	a.acquire(t, "m", "K", 0)
	poolCtx, leave := context.WithCancel(bg)
	defer leave()
	poolDone := make(chan error, 1)
	go func() {
		_, err := b.svc.AcquireFromPool(poolCtx, "p", lock.Request{Key: "pool", Holder: "pool"}, time.Minute)
		poolDone <- err
	}()
	eventually(t, "the pool waiter on b queued", func() bool { return a.svc.PoolWaiters("p") == 1 })
	byName := make(chan error, 1)
	go func() {
		_, err := a.svc.Acquire(bg, "m", lock.Request{Key: "K", Holder: "K2"}, time.Minute)
		byName <- err
	}()
	eventually(t, "the waiter by name on a queued", func() bool { return a.svc.Waiters("m") == 1 })
	select {
	case err := <-byName:
		t.Fatalf("the waiter by name joined the hold ahead of the pool waiter: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	leave()
	if err := receive(t, poolDone, "the pool waiter"); err == nil {
		t.Fatal("the pool waiter that went away got a member")
	}
	if err := receive(t, byName, "the waiter by name on a, after the pool waiter on b left"); err != nil {
		t.Fatal(err)
	}
	a.release(t, "m", "K")
	if _, _, err := a.svc.Release(bg, "m", "K", "K2"); err != nil {
		t.Fatal(err)
	}

	// A pool waiter on b, behind a waiter for m by name on a (one that
	// does not try for it: a bare place in the queue): m is free, and
	// goes to the pool waiter once the one by name leaves.
	a.acquire(t, "m", "h", 0)
	ticket, err := a.store.Join(bg, "m", lock.Waiter{Key: "early", Holder: "early"})
	if err != nil {
		t.Fatal(err)
	}
	poolDone2 := make(chan error, 1)
	go func() {
		_, err := b.svc.AcquireFromPool(bg, "p", lock.Request{Key: "pool", Holder: "pool"}, time.Minute)
		poolDone2 <- err
	}()
	eventually(t, "the pool waiter on b queued", func() bool { return a.svc.PoolWaiters("p") == 1 })
	a.release(t, "m", "h")
	select {
	case err := <-poolDone2:
		t.Fatalf("the pool waiter took m ahead of an earlier waiter by name: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := a.store.Leave(bg, "m", ticket, 0); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, poolDone2, "the pool waiter on b, after the waiter by name on a left"); err != nil {
		t.Fatal(err)
	}
}
