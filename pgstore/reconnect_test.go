package pgstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestTerminatedSessionsAreNotErrors: after the database ended the store's
// sessions (a restart, pg_terminate_backend), the pool still holds their
// connections, idle; the next reads and changes must get new ones, not
// answer 503 once for each dead connection.
func TestTerminatedSessionsAreNotErrors(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	app := "locker_reconnect_" + hex.EncodeToString(b)
	dbURL := pgtest.Schema(t) + "&application_name=" + app
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := 0; round < 3; round++ {
		// Several connections in the pool, idle.
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.List(bg)
			}()
		}
		wg.Wait()
		conn, err := pgx.Connect(bg, os.Getenv(pgtest.EnvVar))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(bg, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil || n == 0 {
			t.Fatalf("terminating the store's sessions: %d, %v", n, err)
		}
		conn.Close(bg)
		if _, _, err := s.Get(bg, "x"); err != nil {
			t.Errorf("round %d: Get after the sessions were ended: %v", round, err)
		}
		if _, err := s.List(bg); err != nil {
			t.Errorf("round %d: List: %v", round, err)
		}
		if _, err := s.History(bg, "x"); err != nil {
			t.Errorf("round %d: History: %v", round, err)
		}
		if _, _, err := s.Update(bg, "x", takeK); err != nil {
			t.Errorf("round %d: Update: %v", round, err)
		}
	}
}

// TestListenGapIsReported: when the store's LISTEN connection is lost and
// made again, notifications sent meanwhile are gone: the watcher is told
// (an empty name) that any lock may have changed, so that event streams
// end and their clients read again (a black-box review found a dashboard
// left "live" and stale after a database blip).
func TestListenGapIsReported(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	app := "locker_gap_" + hex.EncodeToString(b)
	dbURL := pgtest.Schema(t) + "&application_name=" + app
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gaps := make(chan struct{}, 10)
	s.Watch(func(name string, events []lock.Event) {
		if name == "" {
			gaps <- struct{}{}
		}
	})
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gaps:
		t.Fatal("a gap reported before any connection was lost")
	default:
	}
	conn, err := pgx.Connect(bg, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var n int
	if err := conn.QueryRow(bg, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminating the store's sessions: %d, %v", n, err)
	}
	select {
	case <-gaps:
	case <-time.After(30 * time.Second):
		t.Fatal("no gap reported after the LISTEN connection was ended")
	}
}
