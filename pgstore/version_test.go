package pgstore_test

import (
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestVersionMovesOnWithoutTheTrigger: a change is written only over the
// version it read, and every write must move the version on even where
// the version trigger does not fire: with session_replication_role =
// replica (the database's or a role's default, set by a superuser, as for
// a logical replication subscriber), or the trigger disabled, PostgreSQL
// fires no ordinary trigger. The version then stayed put, a write over a
// stale read succeeded, and two replicas both granted one lock (seen by
// hand: ALTER DATABASE SET session_replication_role = replica, 30 clients
// on one lock over 3 replicas, mutual exclusion and fencing violated
// within seconds).
func TestVersionMovesOnWithoutTheTrigger(t *testing.T) {
	u := pgtest.Schema(t)
	a, err := pgstore.Open(bg, u, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pgstore.Open(bg, u, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release := func(l *lock.Lock, env lock.Env) []lock.Event {
		ev, _ := lock.Release(l, "k", "k", env)
		return ev
	}
	for _, m := range []lock.Mutation{takeK, release} { // the lock's row exists
		if _, _, err := a.Update(bg, "row", m); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(bg, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	if _, err := conn.Exec(bg, `ALTER TABLE locker_locks DISABLE TRIGGER locker_locks_version`); err != nil {
		t.Fatal(err)
	}
	take := func(key string) lock.Mutation {
		return func(l *lock.Lock, env lock.Env) []lock.Event {
			ev, _ := lock.Acquire(l, lock.Request{Key: key, Holder: key}, env)
			return ev
		}
	}
	// b reads the lock free; before it writes, a takes it.
	var first atomic.Bool
	var aErr error
	pgstore.SetBeforeWrite(t, func() {
		if first.CompareAndSwap(false, true) {
			_, _, aErr = a.Update(bg, "row", take("a"))
		}
	})
	bLock, _, bErr := b.Update(bg, "row", take("b"))
	if aErr != nil || bErr != nil {
		t.Fatalf("a's change: %v; b's change: %v", aErr, bErr)
	}
	got, _, err := a.Get(bg, "row")
	if err != nil {
		t.Fatal(err)
	}
	if bLock.Key != "a" || got.Key != "a" {
		t.Errorf("a took the lock between b's read and b's write, yet b's change answered the lock held under key %q, and the lock is now held under key %q", bLock.Key, got.Key)
	}
}
