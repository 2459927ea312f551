package lockservice_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// patience bounds every poll: generous, because the machine is shared and
// noisy. Tests never assert that something was fast.
const patience = 10 * time.Second

// env is a Service over a real filestore in a temporary directory.
type env struct {
	t     testing.TB
	path  string
	store *filestore.Store
	svc   *lockservice.Service
	stop  context.CancelFunc
}

// newEnv opens a store at a new temporary path and starts a Service on it.
func newEnv(t testing.TB, cfg lockservice.Config) *env {
	t.Helper()
	return openEnv(t, filepath.Join(t.TempDir(), "locks.yml"), cfg, filestore.Options{})
}

// openEnv opens (or reopens) the store at path and starts a Service on it.
// It is shut down at the end of the test unless closed before.
func openEnv(t testing.TB, path string, cfg lockservice.Config, opts filestore.Options) *env {
	t.Helper()
	store, err := filestore.Open(path, opts)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	svc := lockservice.New(store, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		store.Close()
		t.Fatalf("starting the service: %v", err)
	}
	e := &env{t: t, path: path, store: store, svc: svc, stop: cancel}
	t.Cleanup(e.close)
	return e
}

// close shuts the service and its store down; calling it twice is fine.
func (e *env) close() {
	e.svc.Close()
	e.stop()
	if err := e.store.Close(); err != nil {
		e.t.Errorf("closing the store: %v", err)
	}
}

// acquire takes a hold without waiting and fails the test on an error.
func (e *env) acquire(name, key, holder string, ttl time.Duration) lock.Lock {
	e.t.Helper()
	l, err := e.svc.Acquire(context.Background(), name, lock.Request{Key: key, Holder: holder, TTL: ttl}, 0)
	if err != nil {
		e.t.Fatalf("acquiring %q with key %q for %q: %v", name, key, holder, err)
	}
	return l
}

// release gives back one hold and fails the test unless one was released.
func (e *env) release(name, key, holder string) lock.Lock {
	e.t.Helper()
	l, released, err := e.svc.Release(context.Background(), name, key, holder)
	if err != nil || !released {
		e.t.Fatalf("releasing %q with key %q for %q: released %v, err %v", name, key, holder, released, err)
	}
	return l
}

func (e *env) get(name string) lock.Lock {
	e.t.Helper()
	l, err := e.svc.Get(context.Background(), name)
	if err != nil {
		e.t.Fatalf("getting %q: %v", name, err)
	}
	return l
}

func (e *env) history(name string) []lock.Event {
	e.t.Helper()
	h, err := e.svc.History(context.Background(), name)
	if err != nil {
		e.t.Fatalf("history of %q: %v", name, err)
	}
	return h
}

// result is what a waiting Acquire returned.
type result struct {
	who  string
	lock lock.Lock
	err  error
	at   time.Time
}

// waiter is an Acquire with wait running in its own goroutine.
type waiter struct {
	who    string
	done   chan result
	cancel context.CancelFunc
}

// startWaiter starts a waiting Acquire and returns once it is in the queue
// (the lock's waiter count went up by one), so that waiters started one after
// the other are queued in that order. The lock must be held under another
// key, or the waiter would take it at once.
func (e *env) startWaiter(name, key, holder string, ttl, wait time.Duration) *waiter {
	e.t.Helper()
	return e.startWaiterTo(nil, name, key, holder, ttl, wait)
}

// startWaiterTo is startWaiter sending its result to out as well (nil: not).
func (e *env) startWaiterTo(out chan<- result, name, key, holder string, ttl, wait time.Duration) *waiter {
	e.t.Helper()
	before := e.svc.Waiters(name)
	ctx, cancel := context.WithCancel(context.Background())
	w := &waiter{who: holder, done: make(chan result, 1), cancel: cancel}
	e.t.Cleanup(cancel)
	go func() {
		l, err := e.svc.Acquire(ctx, name, lock.Request{Key: key, Holder: holder, TTL: ttl}, wait)
		r := result{who: holder, lock: l, err: err, at: time.Now()}
		w.done <- r
		if out != nil {
			out <- r
		}
	}()
	e.eventually(func() bool { return e.svc.Waiters(name) == before+1 }, "waiter %q to join the queue of %q (waiters %d -> %d)", holder, name, before, before+1)
	return w
}

// wait returns the waiter's result, failing the test if none comes.
func (w *waiter) wait(t testing.TB) result {
	t.Helper()
	select {
	case r := <-w.done:
		return r
	case <-time.After(patience):
		t.Fatalf("waiter %q did not return within %s", w.who, patience)
		return result{}
	}
}

// pending fails the test if the waiter has returned.
func (w *waiter) pending(t testing.TB) {
	t.Helper()
	select {
	case r := <-w.done:
		t.Fatalf("waiter %q returned early: lock %+v, err %v", w.who, r.lock, r.err)
	default:
	}
}

// eventually polls cond until it holds, up to patience.
func (e *env) eventually(cond func() bool, format string, args ...any) {
	e.t.Helper()
	eventually(e.t, cond, format, args...)
}

func eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for "+format, append([]any{patience}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantCode fails the test unless err is a *lock.Error with code.
func wantCode(t testing.TB, err error, code string) *lock.Error {
	t.Helper()
	var e *lock.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got error %v (code %q), want code %q", err, lock.ErrorCode(err), code)
	}
	return e
}

// acquiredBy returns the holders of the history's "acquired" events, in order.
func acquiredBy(h []lock.Event) []string {
	var out []string
	for _, ev := range h {
		if ev.Type == lock.Acquired {
			out = append(out, ev.Holder)
		}
	}
	return out
}

// types lists the history's event types, e.g. "acquired:a released:a".
func types(h []lock.Event) string {
	parts := make([]string, len(h))
	for i, ev := range h {
		parts[i] = string(ev.Type) + ":" + ev.Holder
	}
	return strings.Join(parts, " ")
}
