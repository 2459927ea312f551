package filestore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// hangingSync makes the store's log segment's next fsync hang (a dead NFS
// server, a failing device, a stalled network volume) until the returned
// release is called; entered is closed once the fsync hangs. Later fsyncs
// do the real thing.
func hangingSync(t *testing.T, s *Store) (entered <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	hung := false
	s.logMu.Lock()
	s.logFaults = &logFaults{syncErr: func() error {
		if !hung { // commit loop only
			hung = true
			close(in)
			<-out
		}
		return nil
	}}
	s.logMu.Unlock()
	released := false
	release = func() {
		if !released {
			released = true
			close(out)
		}
	}
	t.Cleanup(release) // never leave the commit loop hung: Close waits for it
	return in, release
}

// shortStall makes the stores the test opens take a write in flight for
// longer than d for a hung one.
func shortStall(t *testing.T, d time.Duration) {
	t.Helper()
	was := writeStallAfter
	writeStallAfter = d
	t.Cleanup(func() { writeStallAfter = was })
}

// TestHungWriteNotReady: a write whose fsync does not return (a hung disk)
// made every change wait without end while Ready said the store was ready
// (Ready only looked at the last write's error), so load balancers kept
// sending traffic and nothing showed it. Now, once a write has been in
// flight longer than the bound, Ready fails saying for how long (and no
// file path), WriteInFlight (the metric) says how long, one WARN says so;
// as soon as the write completes, Ready is ready again and an INFO says
// how long it took. The changes that waited are made, in memory and on
// disk.
func TestHungWriteNotReady(t *testing.T) {
	shortStall(t, 50*time.Millisecond)
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	logger, logs := testLogger(t)
	s := openT(t, path, Options{Logger: logger})
	acquire(t, s, "a", "k", "", 0)
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready before the hang: %v", err)
	}
	if d := s.WriteInFlight(); d != 0 {
		t.Fatalf("WriteInFlight with no write: %v", d)
	}

	entered, release := hangingSync(t, s)
	acquired := make(chan error, 1)
	go func() { _, _, err := tryAcquire(s, "b", "k", "", 0); acquired <- err }()
	<-entered

	var rerr error
	eventually(t, "Ready fails while the write hangs", func() bool {
		rerr = s.Ready(context.Background())
		return rerr != nil
	})
	if errCode(rerr) != lock.EUNAVAILABLE {
		t.Errorf("Ready's error %v: code %q, want %q", rerr, errCode(rerr), lock.EUNAVAILABLE)
	}
	sum := lock.ErrorSummary(rerr)
	if !strings.Contains(sum, "writing to disk for") || strings.Contains(sum, dir) {
		t.Errorf("what /readyz says: %q; want how long the store has been writing, and no path", sum)
	}
	if d := s.WriteInFlight(); d < 50*time.Millisecond {
		t.Errorf("WriteInFlight while the write hangs: %v", d)
	}
	eventually(t, "a WARN says a write hangs", func() bool {
		return strings.Contains(logs.String(), "level=WARN msg=\"a write to disk has not returned")
	})
	// What the health checks log (the error's Message) stays the same
	// while the write hangs, so that they log it once a minute, not at
	// each check: only the answer (Summary) counts the seconds.
	if again := s.Ready(context.Background()); again == nil || again.Error() != rerr.Error() {
		t.Errorf("Ready's message changed while the same write hangs: %v, then %v", rerr, again)
	}
	select {
	case err := <-acquired:
		t.Fatalf("the change returned while its write hangs: %v", err)
	default:
	}

	release()
	if err := <-acquired; err != nil {
		t.Fatalf("the change that waited for the hung write: %v", err)
	}
	eventually(t, "Ready once the write completed", func() bool { return s.Ready(context.Background()) == nil })
	eventually(t, "WriteInFlight 0 once the write completed", func() bool { return s.WriteInFlight() == 0 })
	eventually(t, "an INFO says the write completed", func() bool {
		return strings.Contains(logs.String(), "level=INFO msg=\"the write to disk that had not returned completed")
	})
	// The watch looked many times (every tenth of the bound) while the
	// write hung: one line, not one a look.
	if n := strings.Count(logs.String(), "a write to disk has not returned"); n != 1 {
		t.Errorf("%d WARN lines for one hung write, want 1:\n%s", n, logs.String())
	}
	acquire(t, s, "c", "k", "", 0)
	closeT(t, s)
	s = openT(t, path, Options{})
	for _, name := range []string{"a", "b", "c"} {
		if l, ok := getT(t, s, name); !ok || l.Key != "k" {
			t.Errorf("after a restart, lock %s: %+v %v", name, l, ok)
		}
	}
}

// TestHungWriteClientGivesUp: while a write hangs, a client that gives up
// (its request's context ends) on a change queued behind it does not take
// the change back: it is in the batch that will be written, and once
// written it is made, in memory as on disk; the call returns only then,
// so the lock service above knows it was made (and gives a hold back,
// lockservice.kept). A change to the same lock waiting for the one in
// flight, given up, is not made at all.
func TestHungWriteClientGivesUp(t *testing.T) {
	shortStall(t, 50*time.Millisecond)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "", 0)
	entered, release := hangingSync(t, s)
	first := make(chan error, 1)
	go func() { _, _, err := tryAcquire(s, "b", "k", "", 0); first <- err }()
	<-entered

	// Queued behind the hung write (the next batch), then given up.
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, _, err := s.Update(ctx, "c", acquireM(lock.Request{Key: "k"}, nil))
		queued <- err
	}()
	eventually(t, "the change to c is queued", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return len(s.queue) == 1
	})
	// Waiting for the change to b in flight, then given up.
	ctx2, cancel2 := context.WithCancel(context.Background())
	behind := make(chan error, 1)
	go func() {
		_, _, err := s.Update(ctx2, "b", releaseM("k", "", nil))
		behind <- err
	}()
	cancel2()
	if err := <-behind; !errors.Is(err, context.Canceled) {
		t.Errorf("a change given up while it waited for another to the same lock: %v", err)
	}
	cancel()
	select {
	case err := <-queued:
		t.Fatalf("a queued change returned before its write: %v", err)
	default:
	}
	if _, ok := getT(t, s, "c"); ok {
		t.Error("a queued change is in memory before it is written")
	}

	release()
	if err := <-first; err != nil {
		t.Fatalf("the change in the hung write: %v", err)
	}
	if err := <-queued; err != nil {
		t.Fatalf("the queued change given up: %v, want made (it was written)", err)
	}
	for _, name := range []string{"b", "c"} {
		if l, ok := getT(t, s, name); !ok || l.Key != "k" {
			t.Errorf("in memory, lock %s: %+v %v", name, l, ok)
		}
	}
	closeT(t, s)
	s = openT(t, path, Options{})
	for _, name := range []string{"a", "b", "c"} {
		if l, ok := getT(t, s, name); !ok || l.Key != "k" {
			t.Errorf("after a restart, lock %s: %+v %v", name, l, ok)
		}
	}
}
