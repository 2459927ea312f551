package pgstore_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

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
