package lockservice_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// next reads one event from the subscription, failing the test if none
// comes.
func next(t *testing.T, sub *lockservice.Subscription) lock.Event {
	t.Helper()
	if p := pending[sub]; len(p) > 0 {
		pending[sub] = p[1:]
		return p[0]
	}
	select {
	case evs, ok := <-sub.C:
		if !ok {
			t.Fatal("subscription closed")
		}
		if len(evs) == 0 {
			t.Fatal("a change without events")
		}
		pending[sub] = evs[1:]
		return evs[0]
	case <-time.After(patience):
		t.Fatalf("no event within %s", patience)
	}
	return lock.Event{}
}

// pending holds the rest of the change next read last from a subscription
// (the tests here are not parallel).
var pending = map[*lockservice.Subscription][]lock.Event{}

// TestEventsInOrder: a subscriber sees every committed change, in order:
// acquisitions, releases, expiries and forced releases.
func TestEventsInOrder(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	sub := e.svc.Events().Subscribe(100)
	defer e.svc.Events().Unsubscribe(sub)

	e.acquire("x", "A", "a", 0)
	e.acquire("x", "A", "b", 0)
	e.release("x", "A", "a")
	e.acquire("y", "B", "c", 100*time.Millisecond)
	e.eventually(func() bool { l := e.get("y"); return l.Free() }, "y's lease to expire")
	if _, _, err := e.svc.ForceRelease(context.Background(), "x", "operator"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(context.Background(), "x", "A", "b", time.Hour); err == nil {
		t.Fatal("refresh after the forced release succeeded")
	}

	want := []struct {
		typ          lock.EventType
		lock, holder string
		count        int
		by           string
	}{
		{lock.Acquired, "x", "a", 1, ""},
		{lock.Acquired, "x", "b", 1, ""},
		{lock.Released, "x", "a", 0, ""},
		{lock.Acquired, "y", "c", 1, ""},
		{lock.Expired, "y", "c", 0, ""},
		{lock.Forced, "x", "b", 0, "operator"},
	}
	var fence uint64
	for i, w := range want {
		ev := next(t, sub)
		if ev.Type != w.typ || ev.Lock != w.lock || ev.Holder != w.holder || ev.Count != w.count || ev.By != w.by {
			t.Fatalf("event %d: %+v, want %s of %s by holder %s (count %d, by %q)", i, ev, w.typ, w.lock, w.holder, w.count, w.by)
		}
		if ev.Time.IsZero() || ev.Fence == 0 {
			t.Fatalf("event %d has no time or fence: %+v", i, ev)
		}
		if ev.Type == lock.Acquired && ev.Count == 1 && ev.Fence < fence {
			t.Fatalf("event %d: fence %d went back from %d", i, ev.Fence, fence)
		}
		fence = max(fence, ev.Fence)
	}
	if len(pending[sub]) > 0 {
		t.Fatalf("unexpected events %+v", pending[sub])
	}
	select {
	case evs := <-sub.C:
		t.Fatalf("unexpected events %+v", evs)
	default:
	}
}

// TestEventsSlowSubscriberDropped: a subscriber that does not read is dropped
// when its buffer fills; lock operations never wait for it, and other
// subscribers keep getting everything.
func TestEventsSlowSubscriberDropped(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	slow := e.svc.Events().Subscribe(2)
	fast := e.svc.Events().Subscribe(1000)
	defer e.svc.Events().Unsubscribe(fast)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			e.svc.Acquire(context.Background(), "x", lock.Request{Key: "K", Holder: "h"}, 0)
			e.svc.Release(context.Background(), "x", "K", "h")
		}
	}()
	select {
	case <-done:
	case <-time.After(patience):
		// Unblock the store so that the test can end, then fail.
		go func() {
			for range slow.C {
			}
		}()
		go func() {
			for range fast.C {
			}
		}()
		t.Fatal("lock operations blocked on a subscriber that does not read")
	}
	// The slow one got what fit in its buffer, then its channel was closed.
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 {
		t.Fatalf("slow subscriber got %d changes before being dropped, want its buffer's 2", n)
	}
	if !e.svc.Events().Dropped(slow) {
		t.Fatal("Dropped is false for a subscriber the broker dropped")
	}
	e.svc.Events().Unsubscribe(slow) // after a drop: no double close
	for i := 0; i < 40; i++ {
		ev := next(t, fast)
		want := lock.Acquired
		if i%2 == 1 {
			want = lock.Released
		}
		if ev.Type != want {
			t.Fatalf("fast subscriber event %d: %s, want %s", i, ev.Type, want)
		}
	}
	if e.svc.Events().Dropped(fast) {
		t.Fatal("a subscriber that kept up was dropped")
	}
}

// TestBrokerPublishNeverBlocks: Publish to a subscriber with no room returns
// at once and drops it; Unsubscribe closes a live subscription and is
// harmless twice.
func TestBrokerPublishNeverBlocks(t *testing.T) {
	b := lockservice.NewBroker()
	full := b.Subscribe(0)
	live := b.Subscribe(1)
	done := make(chan struct{})
	go func() {
		b.Publish([]lock.Event{{Type: lock.Acquired, Lock: "x"}})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(patience):
		go func() {
			for range full.C {
			}
		}()
		t.Fatal("Publish blocked on a subscriber without room")
	}
	if _, ok := <-full.C; ok || !b.Dropped(full) {
		t.Fatalf("subscriber without room: closed %v, dropped %v; want both", !ok, b.Dropped(full))
	}
	if evs := <-live.C; len(evs) != 1 || evs[0].Lock != "x" {
		t.Fatalf("live subscriber got %+v", evs)
	}
	b.Unsubscribe(live)
	b.Unsubscribe(live)
	if _, ok := <-live.C; ok || b.Dropped(live) {
		t.Fatal("an unsubscribed subscription is open, or reported as dropped")
	}
	b.Publish([]lock.Event{{Type: lock.Released, Lock: "x"}}) // no subscribers: fine
}

