package filestore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadyProbeOneAtATime: after a failed write, /readyz probes the disk
// with a small write and fsync. A disk that hangs in that fsync (a dead
// NFS server, a failing device) must not gather one stuck probe per
// readiness check: a load balancer asks every few seconds, for as long as
// the disk hangs. One probe runs at a time; a check whose context ends
// first answers "not ready" without waiting longer, and once the probe
// comes back, the next check has its answer.
func TestReadyProbeOneAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "", 0)
	syncFails, _ := failingLog(s)
	syncFails.Store(1)
	if _, _, err := tryAcquire(s, "b", "k", "", 0); err == nil {
		t.Fatal("acquire with the fsync failing succeeded")
	}

	var probes atomic.Int32
	release := make(chan struct{})
	s.probeHook = func() {
		probes.Add(1)
		<-release // the disk hangs
	}
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- s.Ready(ctx) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("check %d: ready while the probe hangs", i)
			}
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatalf("check %d: Ready did not return after its context ended", i)
		}
		cancel()
	}
	if n := probes.Load(); n != 1 {
		t.Errorf("%d probes started while one hung, want 1", n)
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for s.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not ready after the probe came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeT(t, s)
}
