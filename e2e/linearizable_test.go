package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// e2eListen is where the n-th server of a test listens: with
// LOCKER_E2E_PORT_BASE set, port base+n (so that runs sharing a machine
// can keep to their own ports); unset, a free port the system picks.
func e2eListen(t *testing.T, n int) string {
	base := os.Getenv("LOCKER_E2E_PORT_BASE")
	if base == "" {
		return "LOCKER_LISTEN=127.0.0.1:0"
	}
	p, err := strconv.Atoi(base)
	if err != nil {
		t.Fatalf("LOCKER_E2E_PORT_BASE=%q: %v", base, err)
	}
	return fmt.Sprintf("LOCKER_LISTEN=127.0.0.1:%d", p+n)
}

// TestFileStoreLinearizable is TestHAConsistencyJepsen for the default
// deployment: one server on the file store, killed with SIGKILL in the
// middle of the run and started again on the same data file. Clients lock,
// re-enter, read and release (some waiting in line) through the real binary
// over HTTP; the history must show mutual exclusion, one growing fence per
// holding period, and be linearizable against the lock rules (porcupine),
// the requests cut off by the kill being of unknown outcome.
func TestFileStoreLinearizable(t *testing.T) {
	t.Parallel()
	runFor := 12 * time.Second
	if testing.Short() {
		runFor = 6 * time.Second
	}
	data := "LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")
	r := &haReplica{env: []string{data, e2eListen(t, 0)}}
	if err := r.start(t); err != nil {
		t.Fatal(err)
	}
	replicas := []*haReplica{r}
	defer func() {
		if t.Failed() {
			t.Logf("server output:\n%s", haTail(r.srv.Load().Output(), 4000))
		}
	}()

	locks := []string{"lin-a", "lin-b", "lin-wait"}
	h, at, wait := haRun(t, replicas, locks, runFor)
	at(0.4)
	r.srv.Load().Kill()
	t.Logf("%.1fs: the server was killed with SIGKILL", time.Since(h.start).Seconds())
	at(0.5)
	r.env = []string{data, e2eListen(t, 1)} // another port: the old one may linger
	if err := r.start(t); err != nil {
		t.Fatalf("restarting the server on its data: %v", err)
	}
	back := h.now()
	t.Logf("%.1fs: the server is back at %s", time.Since(h.start).Seconds(), r.URL())
	wait()
	haVerify(t, h, replicas, locks, back, h.now(), true)
}
