package pgstore_test

import (
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// paused is a mutation that, the first time it is called, lets the test
// make other changes between its read of the lock and its write: it tells
// the test it has read (read), waits until the test is done (go on), then
// applies rule. The store calls it again when another change came first.
func paused(read chan<- struct{}, goOn <-chan struct{}, calls *int, rule lock.Mutation) lock.Mutation {
	return func(l *lock.Lock, env lock.Env) []lock.Event {
		*calls++
		if *calls == 1 {
			read <- struct{}{}
			<-goOn
		}
		return rule(l, env)
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

	read, goOn := make(chan struct{}), make(chan struct{})
	calls := 0
	var refreshErr error
	done := make(chan error, 1)
	go func() {
		_, _, err := a.store.Update(bg, "pr-7", paused(read, goOn, &calls, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.Refresh(l, "k", "k", time.Hour, held.Fence, env)
			refreshErr = err
			return events
		}))
		done <- err
	}()
	<-read
	// Meanwhile, on the other replica: released and forgotten.
	if _, _, err := b.svc.Release(bg, "pr-7", "k", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Forget(bg, "pr-7"); err != nil {
		t.Fatal(err)
	}
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
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

	read, goOn := make(chan struct{}), make(chan struct{})
	calls := 0
	var forgetErr error
	done := make(chan error, 1)
	go func() {
		_, _, err := b.store.Update(bg, "pr-8", paused(read, goOn, &calls, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.Forget(l, env)
			forgetErr = err
			return events
		}))
		done <- err
	}()
	<-read
	taken := a.acquire(t, "pr-8", "k2", 0)
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
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

	read, goOn := make(chan struct{}), make(chan struct{})
	calls := 0
	var refreshErr error
	done := make(chan error, 1)
	go func() {
		_, _, err := a.store.Update(bg, "pr-9", paused(read, goOn, &calls, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.Refresh(l, "k", "k", time.Hour, held.Fence, env)
			refreshErr = err
			return events
		}))
		done <- err
	}()
	<-read
	// Meanwhile, on the other replica: released, forgotten, taken anew.
	if _, _, err := b.svc.Release(bg, "pr-9", "k", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Forget(bg, "pr-9"); err != nil {
		t.Fatal(err)
	}
	taken := b.acquire(t, "pr-9", "k2", time.Hour)
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
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

	read, goOn := make(chan struct{}), make(chan struct{})
	calls := 0
	var forgetErr error
	done := make(chan error, 1)
	go func() {
		_, _, err := a.store.Update(bg, "pr-10", paused(read, goOn, &calls, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.Forget(l, env)
			forgetErr = err
			return events
		}))
		done <- err
	}()
	<-read
	// Meanwhile, on the other replica: forgotten, taken anew, renewed
	// (versions 1 and 2 of the new row).
	if _, err := b.svc.Forget(bg, "pr-10"); err != nil {
		t.Fatal(err)
	}
	taken := b.acquire(t, "pr-10", "k2", time.Hour)
	if _, err := b.svc.Refresh(bg, "pr-10", "k2", "k2", time.Hour); err != nil {
		t.Fatal(err)
	}
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls < 2 || lock.ErrorCode(forgetErr) != lock.ECONFLICT {
		t.Errorf("the forget was decided %d time(s), last with %v: want it decided again, and refused (%s)", calls, forgetErr, lock.ECONFLICT)
	}
	for _, r := range rs {
		if l, ok, err := r.store.Get(bg, "pr-10"); err != nil || !ok || l.Key != "k2" || l.Fence != taken.Fence {
			t.Errorf("%s: the lock taken anew is %+v (found %v, %v); want it held by k2 under fence %d", r.name, l, ok, err, taken.Fence)
		}
	}
}
