package pgstore

import (
	"context"
	"strings"
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
			events, err := lock.Acquire(l, lock.Request{Key: key, Holder: holder, TTL: 100 * time.Millisecond}, env)
			if err != nil {
				t.Errorf("acquire: %v", err)
			}
			return events
		}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // every lease has run out; nobody expired them
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
	if !strings.Contains(notification(message{Name: name, Events: forgotten, Version: 7, Lifetime: 1}), `"count":`) {
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
