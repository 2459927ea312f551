package pgstore_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestLateWriteIsNotMade: a change's write that reaches the database
// after the replica would have given up on it (held up in the network, say)
// is not made. Made, it would hold the lock for a client that was told
// the change may or may not have been made, read the lock back as told,
// and found it free: a hold nobody knows of.
func TestLateWriteIsNotMade(t *testing.T) {
	pgstore.SetWriteTimeout(t, time.Second) // the database's share: 800ms
	s, err := pgstore.Open(bg, pgtest.Schema(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pgstore.SetBeforeWrite(t, func() { time.Sleep(1100 * time.Millisecond) })
	_, _, err = s.Update(bg, "late", takeK)
	var le *lock.Error
	if !errors.As(err, &le) || le.Code != lock.EUNAVAILABLE || le.Unsure {
		t.Fatalf("a write that kept arriving late: %v, want EUNAVAILABLE saying it was not made", err)
	}
	pgstore.SetBeforeWrite(t, nil)
	if l, _, err := s.Get(bg, "late"); err != nil || l.Key != "" {
		t.Fatalf("the lock after late writes: %+v, %v; want it free", l, err)
	}
}

// TestGrantWrittenLateIsDecidedAgain: a grant whose write reaches the
// database after half its lease is not made as it was decided (its holder
// would learn of it with little or none of the lease left, the lock maybe
// another's by then): the lock is read and the grant decided again, with
// a lease of its own.
func TestGrantWrittenLateIsDecidedAgain(t *testing.T) {
	s, err := pgstore.Open(bg, pgtest.Schema(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ttl = 800 * time.Millisecond
	var writes atomic.Int32
	pgstore.SetBeforeWrite(t, func() {
		if writes.Add(1) == 1 {
			time.Sleep(ttl * 3 / 4)
		}
	})
	l, _, err := s.Update(bg, "leased", func(l *lock.Lock, env lock.Env) []lock.Event {
		ev, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "k", TTL: ttl}, env)
		return ev
	})
	if err != nil {
		t.Fatal(err)
	}
	left := time.Until(l.Holds.Get("k").Expires)
	if left < ttl/2 {
		t.Fatalf("granted with %s of its %s lease left (%d writes)", left, ttl, writes.Load())
	}
	if writes.Load() != 2 {
		t.Errorf("%d writes, want the late one and another", writes.Load())
	}
}

// TestGrantThatWaitedInTheDatabaseIsUndone: a grant's write that started
// in time but waited in the database (here for the lock's row, which
// another session holds locked) past half its lease is undone, not
// committed with little or none of the lease left, and the grant decided
// again.
func TestGrantThatWaitedInTheDatabaseIsUndone(t *testing.T) {
	dbURL := pgtest.Schema(t)
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	tx, err := conn.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(bg, "leased", takeK); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(bg, "leased", func(l *lock.Lock, env lock.Env) []lock.Event {
		ev, _ := lock.Release(l, "k", "k", env)
		return ev
	}); err != nil {
		t.Fatal(err)
	}
	// The lock's row, locked as another change's write would (a table
	// lock is waited for before the write's statement starts, which its
	// first check covers).
	if _, err := tx.Exec(bg, "SELECT 1 FROM locker_locks WHERE name = 'leased' FOR UPDATE"); err != nil {
		tx.Rollback(bg)
		t.Fatal(err)
	}
	const ttl = 800 * time.Millisecond
	rolledBack := make(chan struct{})
	time.AfterFunc(ttl*3/4, func() { tx.Rollback(bg); close(rolledBack) })
	defer func() { <-rolledBack }() // before conn.Close: one goroutine at a time on it
	l, _, err := s.Update(bg, "leased", func(l *lock.Lock, env lock.Env) []lock.Event {
		ev, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "k", TTL: ttl}, env)
		return ev
	})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(l.Holds.Get("k").Expires); left < ttl/2 {
		t.Fatalf("granted with %s of its %s lease left", left, ttl)
	}
	events, err := s.History(bg, "leased")
	if err != nil || len(events) != 3 {
		t.Fatalf("history: %+v, %v; want a grant, a release, and the one grant", events, err)
	}
}

// TestLeaseTooShortToGrantSaysSo: a grant whose lease is shorter than the
// database's round trips (ttl=1ms over a database a millisecond away, or
// 1ns anywhere) is never written in time, whatever the database does. Its
// 503 said "the lock database is too slow ... try again", and clients
// tried again for nothing; it names the lease and says to ask for a
// longer one.
func TestLeaseTooShortToGrantSaysSo(t *testing.T) {
	s, err := pgstore.Open(bg, pgtest.Schema(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.Update(bg, "short", func(l *lock.Lock, env lock.Env) []lock.Event {
		ev, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "k", TTL: time.Nanosecond}, env)
		return ev
	})
	var le *lock.Error
	if !errors.As(err, &le) || le.Code != lock.EUNAVAILABLE || le.Unsure {
		t.Fatalf("a grant of a 1ns lease: %v, want EUNAVAILABLE saying it was not made", err)
	}
	if !strings.Contains(le.Message, "1ns lease") || !strings.Contains(le.Message, "longer ttl") {
		t.Errorf("a grant of a 1ns lease: %q, want it to name the lease and ask for a longer ttl", le.Message)
	}
	if l, _, err := s.Get(bg, "short"); err != nil || l.Key != "" {
		t.Fatalf("the lock after the refused grant: %+v, %v; want it free", l, err)
	}
}

// TestNowIsTheDatabasesClock: the store's clock (lock.Clock) is the
// database's, here on the same machine as the test.
func TestNowIsTheDatabasesClock(t *testing.T) {
	s, err := pgstore.Open(bg, pgtest.Schema(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var _ lock.Clock = s
	now, err := s.Now(bg)
	if d := time.Since(now); err != nil || d < -5*time.Second || d > 5*time.Second {
		t.Fatalf("Now: %v, %v (%s from this machine's)", now, err, d)
	}
}
