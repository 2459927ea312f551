package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestCLIUnlockRetriesWhileServerDown: locker unlock, run while the
// server restarts (the trap of a deploy script), tries again until it is
// back: exit 0, the hold is gone, and stderr says once that it is trying
// again (not once per attempt).
func TestCLIUnlockRetriesWhileServerDown(t *testing.T) {
	t.Parallel() // mostly waiting
	env := []string{"LOCKER_LISTEN=127.0.0.1:18701", "LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")}
	s := startServer(t, env)
	cl := cliClient(t, s.URL)
	ctx := context.Background()
	if _, err := cl.Lock(ctx, "deploy", client.LockOptions{Key: "build-7", Holder: "job"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	cmd, out := cliStart(t, []string{"LOCKER_URL=" + s.URL}, "unlock", "deploy", "--key", "build-7", "--holder", "job")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	cliWait(t, "locker unlock to say it tries again", func() bool { return strings.Contains(out.String(), "trying again") })
	time.Sleep(2 * time.Second) // down for 2s: several attempts
	select {
	case err := <-done:
		t.Fatalf("locker unlock ended while the server was down: %v\n%s", err, out)
	default:
	}
	s = startServer(t, env)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("locker unlock: %v, want exit 0\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("locker unlock did not end once the server was back\n%s", out)
	}
	got := out.String()
	if strings.Count(got, "trying again") != 1 || !strings.Contains(got, "unlocked 'deploy'; it is free now") {
		t.Fatalf("output:\n%s", got)
	}
	if l, err := cliClient(t, s.URL).Get(ctx, "deploy"); err != nil || !l.Free() {
		t.Fatalf("after the unlock: %+v, %v; want it free", l, err)
	}
}

// TestCLIUnlockLostAnswer: a release whose answer is lost (the connection
// cut after the request went out) may or may not have been made; sent
// again blindly, a hold counted twice by the same key and holder would
// drop to nothing. locker unlock reads the lock back: made, it is done
// (one hold given back, not two); not made, it is sent again.
func TestCLIUnlockLostAnswer(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var made, unmade atomic.Int32 // DELETEs to pass on and cut; to cut unsent
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cut := func() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
		}
		switch {
		case r.Method == http.MethodDelete && made.Add(-1) >= 0:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			cut()
		case r.Method == http.MethodDelete && unmade.Add(-1) >= 0:
			cut()
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	defer proxy.Close()
	cl := cliClient(t, s.URL)
	ctx := context.Background()
	count := func() int {
		t.Helper()
		l, err := cl.Get(ctx, "db")
		if err != nil {
			t.Fatal(err)
		}
		return l.LockedBy["job"]
	}
	for range 2 {
		if _, err := cl.Lock(ctx, "db", client.LockOptions{Key: "build-7", Holder: "job"}); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"LOCKER_URL=" + proxy.URL}

	made.Store(1)
	stdout, stderr, code, _ := cliExec(env, "unlock", "db", "--key", "build-7", "--holder", "job")
	if code != 0 || count() != 1 || !strings.Contains(stdout, "'job' still holds it 1 more time(s)") || !strings.Contains(stderr, "read back") {
		t.Fatalf("a release made, its answer lost: exit %d, %d holds left (want 1)\nstdout: %s\nstderr: %s", code, count(), stdout, stderr)
	}

	unmade.Store(1)
	stdout, stderr, code, _ = cliExec(env, "unlock", "db", "--key", "build-7", "--holder", "job")
	if code != 0 || count() != 0 || !strings.Contains(stdout, "unlocked 'db'; it is free now") {
		t.Fatalf("a release not made, its connection cut: exit %d, %d holds left (want 0)\nstdout: %s\nstderr: %s", code, count(), stdout, stderr)
	}
}

// TestCLIUnlockSignalStopsRetries: a signal while locker unlock tries
// again stops it at once: exit 130, saying the lock may still be held.
func TestCLIUnlockSignalStopsRetries(t *testing.T) {
	t.Parallel()
	cmd, out := cliStart(t, []string{"LOCKER_URL=http://127.0.0.1:18702"}, "unlock", "deploy", "--key", "build-7")
	cliWait(t, "locker unlock to say it tries again", func() bool { return strings.Contains(out.String(), "trying again") })
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("SIGTERM did not stop locker unlock's retries\n%s", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(out.String(), "stopped trying to release 'deploy'") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}
