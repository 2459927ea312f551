package lock_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestForget: only a free lock the store holds, that nobody waits for and
// that is in no pool, is forgotten; each refusal leaves it as it was and
// says why, and the events of a forget end with Forgotten.
func TestForget(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fence := uint64(41)
	env := func() lock.Env {
		return lock.Env{Now: now, NextFence: func() uint64 { fence++; return fence }, Found: true}
	}
	held := func(ttl time.Duration) lock.Lock {
		l := lock.Lock{Name: "deploy-pr-123"}
		if _, err := lock.Acquire(&l, lock.Request{Key: "k", Holder: "ci", TTL: ttl}, lock.Env{Now: now.Add(-time.Minute), NextFence: env().NextFence}); err != nil {
			t.Fatal(err)
		}
		return l
	}

	t.Run("free", func(t *testing.T) {
		l := held(0)
		lock.Release(&l, "k", "ci", env())
		events, err := lock.Forget(&l, env())
		if err != nil || !lock.Forgets(events) || len(events) != 1 {
			t.Fatalf("Forget of a free lock: %v, events %+v", err, events)
		}
		if ev := events[0]; ev.Type != lock.Forgotten || ev.Lock != "deploy-pr-123" || ev.Fence != l.Fence || !ev.Time.Equal(now) || ev.Key != "" {
			t.Errorf("forgotten event %+v", ev)
		}
	})
	t.Run("lease ran out", func(t *testing.T) {
		l := held(time.Second) // ran out 59 s ago
		events, err := lock.Forget(&l, env())
		if err != nil || len(events) != 2 || events[0].Type != lock.Expired || !lock.Forgets(events) {
			t.Fatalf("Forget of a lock whose lease ran out: %v, events %+v", err, events)
		}
	})
	t.Run("held", func(t *testing.T) {
		l := held(time.Hour)
		before := l.Clone()
		events, err := lock.Forget(&l, env())
		var e *lock.Error
		if lock.ErrorCode(err) != lock.ECONFLICT || lock.Forgets(events) || !errors.As(err, &e) || e.Lock == nil || e.Lock.Key != "k" {
			t.Fatalf("Forget of a held lock: %v (%+v), events %+v", err, e, events)
		}
		if !strings.Contains(err.Error(), `held by key "k"`) || !strings.Contains(err.Error(), "ci x1") {
			t.Errorf("the refusal does not say who holds it: %v", err)
		}
		if l.Key != before.Key || l.Fence != before.Fence || len(l.Holds) != 1 {
			t.Errorf("a refused forget changed the lock: %+v", l)
		}
	})
	t.Run("waited for", func(t *testing.T) {
		l := held(0)
		lock.Release(&l, "k", "ci", env())
		e := env()
		e.Queue = []lock.Queued{{Ticket: 1, Waiter: lock.Waiter{Key: "k2", Holder: "h"}}}
		events, err := lock.Forget(&l, e)
		if lock.ErrorCode(err) != lock.ECONFLICT || lock.Forgets(events) || !strings.Contains(err.Error(), "1 request(s) wait") {
			t.Fatalf("Forget of a lock with a waiter: %v, events %+v", err, events)
		}
	})
	t.Run("pool member", func(t *testing.T) {
		l := lock.Lock{Name: "worker-1", Pools: []string{"workers"}, FreeSince: now}
		events, err := lock.Forget(&l, env())
		if lock.ErrorCode(err) != lock.EINUSE || lock.Forgets(events) || !strings.Contains(err.Error(), "DELETE /pool/{pool}/{member}") || !strings.Contains(err.Error(), `"workers"`) {
			t.Fatalf("Forget of a pool member: %v, events %+v", err, events)
		}
	})
	t.Run("never seen", func(t *testing.T) {
		l := lock.Lock{Name: "nope"}
		e := env()
		e.Found = false
		events, err := lock.Forget(&l, e)
		if lock.ErrorCode(err) != lock.ENOTFOUND || len(events) != 0 {
			t.Fatalf("Forget of a name never seen: %v, events %+v", err, events)
		}
	})
	t.Run("Forgets", func(t *testing.T) {
		if lock.Forgets(nil) || lock.Forgets([]lock.Event{{Type: lock.Forgotten}, {Type: lock.Acquired}}) {
			t.Error("Forgets is true of events that do not end with Forgotten")
		}
	})
}
