package lockservice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestKeptPlacesGoAway: the places kept for waits that ran out (KeepPlace)
// are dropped once they have run out, whichever lock they were for, and
// not only when the same lock is waited for again: a server whose clients
// wait on many lock names, each once, held on to every name's queue (up to
// LOCKER_MAX_WAITERS of them) for good.
func TestKeptPlacesGoAway(t *testing.T) {
	t.Parallel()
	// Kept for 3s: the 100 waits below (a few ms each) must all still
	// hold their places when counted. 10ms was too short for a loaded
	// machine: a place ran out, and was swept, before the count. The
	// sweep then needs 3s and at most a second more, within patience.
	e := newEnv(t, lockservice.Config{KeepPlace: 3 * time.Second})
	const n = 100
	for i := range n {
		name := fmt.Sprintf("job-%d", i)
		e.acquire(name, "A", "a", 0)
		_, err := e.svc.Acquire(context.Background(), name, lock.Request{Key: "B", Holder: "b"}, time.Millisecond)
		wantCode(t, err, lock.ECONFLICT)
	}
	if got := e.svc.QueueNames(); got != n {
		t.Fatalf("after %d waits that ran out: %d queues, want %d (a kept place each)", n, got, n)
	}
	e.acquire("busy", "A", "a", 0)
	e.eventually(func() bool {
		// Waiting goes on elsewhere: one more wait that runs out.
		_, err := e.svc.Acquire(context.Background(), "busy", lock.Request{Key: "C", Holder: "c"}, time.Millisecond)
		wantCode(t, err, lock.ECONFLICT)
		return e.svc.QueueNames() <= 1
	}, "the kept places of %d locks nobody waits for any more to be dropped", n)
}
