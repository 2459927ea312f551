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

// TestOldestWaitEveryReplica: the metrics' oldest wait
// (locker_oldest_wait_seconds, from lockservice's Waiting) is, like the
// waiter count, every replica's: a replica with no waiter of its own
// reports the one waiting on another. It was each replica's own, so the
// replicas disagreed and a wait in parts spread over them looked short.
func TestOldestWaitEveryReplica(t *testing.T) {
	dbURL := pgtest.Schema(t)
	rs := openReplicas(t, dbURL, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	a.acquire(t, "deploy", "pipeline-1", 0)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := a.svc.Acquire(ctx, "deploy", lock.Request{Key: "pipeline-2", Holder: "pipeline-2"}, time.Minute)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, oldest := b.svc.Waiting(bg)
		if n == 1 && !oldest.IsZero() {
			if oldest.After(time.Now()) {
				t.Fatalf("replica b: the waiter joined at %v, in the future", oldest)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b: %d waiting, oldest %v; want replica a's waiter", n, oldest)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	for {
		if n, oldest := b.svc.Waiting(bg); n == 0 && oldest.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter gone, replica b still reports one")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWaitingKeptPlaceKeepsJoined: a waiter whose wait ran out keeps its
// place; the same key and holder taking it back, on another replica, wait
// on from when they first joined (a client waiting in parts, through a
// load balancer). Kept, it is not a waiter.
func TestWaitingKeptPlaceKeepsJoined(t *testing.T) {
	dbURL := pgtest.Schema(t)
	open := func(name string) *pgstore.Store {
		s, err := pgstore.Open(bg, dbURL, pgstore.Options{Replica: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open("a"), open("b")
	if n, longest, err := b.Waiting(bg); err != nil || n != 0 || longest != 0 {
		t.Fatalf("no waiters: %d, %v, %v", n, longest, err)
	}
	w := lock.Waiter{Key: "k", Holder: "ci"}
	ticket, err := a.Join(bg, "deploy", w)
	if err != nil {
		t.Fatal(err)
	}
	// An hour ago, rather than wait for the clock.
	sql(t, dbURL, `UPDATE locker_waiters SET joined = joined - interval '1 hour'`)
	if n, longest, err := b.Waiting(bg); err != nil || n != 1 || longest < time.Hour {
		t.Fatalf("one waiter an hour old: %d, %v, %v", n, longest, err)
	}
	if err := a.Leave(bg, "deploy", ticket, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, longest, err := b.Waiting(bg); err != nil || n != 0 || longest != 0 {
		t.Fatalf("its place only kept: %d, %v, %v; want none waiting", n, longest, err)
	}
	again, err := b.Join(bg, "deploy", w)
	if err != nil || again != ticket {
		t.Fatalf("joining again on b: ticket %v, %v; want its kept place %v", again, err, ticket)
	}
	if n, longest, err := a.Waiting(bg); err != nil || n != 1 || longest < time.Hour {
		t.Fatalf("back in its place: %d waiting, longest %v, %v; want 1, over an hour", n, longest, err)
	}
}
