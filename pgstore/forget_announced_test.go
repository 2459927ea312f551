package pgstore

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestLargeForgetReachesOtherReplicas: a forget whose events are too
// large for a notification (holds whose leases ran out unnoticed, expired
// by the forget itself, under long names) is announced by reference, but
// its history is deleted with the lock: a listening replica must not take
// whatever the history holds then (nothing, or a new lock's events) for
// the forget's events, passing on a change with no forgotten, so that its
// event streams show the lock as still there, and never read again.
// It is told that the lock's events were missed instead.
func TestLargeForgetReachesOtherReplicas(t *testing.T) {
	dbURL := pgtest.Schema(t)
	ctx := context.Background()
	a, err := Open(ctx, dbURL, Options{Replica: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dbURL, Options{Replica: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type heard struct {
		name   string
		events []lock.Event
	}
	got := make(chan heard, 100)
	b.Watch(func(name string, events []lock.Event) { got <- heard{name, events} })

	name, key := strings.Repeat("n", 500), strings.Repeat("k", 500)
	for i := range 5 {
		holder := strings.Repeat(string(rune('a'+i)), 500)
		if _, _, err := a.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.Acquire(l, lock.Request{Key: key, Holder: holder, TTL: 2 * time.Second}, env)
			if err != nil {
				t.Errorf("acquire: %v", err)
			}
			return events
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Every lease has run out; nobody expired them. (2s: all five are
	// taken before the first runs out, even on a loaded machine, so that
	// no grant expires another's.)
	time.Sleep(2300 * time.Millisecond)
	var forgotten []lock.Event
	if _, _, err := a.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.Forget(l, env)
		if err != nil {
			t.Errorf("forget: %v", err)
		}
		forgotten = events
		return events
	}); err != nil {
		t.Fatal(err)
	}
	if !byReference(name, forgotten) {
		t.Fatalf("the forget's %d events fit in a notification: the test needs them not to: %+v", len(forgotten), forgotten)
	}
	// The name taken anew: b hears that after the forget (a announces its
	// changes in commit order, and b reads them in the order they came).
	if _, _, err := a.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, _ := lock.Acquire(l, lock.Request{Key: "new", Holder: "new"}, env)
		return events
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case h := <-got:
			if h.name == "" || lock.Forgets(h.events) {
				return // told that changes were missed, or the forget itself
			}
			for _, ev := range h.events {
				if ev.Type == lock.Acquired && ev.Holder == "new" {
					t.Fatalf("b heard the lock taken anew, but neither its forget nor that it missed changes (the forget was passed on as %d other events)", len(h.events))
				}
			}
		case <-deadline:
			t.Fatal("b heard neither the forget nor that it missed changes")
		}
	}
}

// TestAnnouncedEventsGoneFromTheHistoryAreAGap: a change announced by
// reference whose events are no longer in the history when a listening
// replica reads them (its lock forgotten meanwhile, the history with it,
// and made again; or trimmed by later changes) is a gap on that replica,
// not the events the history holds from the first id on, another change's
// (the lock made again's), passed on as that change's.
func TestAnnouncedEventsGoneFromTheHistoryAreAGap(t *testing.T) {
	dbURL := pgtest.Schema(t)
	ctx := context.Background()
	var (
		mu   sync.Mutex
		gate chan struct{}
	)
	beforeNotify = func(replica string) {
		mu.Lock()
		g := gate
		mu.Unlock()
		if replica == "a" && g != nil {
			<-g
		}
	}
	t.Cleanup(func() { beforeNotify = nil })
	a, err := Open(ctx, dbURL, Options{Replica: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dbURL, Options{Replica: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type heard struct {
		name   string
		events []lock.Event
	}
	got := make(chan heard, 100)
	b.Watch(func(name string, events []lock.Event) { got <- heard{name, events} })
	change := func(m func(*lock.Lock, lock.Env) ([]lock.Event, error)) []lock.Event {
		t.Helper()
		var out []lock.Event
		if _, _, err := a.Update(ctx, "x", func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := m(l, env)
			if err != nil {
				t.Errorf("%v", err)
			}
			out = events
			return events
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	key := strings.Repeat("k", 500)
	for i := range 7 {
		holder := strings.Repeat(string(rune('a'+i)), 500)
		change(func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
			return lock.Acquire(l, lock.Request{Key: key, Holder: holder, TTL: 2 * time.Second}, env)
		})
	}
	// Every lease has run out. (2s: the seven holds are all taken before
	// the first runs out, even on a loaded machine, so that none is
	// expired by the next one's grant.)
	time.Sleep(2300 * time.Millisecond)
	g := make(chan struct{})
	mu.Lock()
	gate = g // a's announcements wait from here on
	mu.Unlock()
	// Let them go, also when the test fails: a.Close waits for them.
	release := sync.OnceFunc(func() {
		mu.Lock()
		gate = nil
		mu.Unlock()
		close(g)
	})
	defer release()
	expired := change(func(l *lock.Lock, env lock.Env) ([]lock.Event, error) { return lock.Expire(l, env.Now), nil })
	if len(expired) != 7 || !byReference("x", expired) {
		t.Fatalf("%d expired events, fitting in a notification: the test needs 7 that do not", len(expired))
	}
	change(func(l *lock.Lock, env lock.Env) ([]lock.Event, error) { return lock.Forget(l, env) })
	change(func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
		return lock.Acquire(l, lock.Request{Key: "new", Holder: "new"}, env)
	})
	release()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case h := <-got:
			if h.name == "" {
				return // told that changes were missed
			}
			for _, ev := range h.events {
				if ev.Type == lock.Expired {
					return // the expiry's own events
				}
				if ev.Type == lock.Acquired && ev.Holder == "new" {
					t.Fatalf("b heard the lock made again before the expiry's events or a gap: %d events %v", len(h.events), ev)
				}
			}
		case <-deadline:
			t.Fatal("b heard neither the expiry nor that it missed changes")
		}
	}
}

// byReference reports whether a change of name with events is announced
// by reference: too large for a notification.
func byReference(name string, events []lock.Event) bool {
	var m message
	err := json.Unmarshal([]byte(notification(message{Name: name, Events: events, First: 1, Version: 1, Lifetime: 1, Replica: "a"})), &m)
	return err == nil && m.Events == nil && m.Count == len(events)
}

// TestLargeForgetDoesNotHoldTheNewLockBack: a forget too large for a
// notification reaches a listening replica without its events (they went
// with the lock), but it did reach it: the lock's version and lifetime
// after it are known, and the lock made again after it is not held back
// waiting for a forgotten that has come, as it is for one that has not
// (up to holdBack; here the replica's hold-back timers never run out).
func TestLargeForgetDoesNotHoldTheNewLockBack(t *testing.T) {
	dbURL := pgtest.Schema(t)
	ctx := context.Background()
	a, err := Open(ctx, dbURL, Options{Replica: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dbURL, Options{Replica: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.order.mu.Lock()
	b.order.afterFunc = (&testClock{}).afterFunc // never moved on
	b.order.mu.Unlock()
	type heard struct {
		name   string
		events []lock.Event
	}
	got := make(chan heard, 100)
	b.Watch(func(name string, events []lock.Event) { got <- heard{name, events} })
	deadline := time.After(10 * time.Second)
	name, key := strings.Repeat("n", 500), strings.Repeat("k", 500)
	for i := range 5 {
		holder := strings.Repeat(string(rune('a'+i)), 500)
		if _, _, err := a.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
			events, err := lock.Acquire(l, lock.Request{Key: key, Holder: holder, TTL: 2 * time.Second}, env)
			if err != nil {
				t.Errorf("acquire: %v", err)
			}
			return events
		}); err != nil {
			t.Fatal(err)
		}
	}
	// b has read every acquisition (by reference) before the forget
	// deletes them from the history.
	for acquired := 0; acquired < 5; {
		select {
		case h := <-got:
			if h.name == name {
				acquired += len(h.events)
			}
		case <-deadline:
			t.Fatalf("b heard %d of the 5 acquisitions", acquired)
		}
	}
	// Every lease has run out; nobody expired them. (2s: all five are
	// taken before the first runs out, even on a loaded machine, so that
	// no grant expires another's.)
	time.Sleep(2300 * time.Millisecond)
	var forgotten []lock.Event
	if _, _, err := a.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.Forget(l, env)
		if err != nil {
			t.Errorf("forget: %v", err)
		}
		forgotten = events
		return events
	}); err != nil {
		t.Fatal(err)
	}
	if !byReference(name, forgotten) {
		t.Fatalf("the forget's %d events fit in a notification: the test needs them not to: %+v", len(forgotten), forgotten)
	}
	if _, _, err := a.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, _ := lock.Acquire(l, lock.Request{Key: "new", Holder: "new"}, env)
		return events
	}); err != nil {
		t.Fatal(err)
	}
	toldMissed := false
	for {
		select {
		case h := <-got:
			if h.name == "" {
				toldMissed = true
			}
			for _, ev := range h.events {
				if ev.Type == lock.Acquired && ev.Holder == "new" {
					if !toldMissed {
						t.Errorf("b heard the lock taken anew before it was told that it missed the forget's events")
					}
					return
				}
			}
		case <-deadline:
			t.Fatalf("the lock taken anew never reached b (told it missed changes: %v): held back for a forget that came", toldMissed)
		}
	}
}
