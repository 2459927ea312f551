package pgstore_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestStatementsAreBounded: a database that does not answer (here, a table
// locked by another session; a network partition does the same to pooled
// connections) fails reads, changes and the wait queue with EUNAVAILABLE
// after QueryTimeout, rather than holding each request for as long as it
// lasts.
func TestStatementsAreBounded(t *testing.T) {
	dbURL := pgtest.Schema(t)
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	tx, err := conn.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(bg)
	if _, err := tx.Exec(bg, "LOCK TABLE locker_locks, locker_waiters IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	for what, do := range map[string]func() error{
		"Get":    func() error { _, _, err := s.Get(bg, "x"); return err },
		"List":   func() error { _, err := s.List(bg); return err },
		"Update": func() error { _, _, err := s.Update(bg, "y", takeK); return err },
		"Join":   func() error { _, err := s.Join(bg, "x", lock.Waiter{Key: "w", Holder: "w"}); return err },
		"Ahead":  func() error { _, err := s.Ahead(bg, "x", 0); return err },
		"Counts": func() error { _, err := s.Counts(bg); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- do() }()
		select {
		case err := <-done:
			if lock.ErrorCode(err) != lock.EUNAVAILABLE {
				t.Errorf("%s while the database does not answer: %v, want %s", what, err, lock.EUNAVAILABLE)
			}
		case <-time.After(patience):
			t.Fatalf("%s still waits for the database after %s", what, patience)
		}
	}
}

// takeK is a change that takes one hold under key k.
func takeK(l *lock.Lock, env lock.Env) []lock.Event {
	ev, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "k"}, env)
	return ev
}
