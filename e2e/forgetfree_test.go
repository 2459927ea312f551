package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestForgetFreeAfter, through the binary with each store and
// LOCKER_FORGET_FREE_AFTER=2s: a lock taken and released leaves GET /locks
// on its own, a held one stays, the server logs the sweep, and the name
// taken again gets a higher fence than it had.
func TestForgetFreeAfter(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"file", "postgres"} {
		t.Run(store, func(t *testing.T) {
			env := []string{"LOCKER_FORGET_FREE_AFTER=2s"}
			if store == "file" {
				env = append(env, "LOCKER_CONFIG="+filepath.Join(t.TempDir(), "locks.yml"))
			} else {
				env = append(env, "LOCKER_DATABASE_URL="+pgtest.Schema(t))
			}
			testForgetFreeAfter(t, env)
		})
	}
}

func testForgetFreeAfter(t *testing.T, env []string) {
	s := startServer(t, env)
	call := func(method, path, body string, want int) string {
		t.Helper()
		return wantStatus(t, s, method, path, body, want)
	}
	fenceOf := func(body string) uint64 {
		t.Helper()
		return lockFence(t, body)
	}
	listed := func() map[string]json.RawMessage {
		t.Helper()
		return listedLocks(t, s.URL, "", "")
	}

	first := fenceOf(call("PUT", "/lock/deploy-pr-7", `{"key":"pr-7","lock_by":"build-1"}`, 200))
	call("PUT", "/lock/prod", `{"key":"prod","lock_by":"deploy-1"}`, 200)
	call("DELETE", "/lock/deploy-pr-7", `{"key":"pr-7","locked_by":"build-1"}`, 200)
	if _, ok := listed()["deploy-pr-7"]; !ok {
		t.Fatal("the released lock is not listed at once") // the setting is 2s
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := listed()["deploy-pr-7"]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock free since 30s is still listed with LOCKER_FORGET_FREE_AFTER=2s\n%s", s.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := call("GET", "/lock/prod", "", 200); !strings.Contains(got, `"deploy-1":1`) {
		t.Errorf("the held lock changed: %s", got)
	}
	if out := s.Output(); !strings.Contains(out, "forgot locks free for longer") || !strings.Contains(out, "count=1") {
		t.Errorf("no INFO line of the sweep with its count:\n%s", out)
	}
	if again := fenceOf(call("PUT", "/lock/deploy-pr-7", `{"key":"pr-7","lock_by":"build-2"}`, 200)); again <= first {
		t.Errorf("taken again after it was forgotten, fence %d, not above its %d", again, first)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("stopping: %v\n%s", err, s.Output())
	}
}
