package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestForget, through the binary, with each store: a lock held, released
// and forgotten is no longer listed, also after the server is killed and
// started again (the forget was on disk, or committed, before its 200);
// taken again, it gets a higher fence than it had; forgetting a held lock
// is 423 and changes nothing; watchers of /events hear of it; locker
// forget does the same from the command line.
func TestForget(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"file", "postgres"} {
		t.Run(store, func(t *testing.T) {
			var env []string
			if store == "file" {
				env = []string{"LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")}
			} else {
				env = []string{"LOCKER_DATABASE_URL=" + pgtest.Schema(t)}
			}
			testForget(t, env)
		})
	}
}

// wantStatus makes a request of s and fails the test, with the server's
// output, unless it is answered with want; it returns the body.
func wantStatus(t *testing.T, s *server, method, path, body string, want int) string {
	t.Helper()
	status, b := do(t, nil, method, s.URL+path, body)
	if status != want {
		t.Fatalf("%s %s %s: %d %s, want %d\n%s", method, path, body, status, b, want, s.Output())
	}
	return b
}

// lockFence is the fence of the lock object body.
func lockFence(t *testing.T, body string) uint64 {
	t.Helper()
	var l struct{ Fence uint64 }
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return l.Fence
}

func testForget(t *testing.T, env []string) {
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

	// Someone watches the event stream.
	resp, err := http.Get(s.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok && sc.Scan() {
				events <- name + " " + sc.Text()
			}
		}
	}()

	first := fenceOf(call("PUT", "/lock/deploy-pr-123", `{"key":"pr-123","lock_by":"build-1"}`, 200))
	held := call("PUT", "/lock/prod", `{"key":"prod","lock_by":"deploy-1"}`, 200)
	call("DELETE", "/lock/deploy-pr-123", `{"key":"pr-123","locked_by":"build-1"}`, 200)

	// Held: 423 naming the holder, and nothing changes.
	refused := call("POST", "/lock/prod/forget", "", 423)
	if !strings.Contains(refused, "deploy-1") || !strings.Contains(refused, `"lock":`) {
		t.Errorf("the 423 does not say who holds the lock: %s", refused)
	}
	if got := call("GET", "/lock/prod", "", 200); fenceOf(got) != fenceOf(held) || !strings.Contains(got, `"deploy-1":1`) {
		t.Errorf("a refused forget changed the lock: %s", got)
	}

	call("POST", "/lock/deploy-pr-123/forget", "", 200)
	if _, ok := listed()["deploy-pr-123"]; ok {
		t.Fatal("GET /locks still lists the forgotten lock")
	}
	deadline := time.After(10 * time.Second)
	for heard := false; !heard; {
		select {
		case ev := <-events:
			heard = strings.HasPrefix(ev, "forgotten ") && strings.Contains(ev, `"lock":"deploy-pr-123"`)
		case <-deadline:
			t.Fatal("no forgotten event on /events")
		}
	}
	resp.Body.Close()

	// Counted no more, and counted as forgotten.
	metrics := call("GET", "/metrics", "", 200)
	for _, want := range []string{"\nlocker_locks 1\n", "\nlocker_locks_held 1\n", `locker_lock_events_total{type="forgotten"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics after the forget has no %q", strings.TrimSpace(want))
		}
	}

	// Killed, not stopped: what the 200 said is on disk.
	s.Kill()
	s = startServer(t, env)
	m := listed()
	if _, ok := m["deploy-pr-123"]; ok {
		t.Fatal("after a restart, GET /locks lists the forgotten lock again")
	}
	if _, ok := m["prod"]; !ok {
		t.Fatalf("after a restart, the held lock is gone: %v", m)
	}
	call("GET", "/lock/deploy-pr-123/history", "", 404)
	again := fenceOf(call("PUT", "/lock/deploy-pr-123", `{"key":"pr-456","lock_by":"build-2"}`, 200))
	if again <= first || again <= fenceOf(held) {
		t.Errorf("taken again after its forget: fence %d; it had %d, and another lock %d since", again, first, fenceOf(held))
	}

	// The same from the command line.
	cli := []string{"LOCKER_URL=" + s.URL}
	if out, code := runLocker(t, cli, "forget", "deploy-pr-123"); code != 3 || !strings.Contains(out, "only a free lock can be forgotten") {
		t.Errorf("locker forget of a held lock: exit %d: %s", code, out)
	}
	call("DELETE", "/lock/deploy-pr-123", `{"key":"pr-456","locked_by":"build-2"}`, 200)
	if out, code := runLocker(t, cli, "forget", "deploy-pr-123"); code != 0 || out != "forgot 'deploy-pr-123' and its history\n" {
		t.Errorf("locker forget: exit %d: %q", code, out)
	}
	if out, code := runLocker(t, cli, "forget", "deploy-pr-123"); code != 1 || !strings.Contains(out, "no lock named") {
		t.Errorf("locker forget of a lock forgotten already: exit %d: %s", code, out)
	}
}

// TestDashboardForget: a lock forgotten while the dashboard shows it leaves
// its table without a reload of the page, on the forgotten event. The
// page's own poll (every 5 s while visible) is stopped first, by making
// the page look hidden, and the reloads its opening scheduled are let
// pass: either would drop the row too, and hide a dashboard that does not
// hear the event (as it did not at first: this failed then).
func TestDashboardForget(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "deploy-pr-123"), "", "", `{"key":"pr-123"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "deploy-pr-123"), "", "", `{"key":"pr-123"}`)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"prod"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.waitFor("the lock to show, free", rowJS("deploy-pr-123")+`?.dataset.state === "free"`)
	eval[bool](tb, `window.notReloaded = true`)
	eval[bool](tb, `Object.defineProperty(document, "visibilityState", { get: () => "hidden", configurable: true }), true`)
	// The reloads the page's opening scheduled (spaced up to 3 s apart)
	// come first: a quiet moment longer than that, and none is due.
	eval[bool](tb, `(() => {
		window.lastRead = performance.now();
		const f = window.fetch;
		window.fetch = function (u) {
			if (String(u).endsWith("/locks")) window.lastRead = performance.now();
			return f.apply(this, arguments);
		};
		return true;
	})()`)
	tb.waitFor("the page's reloads to settle", `performance.now() - window.lastRead > 3500`)

	mustCall(t, "POST", lockURL(s.URL, "deploy-pr-123")+"/forget", "", "", "")
	tb.waitFor("the forgotten lock to leave the table", `!`+rowJS("deploy-pr-123"))
	if !eval[bool](tb, `window.notReloaded === true`) {
		t.Fatal("the page reloaded to drop the lock")
	}
	if !eval[bool](tb, `!!`+rowJS("prod")) {
		t.Error("the other lock left the table too")
	}
}
