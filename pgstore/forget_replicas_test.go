package pgstore_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// decidedAcross makes rule a change of name on r, with meanwhile made
// between the change's first read of the lock and its write (the store
// decides the change again when another came first). It returns how many
// times the rule was decided, and the error it gave the last time.
func decidedAcross(t *testing.T, r *replica, name string, rule func(*lock.Lock, lock.Env) ([]lock.Event, error), meanwhile func()) (calls int, ruleErr error) {
	t.Helper()
	read, goOn := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := r.store.Update(bg, name, func(l *lock.Lock, env lock.Env) []lock.Event {
			calls++
			if calls == 1 {
				read <- struct{}{}
				<-goOn
			}
			events, err := rule(l, env)
			ruleErr = err
			return events
		})
		done <- err
	}()
	<-read
	meanwhile()
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return calls, ruleErr
}

// forget is lock.Forget as a rule for decidedAcross.
func forget(l *lock.Lock, env lock.Env) ([]lock.Event, error) { return lock.Forget(l, env) }

// renew is a rule for decidedAcross: k renews its hour-long hold taken
// under fence.
func renew(fence uint64) func(*lock.Lock, lock.Env) ([]lock.Event, error) {
	return func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
		return lock.Refresh(l, "k", "k", time.Hour, lock.HoldRef{Fence: fence}, env)
	}
}

