package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/internal/cutproxy"
)

// TestResourceWaitChunkThroughAProxy: the built resource waits for a lock
// on the built server through a proxy whose read timeout (1.5s) is shorter
// than the 5 minutes it asks in one request by default. Without
// source.wait_chunk each request is cut short, and the step's output names
// wait_chunk as the remedy; with wait_chunk: 1s it waits through the proxy
// and takes the lock when it is released.
func TestResourceWaitChunkThroughAProxy(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, nil)
	proxy := cutproxy.New(t, s.URL, 1500*time.Millisecond)
	if code, body := do(t, nil, "PUT", s.URL+"/lock/slow", `{"key":"a"}`); code != 200 {
		t.Fatalf("lock: %d %s", code, body)
	}
	params := `{"key":"me","lock_op":"lock"}`

	src := map[string]any{"locker_uri": proxy.URL, "lock_name": "slow", "retry_delay": "200ms"}
	step := startResource(t, `{"source":`+mustMarshal(src)+`,"params":`+params+`}`, "out", t.TempDir())
	step.waitFor("or set source.wait_chunk below it, e.g. wait_chunk: 1s")
	step.cmd.Process.Kill()
	step.wait()

	src["wait_chunk"] = "1s"
	proxy.Puts.Store(0)
	step = startResource(t, `{"source":`+mustMarshal(src)+`,"params":`+params+`}`, "out", t.TempDir())
	for deadline := time.Now().Add(30 * time.Second); proxy.Puts.Load() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || !step.running() {
			_, e := step.output()
			t.Fatalf("the step did not ask three times within 30s (%d):\n%s", proxy.Puts.Load(), e)
		}
	}
	do(t, nil, "DELETE", s.URL+"/lock/slow", `{"key":"a"}`)
	o, e, code := step.wait()
	if code != 0 || strings.Contains(e, "504") {
		t.Fatalf("with wait_chunk 1s (exit %d):\n%s", code, e)
	}
	if v := decodeResourceAnswer(t, o).Version; v["key"] != "me" {
		t.Errorf("version %v", v)
	}
	if l := resourceLockState(t, s.URL, "slow"); l.Key != "me" {
		t.Errorf("the server has %+v", l)
	}
}
