package lock_test

import (
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// BenchmarkRulesAcquireRelease is one Acquire and one Release on a private
// copy of a lock, as a store runs them: the rules' own cost per change.
func BenchmarkRulesAcquireRelease(b *testing.B) {
	var fence uint64
	env := lock.Env{Now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), NextFence: func() uint64 { fence++; return fence }}
	committed := lock.Lock{Name: "deploy/prod"}
	r := lock.Request{Key: "pipeline", Holder: "worker-1"}
	b.ReportAllocs()
	for range b.N {
		l := committed.Clone()
		if _, err := lock.Acquire(&l, r, env); err != nil {
			b.Fatal(err)
		}
		l = l.Clone()
		if _, err := lock.Release(&l, r.Key, r.Holder, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRulesSharedAcquire takes one more hold on a lock shared by 10
// holders with leases (Expire checks every hold each time).
func BenchmarkRulesSharedAcquire(b *testing.B) {
	var fence uint64
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	env := lock.Env{Now: now, NextFence: func() uint64 { fence++; return fence }}
	shared := lock.Lock{Name: "shared"}
	for i := range 10 {
		if _, err := lock.Acquire(&shared, lock.Request{Key: "k", Holder: string(rune('a' + i)), TTL: time.Hour}, env); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for range b.N {
		l := shared.Clone()
		if _, err := lock.Acquire(&l, lock.Request{Key: "k", Holder: "c", TTL: time.Hour}, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClone is the copy every change starts with.
func BenchmarkClone(b *testing.B) {
	l := lock.Lock{Name: "x", Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"a": {Count: 1}, "b": {Count: 2}})}
	b.ReportAllocs()
	for range b.N {
		_ = l.Clone()
	}
}