// TestForgetBetweenReadAndWrite: a replica that read a lock before another
// replica forgot it does not write the state it decided on that read (a
// renewed hold) back into a new row: its write finds the version gone,
// reads again, and finds no lock to renew.
func TestForgetBetweenReadAndWrite(t *testing.T) {
	db := pgtest.Schema(t)
	rs := openReplicas(t, db, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	held := a.acquire(t, "pr-7", "k", time.Hour)
	calls, refreshErr := decidedAcross(t, a, "pr-7", renew(held.Fence), func() {
		// Meanwhile, on the other replica: released and forgotten.
		if _, _, err := b.svc.Release(bg, "pr-7", "k", "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.Forget(bg, "pr-7"); err != nil {
			t.Fatal(err)
		}
	})
	if calls < 2 || lock.ErrorCode(refreshErr) != lock.ENOTFOUND {
		t.Errorf("the renewal was decided %d time(s), last with %v: want it decided again on the lock as it is now (gone: %s)", calls, refreshErr, lock.ENOTFOUND)
	}
	for _, r := range rs {
		if l, ok, err := r.store.Get(bg, "pr-7"); err != nil || ok {
			t.Errorf("%s: the forgotten lock is back: %+v (%v)", r.name, l, err)
		}
	}
}

// TestForgetRacesChange: a forget decided on a free lock that another
// replica takes before the forget's delete is not made: the delete finds
// the version gone, the forget is decided again, and refused (held).
func TestForgetRacesChange(t *testing.T) {
	db := pgtest.Schema(t)
	rs := openReplicas(t, db, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	a.acquire(t, "pr-8", "k", 0)
	if _, _, err := a.svc.Release(bg, "pr-8", "k", "k"); err != nil {
		t.Fatal(err)
	}
	var taken lock.Lock
	calls, forgetErr := decidedAcross(t, b, "pr-8", forget, func() { taken = a.acquire(t, "pr-8", "k2", 0) })
	if calls < 2 || lock.ErrorCode(forgetErr) != lock.ECONFLICT {
		t.Errorf("the forget was decided %d time(s), last with %v: want it decided again, and refused (%s)", calls, forgetErr, lock.ECONFLICT)
	}
	for _, r := range rs {
		if l, ok, err := r.store.Get(bg, "pr-8"); err != nil || !ok || l.Key != "k2" || l.Fence != taken.Fence {
			t.Errorf("%s: the lock taken meanwhile is %+v (found %v, %v); want it held by k2 under fence %d", r.name, l, ok, err, taken.Fence)
		}
	}
	if h, err := a.store.History(bg, "pr-8"); err != nil || len(h) != 3 {
		t.Errorf("history %+v (%v): want its 3 events kept", h, err)
	}
}

// TestForgetAndRetakeBetweenReadAndWrite: a replica that read a lock
// before another replica released it, forgot it and took the name again
// (a new row) does not write the state it decided on the old lock over the
// new one. The new row must not be mistaken for the one read: were a new
// lock's versions to start again at 1, the old read's version would match
// it, and the renewal of the old hold would overwrite the new holder's
// (a lost hold, and the fence going back).
func TestForgetAndRetakeBetweenReadAndWrite(t *testing.T) {
	db := pgtest.Schema(t)
	rs := openReplicas(t, db, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	held := a.acquire(t, "pr-9", "k", time.Hour)
	var taken lock.Lock
	calls, refreshErr := decidedAcross(t, a, "pr-9", renew(held.Fence), func() {
		// Meanwhile, on the other replica: released, forgotten, taken anew.
		if _, _, err := b.svc.Release(bg, "pr-9", "k", "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.Forget(bg, "pr-9"); err != nil {
			t.Fatal(err)
		}
		taken = b.acquire(t, "pr-9", "k2", time.Hour)
	})
	if calls < 2 || lock.ErrorCode(refreshErr) != lock.ECONFLICT {
		t.Errorf("the renewal was decided %d time(s), last with %v: want it decided again on the lock as it is now (held by k2: %s)", calls, refreshErr, lock.ECONFLICT)
	}
	for _, r := range rs {
		if l, ok, err := r.store.Get(bg, "pr-9"); err != nil || !ok || l.Key != "k2" || l.Fence != taken.Fence {
			t.Errorf("%s: the lock taken anew is %+v (found %v, %v); want it held by k2 under fence %d", r.name, l, ok, err, taken.Fence)
		}
	}
}

// TestStaleForgetSparesNewLock: a forget decided on a free lock that
// another replica meanwhile forgot, took anew and renewed (the new row at
// the version the forget read) does not delete the new lock: that would
// drop a hold answered with 200.
func TestStaleForgetSparesNewLock(t *testing.T) {
	db := pgtest.Schema(t)
	rs := openReplicas(t, db, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	a.acquire(t, "pr-10", "k", 0)
	if _, _, err := a.svc.Release(bg, "pr-10", "k", "k"); err != nil {
		t.Fatal(err)
	}
	var taken lock.Lock
	calls, forgetErr := decidedAcross(t, a, "pr-10", forget, func() {
		// Meanwhile, on the other replica: forgotten, taken anew, renewed
		// (versions 1 and 2 of the new row).
		if _, err := b.svc.Forget(bg, "pr-10"); err != nil {
			t.Fatal(err)
		}
		taken = b.acquire(t, "pr-10", "k2", time.Hour)
		if _, err := b.svc.Refresh(bg, "pr-10", "k2", "k2", time.Hour); err != nil {
			t.Fatal(err)
		}
	})
	if calls < 2 || lock.ErrorCode(forgetErr) != lock.ECONFLICT {
		t.Errorf("the forget was decided %d time(s), last with %v: want it decided again, and refused (%s)", calls, forgetErr, lock.ECONFLICT)
	}
	for _, r := range rs {
		if l, ok, err := r.store.Get(bg, "pr-10"); err != nil || !ok || l.Key != "k2" || l.Fence != taken.Fence {
			t.Errorf("%s: the lock taken anew is %+v (found %v, %v); want it held by k2 under fence %d", r.name, l, ok, err, taken.Fence)
		}
	}
}

// TestForgetEventsInOrderAcrossReplicas: a lock forgotten on one replica
// and taken anew on another reaches every event stream as it happened:
// the old lock's forgotten, then the new lock's acquired. The new lock
// starts again at version 1, so by versions alone the new lock's first
// change looks like a late one of the old lock: a replica that hears of the
// forget only after it made the new lock (announcements go after the
// commit, each replica's on its own) passed on the acquired first and the
// forgotten after it, and the dashboard dropped a lock that is held.
func TestForgetEventsInOrderAcrossReplicas(t *testing.T) {
	db := pgtest.Schema(t)
	// a's announcements are held up while hold is set (the hook is set
	// before the replicas start, so that it is gone only once they are).
	var (
		mu   sync.Mutex
		hold chan struct{}
	)
	pgstore.SetBeforeNotify(t, func(replica string) {
		mu.Lock()
		h := hold
		mu.Unlock()
		if replica == "replica-a" && h != nil {
			<-h
		}
	})
	rs := openReplicas(t, db, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	sub := b.svc.Events().Subscribe(100)
	defer b.svc.Events().Unsubscribe(sub)
	var got []string
	next := func(what string) {
		t.Helper()
		select {
		case evs := <-sub.C:
			for _, ev := range evs {
				got = append(got, fmt.Sprintf("%s %s", ev.Type, ev.Key))
			}
		case <-time.After(patience):
			t.Fatalf("%s never reached b's stream; it has %v", what, got)
		}
	}
	a.acquire(t, "pr-11", "k", 0)
	a.release(t, "pr-11", "k")
	for len(got) < 2 {
		next("the old lock's acquired and released")
	}
	h := make(chan struct{})
	mu.Lock()
	hold = h
	mu.Unlock()
	if _, err := a.svc.Forget(bg, "pr-11"); err != nil {
		t.Fatal(err)
	}
	// b makes the new lock before it hears of the forget.
	b.acquire(t, "pr-11", "k2", 0)
	mu.Lock()
	hold = nil
	mu.Unlock()
	close(h)
	for len(got) < 4 {
		next("the forget and the new lock's acquired")
	}
	want := []string{"acquired k", "released k", "forgotten ", "acquired k2"}
	if !slices.Equal(got, want) {
		t.Errorf("b's stream: %q, want %q (the old lock's forgotten before the new lock's acquired)", got, want)
	}
}
