package lockservice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// A change wakes the waiters that may be able to have the lock now, not
// every waiter: with hundreds of waiters on one lock, each woken one made
// a change attempt (a store update that read the whole queue) at every
// hand-off, and hand-offs took hundreds of milliseconds.

// waking is a service over a store that counts the changes (attempts
// included) of lock m, whose poll is an hour away: nothing but wake-ups
// reaches its waiters.
type waking struct {
	svc   *lockservice.Service
	store *heldUpStore
	ctx   context.Context
}

func startWaking(t *testing.T) *waking {
	t.Helper()
	w := &waking{store: &heldUpStore{Store: memstore.New(memstore.Options{}), name: "m"}}
	w.svc = lockservice.New(w.store, lockservice.Config{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w.ctx = ctx
	if err := w.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// wait starts a waiting request for m (by name) and returns its outcome.
func (w *waking) wait(key, holder string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := w.svc.Acquire(w.ctx, "m", lock.Request{Key: key, Holder: holder}, time.Hour)
		done <- err
	}()
	return done
}

// take has key (its own holder) take m at once; release gives it back.
func (w *waking) take(t *testing.T, key string) {
	t.Helper()
	if _, err := w.svc.Acquire(w.ctx, "m", lock.Request{Key: key, Holder: key}, 0); err != nil {
		t.Fatal(err)
	}
}

func (w *waking) release(t *testing.T, key string) {
	t.Helper()
	if _, _, err := w.svc.Release(w.ctx, "m", key, key); err != nil {
		t.Fatal(err)
	}
}

// queued waits until n requests wait in queue.
func (w *waking) queued(t *testing.T, queue string, n int) {
	t.Helper()
	for deadline := time.Now().Add(patience); w.svc.WaiterCounts(w.ctx)[queue] != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters of %s, want %d", w.svc.WaiterCounts(w.ctx)[queue], queue, n)
		}
	}
}

func granted(t *testing.T, done <-chan error, who string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
	case <-time.After(patience):
		t.Fatalf("%s was not granted the lock", who)
	}
}

func stillWaiting(t *testing.T, done <-chan error, who string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v), want it still waiting", who, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestReleaseWakesTheFirstWaiterOnly: 100 waiters with keys of their own;
// a release hands the lock to the first, and the others, which must wait
// behind it whatever happens, make no attempt.
func TestReleaseWakesTheFirstWaiterOnly(t *testing.T) {
	w := startWaking(t)
	w.take(t, "h")
	const n = 100
	var waits []<-chan error
	for i := range n {
		waits = append(waits, w.wait(fmt.Sprint("k", i), fmt.Sprint("k", i)))
		w.queued(t, "m", i+1) // in this order
	}
	time.Sleep(20 * time.Millisecond)
	before := w.store.changes.Load()
	for i := range 3 {
		holder := "h"
		if i > 0 {
			holder = fmt.Sprint("k", i-1)
		}
		w.release(t, holder)
		granted(t, waits[i], fmt.Sprint("waiter ", i))
	}
	time.Sleep(50 * time.Millisecond) // time for woken waiters to look
	// Three releases and three grants, and a few more (a woken waiter
	// may look before the release's change is done).
	if got := w.store.changes.Load() - before; got > 20 {
		t.Errorf("%d changes of m for 3 hand-offs among %d waiters: every waiter was woken", got, n)
	}
	stillWaiting(t, waits[3], "waiter 3")
}

// TestReleaseWakesEveryWaiterOfTheFirstKey: the waiters right behind the
// first with its key share the lock with it; a waiter with that key behind
// one with another does not.
func TestReleaseWakesEveryWaiterOfTheFirstKey(t *testing.T) {
	w := startWaking(t)
	w.take(t, "h")
	a1 := w.wait("a", "a1")
	w.queued(t, "m", 1)
	a2 := w.wait("a", "a2")
	w.queued(t, "m", 2)
	b := w.wait("b", "b")
	w.queued(t, "m", 3)
	a3 := w.wait("a", "a3")
	w.queued(t, "m", 4)
	w.release(t, "h")
	granted(t, a1, "a1")
	granted(t, a2, "a2")
	stillWaiting(t, b, "b")
	stillWaiting(t, a3, "a3 (behind b)")
}

// TestHolderTakingItsLockAgainIsWoken: a waiter behind one with another
// key may still take the lock when its own holder holds it under its key
// (a holder re-enters): here the holder got it through a pool, where it
// waited first. That grant wakes it.
func TestHolderTakingItsLockAgainIsWoken(t *testing.T) {
	w := startWaking(t)
	if _, err := w.svc.AddMember(w.ctx, "p", "m", nil); err != nil {
		t.Fatal(err)
	}
	w.take(t, "x")
	fromPool := make(chan error, 1)
	go func() {
		_, err := w.svc.AcquireFromPool(w.ctx, "p", lock.Request{Key: "k", Holder: "h"}, time.Hour)
		fromPool <- err
	}()
	w.queued(t, "\x01pool\x01p", 1)
	j := w.wait("j", "j")
	w.queued(t, "m", 1)
	again := w.wait("k", "h")
	w.queued(t, "m", 2)
	w.release(t, "x")
	granted(t, fromPool, "the pool waiter")
	granted(t, again, "the waiter by name whose holder now holds m under its key")
	stillWaiting(t, j, "j")
	if l, _ := w.svc.Get(w.ctx, "m"); l.Holds.Get("h").Count != 2 {
		t.Errorf("m: %+v, want h holding it twice", l)
	}
}
