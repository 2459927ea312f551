package pgstore_test

import (
	"sync"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
)

// fillPool leaves several of s's connections idle in its pool.
func fillPool(s *pgstore.Store) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.List(bg)
		}()
	}
	wg.Wait()
}

// TestTerminatedSessionsAreNotErrorsForJoin: a waiting PUT joins the
// shared queue first; right after the database ended the store's sessions
// (pg_terminate_backend, a restart) it took a dead pooled connection and
// answered 503 "a change in flight may or may not have been made" (a
// black-box HA review). The session ended before the row was written:
// the request must get its place, and only one row.
func TestTerminatedSessionsAreNotErrorsForJoin(t *testing.T) {
	s, app := namedStore(t)
	for round := 0; round < 3; round++ {
		fillPool(s)
		endSessions(t, app)
		tk, err := s.Join(bg, "x", lock.Waiter{Key: "k", Holder: "h"})
		if err != nil {
			t.Fatalf("round %d: Join after the sessions were ended: %v", round, err)
		}
		ahead, err := s.Ahead(bg, "x", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ahead) != 1 {
			t.Errorf("round %d: %d waiters in the queue, want 1 (the joined one): %v", round, len(ahead), ahead)
		}
		if err := s.Leave(bg, "x", tk, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTerminatedSessionsAreNotErrorsForWrites: a change whose read went
// through and whose write's connection had been ended meanwhile (its
// session terminated before the write was sent) was answered 503 "may or
// may not have been made", though the database had not written it: a
// waiting PUT failed once. The server ended the session (FATAL), so the
// write is either committed or never will be; reading the lock back tells
// which, and a write not made is made again, once.
func TestTerminatedSessionsAreNotErrorsForWrites(t *testing.T) {
	s, app := namedStore(t)
	for round := 0; round < 3; round++ {
		fillPool(s)
		var once sync.Once
		pgstore.SetBeforeWrite(t, func() { once.Do(func() { endSessions(t, app) }) })
		l, _, err := s.Update(bg, "x", takeK)
		pgstore.SetBeforeWrite(t, nil)
		if err != nil {
			t.Fatalf("round %d: Update whose write's session was ended: %v", round, err)
		}
		if got := l.Holds.Get("k").Count; got != round+1 {
			t.Errorf("round %d: answered count %d, want %d", round, got, round+1)
		}
		stored, _, err := s.Get(bg, "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := stored.Holds.Get("k").Count; got != round+1 {
			t.Fatalf("round %d: stored count %d, want %d (taken twice?)", round, got, round+1)
		}
	}
}