// TestBrokerLargeChangeKeepsUp: one change with more events than a
// subscriber's buffer (a force release of a lock with 2,000 holders)
// reaches a subscriber that keeps up whole: falling behind is counted in
// changes.
func TestBrokerLargeChangeKeepsUp(t *testing.T) {
	b := lockservice.NewBroker()
	sub := b.Subscribe(4)
	defer b.Unsubscribe(sub)
	big := make([]lock.Event, 2000)
	for i := range big {
		big[i] = lock.Event{Type: lock.Forced, Lock: "x", Holder: fmt.Sprint("h", i)}
	}
	b.Publish(big)
	b.Publish([]lock.Event{{Type: lock.Acquired, Lock: "x"}})
	if evs := <-sub.C; len(evs) != 2000 || b.Dropped(sub) {
		t.Fatalf("got %d events of the large change (dropped: %v), want 2000", len(evs), b.Dropped(sub))
	}
	if evs := <-sub.C; len(evs) != 1 || evs[0].Type != lock.Acquired {
		t.Fatalf("the change after it: %+v", evs)
	}
}

// TestForceRelease: force releases every hold whatever the key, records who
// did it in the history, and wakes waiters.
func TestForceRelease(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	e.acquire("x", "A", "a", 0)
	e.acquire("x", "A", "a", 0)
	e.acquire("x", "A", "b", time.Hour)
	w := e.startWaiter("x", "B", "w", 0, longWait)
	l, events, err := e.svc.ForceRelease(context.Background(), "x", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("force release returned events %+v, want one per holder", events)
	}
	if !l.Free() {
		t.Fatalf("after force release: %+v, want free", l)
	}
	if r := w.wait(t); r.err != nil || r.lock.Key != "B" {
		t.Fatalf("waiter after force release: lock %+v, err %v", r.lock, r.err)
	}
	var forced []string
	for _, ev := range e.history("x") {
		if ev.Type == lock.Forced {
			if ev.By != "alice" || ev.Key != "A" || ev.Count != 0 {
				t.Fatalf("forced event %+v, want by alice, key A, count 0", ev)
			}
			forced = append(forced, ev.Holder)
		}
	}
	if strings.Join(forced, ",") != "a,b" {
		t.Fatalf("forced events for %v, want a and b", forced)
	}

	// A free lock, or one never seen: not an error, nothing recorded.
	e.release("x", "B", "w")
	before := len(e.history("x"))
	if _, events, err := e.svc.ForceRelease(context.Background(), "x", "alice"); err != nil || len(events) != 0 {
		t.Fatalf("force release of a free lock: events %v, err %v", events, err)
	}
	if n := len(e.history("x")); n != before {
		t.Fatalf("force release of a free lock added %d events", n-before)
	}
	if _, _, err := e.svc.ForceRelease(context.Background(), "", "alice"); lock.ErrorCode(err) != lock.EINVALID {
		t.Fatalf("force release of an empty name: %v, want EINVALID", err)
	}
}

// TestHistoryBounded: history keeps the last events up to the store's limit.
func TestHistoryBounded(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	for i := 0; i < 70; i++ {
		e.acquire("x", "K", fmt.Sprint(i), 0)
		e.release("x", "K", fmt.Sprint(i))
	}
	h := e.history("x")
	if len(h) != 100 {
		t.Fatalf("history has %d events, want the default limit of 100", len(h))
	}
	if first, last := h[0], h[99]; first.Holder != "20" || first.Type != lock.Acquired || last.Holder != "69" || last.Type != lock.Released {
		t.Fatalf("history runs from %+v to %+v, want the last 100 events", first, last)
	}
	if _, err := e.svc.History(context.Background(), "never"); lock.ErrorCode(err) != lock.ENOTFOUND {
		t.Fatalf("history of a lock never seen: %v, want ENOTFOUND", err)
	}
}

// TestBrokerMissed: Missed ends every subscription as dropped, telling it
// apart from one dropped for falling behind; later subscriptions are not
// affected.
func TestBrokerMissed(t *testing.T) {
	b := lockservice.NewBroker()
	a, c := b.Subscribe(4), b.Subscribe(4)
	b.Missed()
	for _, s := range []*lockservice.Subscription{a, c} {
		if _, ok := <-s.C; ok || !b.Dropped(s) || !b.MissedChanges(s) {
			t.Fatalf("after Missed: closed %v, dropped %v, missed %v; want all", !ok, b.Dropped(s), b.MissedChanges(s))
		}
	}
	later := b.Subscribe(4)
	b.Publish([]lock.Event{{Type: lock.Acquired, Lock: "x"}})
	if evs := <-later.C; len(evs) != 1 || b.MissedChanges(later) {
		t.Fatalf("a subscription after Missed: %v", evs)
	}
}
