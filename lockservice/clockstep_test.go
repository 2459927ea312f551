package lockservice_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/internal/leaseclock"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// stepSource is a wall clock and a monotonic clock that a test moves by
// hand: a step moves the wall clock only, real time going by both.
type stepSource struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (s *stepSource) read() (time.Time, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wall, s.mono
}

func (s *stepSource) step(d time.Duration) {
	s.mu.Lock()
	s.wall = s.wall.Add(d)
	s.mu.Unlock()
}

// pass lets real time go by: both clocks move.
func (s *stepSource) pass(d time.Duration) {
	s.mu.Lock()
	s.wall = s.wall.Add(d)
	s.mono += d
	s.mu.Unlock()
}

// newLeaseClock is a lease clock over src: what the stores and the service
// decide leases by.
func newLeaseClock(src *stepSource) func() time.Time {
	return leaseclock.New(src.read, nil).Now
}

// clockedEnv is a Service over a file store whose clock, and the service's,
// is now.
func clockedEnv(t *testing.T, now func() time.Time) *env {
	t.Helper()
	return openEnv(t, filepath.Join(t.TempDir(), "locks.yml"), lockservice.Config{Now: now, PollInterval: 5 * time.Millisecond}, filestore.Options{Now: now})
}

// poke makes one attempt at the lock under another key without waiting: its
// change expires the leases that have run out by the store's clock (and so
// hands the lock to the waiter when one has), and it is refused either way.
func poke(t *testing.T, e *env, name string) string {
	t.Helper()
	_, err := e.svc.Acquire(context.Background(), name, lock.Request{Key: "poker", Holder: "poker"}, 0)
	return wantCode(t, err, lock.ECONFLICT).Message
}

// A step forward of the wall clock by an hour does not run out a lease of
// a minute: the lock goes to the waiter only once the lease has run out by
// the lease clock, which moves at most MaxRate of real time.
func TestWallClockStepForwardDoesNotHandTheLockOver(t *testing.T) {
	src := &stepSource{wall: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), mono: time.Second}
	now := newLeaseClock(src)
	e := clockedEnv(t, now)
	held := e.acquire("l", "a", "a", time.Minute)
	w := e.startWaiter("l", "b", "b", 0, 5*time.Minute)

	src.step(time.Hour)
	src.pass(time.Second)
	if msg := poke(t, e, "l"); !strings.Contains(msg, `held by key "a"`) {
		t.Fatalf("after the wall clock stepped forward an hour: %s; want the lock still held by a", msg)
	}
	if l := e.get("l"); l.Key != "a" || l.Fence != held.Fence {
		t.Fatalf("after the wall clock stepped forward an hour the lock is %+v; want it still held by a under fence %d", l, held.Fence)
	}
	w.pending(t)

	// Just before a minute / MaxRate of real time since the grant: still
	// a's.
	src.pass(57*time.Second - time.Second)
	if msg := poke(t, e, "l"); !strings.Contains(msg, `held by key "a"`) {
		t.Fatalf("57s after the grant (a lease of 1m cannot run out before 1m/1.05 = 57.14s): %s; want it still held by a", msg)
	}
	if l := e.get("l"); l.Key != "a" {
		t.Fatalf("57s after the grant the lock is %+v; want it still held by a", l)
	}
	w.pending(t)

	// Past it: run out by the lease clock, and the waiter has it.
	src.pass(200 * time.Millisecond)
	poke(t, e, "l")
	r := w.wait(t)
	if r.err != nil || r.lock.Key != "b" || r.lock.Fence <= held.Fence {
		t.Fatalf("once the lease ran out by the lease clock the waiter got %+v, %v; want the lock under key b", r.lock, r.err)
	}
	h := e.history("l")
	if got := types(h); !strings.Contains(got, "expired:a acquired:b") {
		t.Errorf("history %s; want a's lease expired, then b's acquired", got)
	}
}

// A step back of the wall clock never makes history go back.
func TestWallClockStepBackKeepsHistoryInOrder(t *testing.T) {
	src := &stepSource{wall: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), mono: time.Second}
	now := newLeaseClock(src)
	e := clockedEnv(t, now)
	e.acquire("l", "a", "a", time.Minute)
	src.pass(time.Second)
	src.step(-time.Hour)
	src.pass(time.Second)
	e.release("l", "a", "a")
	src.pass(time.Second)
	e.acquire("l", "b", "b", 0)
	h := e.history("l")
	for i := 1; i < len(h); i++ {
		if h[i].Time.Before(h[i-1].Time) {
			t.Errorf("history went back across a step of the wall clock back: %s at %v after %s at %v", h[i].Type, h[i].Time, h[i-1].Type, h[i-1].Time)
		}
	}
	if l := e.get("l"); l.Since.Before(h[0].Time) {
		t.Errorf("the lock's since %v is before its first event %v", l.Since, h[0].Time)
	}
}
