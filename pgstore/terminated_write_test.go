package pgstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
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

// TestWriteEndedWhileWaitingIsMadeOnce: a write that waits in the database
// (on a row another session holds) when its session is terminated is
// rolled back; the change is read and decided again, and made once.
func TestWriteEndedWhileWaitingIsMadeOnce(t *testing.T) {
	s, app, url := namedStoreAt(t)
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}
	// Connected to the store's own schema (a lookup of the newest test
	// schema found another package's, made meanwhile, when packages ran
	// at once: "relation ... locker_locks does not exist").
	conn, err := pgx.Connect(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	tx, err := conn.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `SELECT 1 FROM locker_locks WHERE name = 'x' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var got lock.Lock
	go func() {
		var err error
		got, _, err = s.Update(bg, "x", takeK)
		done <- err
	}()
	for waiting := false; !waiting; {
		time.Sleep(10 * time.Millisecond)
		if err := conn.QueryRow(bg, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock')`, app).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	endSessions(t, app)
	if err := tx.Commit(bg); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Update whose waiting write's session was ended: %v", err)
	}
	if c := got.Holds.Get("k").Count; c != 2 {
		t.Errorf("answered count %d, want 2", c)
	}
	stored, _, err := s.Get(bg, "x")
	if err != nil {
		t.Fatal(err)
	}
	if c := stored.Holds.Get("k").Count; c != 2 {
		t.Errorf("stored count %d, want 2", c)
	}
}

// TestTerminatedSessionsAreNotErrorsForLeave: a waiter that leaves the
// queue right after its sessions were ended (granted, or its wait ran out)
// must leave at once, not fail on a dead connection and stay in line, not
// renewed, until the heartbeat deletes it (its kept place lost).
func TestTerminatedSessionsAreNotErrorsForLeave(t *testing.T) {
	s, app := namedStore(t)
	for _, keep := range []time.Duration{0, 5 * time.Second} {
		tk, err := s.Join(bg, "x", lock.Waiter{Key: "k", Holder: "h"})
		if err != nil {
			t.Fatal(err)
		}
		fillPool(s)
		endSessions(t, app)
		if err := s.Leave(bg, "x", tk, keep); err != nil {
			t.Errorf("keep %s: Leave after the sessions were ended: %v", keep, err)
		}
		if keep > 0 {
			// The place is kept: joining again takes it back.
			again, err := s.Join(bg, "x", lock.Waiter{Key: "k", Holder: "h"})
			if err != nil {
				t.Fatal(err)
			}
			if again != tk {
				t.Errorf("joined again as %d, want the kept place %d", again, tk)
			}
			s.Leave(bg, "x", again, 0)
		}
	}
}

// TestJoinAfterAnEndedSessionTakesItsRowBack: a Join whose session the
// database ended may have written its row (committed, the answer lost):
// joining again takes that row back rather than leaving it in line, not
// renewed, ahead of later waiters; but never a row a live waiter of the
// same key and holder has.
func TestJoinAfterAnEndedSessionTakesItsRowBack(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	app := "locker_test_" + hex.EncodeToString(b)
	url := pgtest.Schema(t) + "&application_name=" + app
	s, err := pgstore.Open(bg, url, pgstore.Options{Replica: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := pgx.Connect(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	w := lock.Waiter{Key: "k", Holder: "h"}
	live, err := s.Join(bg, "x", w)
	if err != nil {
		t.Fatal(err)
	}
	// The row of a Join whose answer was lost, as the database holds it.
	var orphan int64
	if err := conn.QueryRow(bg, `INSERT INTO locker_waiters (name, key, holder, replica) VALUES ('x', 'k', 'h', 'r1') RETURNING id`).Scan(&orphan); err != nil {
		t.Fatal(err)
	}
	fillPool(s)
	endSessions(t, app)
	got, err := s.Join(bg, "x", w)
	if err != nil {
		t.Fatal(err)
	}
	if int64(got) != orphan {
		t.Errorf("joined as %d, want the row left behind, %d (the live waiter's is %d)", got, orphan, live)
	}
	ahead, err := s.Ahead(bg, "x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ahead) != 2 {
		t.Errorf("%d waiters in line, want 2: %v", len(ahead), ahead)
	}
}
