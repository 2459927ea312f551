package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReleaseWithFenceE2E: through the built server, a job's hold runs
// out (a tiny lease) and a retry of the job, with the same key and holder,
// takes the lock afresh; the first job's late release with its own fence
// is refused (423, the lock's state) and leaves the retry's hold, across a
// restart too. The retry's own fence releases it, saying so in
// Locker-Fence-Checked; without a fence, DELETE is the seed's.
func TestReleaseWithFenceE2E(t *testing.T) {
	file := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + file}
	srv := startServer(t, env)
	lockOf := func(body string) (l struct {
		Fence    uint64         `json:"fence"`
		State    string         `json:"state"`
		LockedBy map[string]int `json:"locked_by"`
	}) {
		t.Helper()
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("not a lock: %v: %s", err, body)
		}
		return l
	}
	code, body := do(t, nil, "PUT", srv.URL+"/lock/job", `{"key":"ci","lock_by":"run","ttl":"300ms"}`)
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	first := lockOf(body).Fence
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body = do(t, nil, "GET", srv.URL+"/lock/job", "")
		if lockOf(body).State == "free" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not run out: %s", body)
		}
	}
	code, body = do(t, nil, "PUT", srv.URL+"/lock/job", `{"key":"ci","lock_by":"run"}`)
	if code != 200 {
		t.Fatalf("PUT of the retry: %d %s", code, body)
	}
	retry := lockOf(body).Fence
	if retry <= first {
		t.Fatalf("the retry's fence %d is not above the first's %d", retry, first)
	}
	late := fmt.Sprintf(`{"key":"ci","locked_by":"run","fence":%d}`, first)
	refused := func(when string) {
		t.Helper()
		code, body := do(t, nil, "DELETE", srv.URL+"/lock/job", late)
		want := fmt.Sprintf(`lock \"job\" was taken again since fence %d: it is held by key \"ci\" under fence %d (holders: run x1); nothing was released`, first, retry)
		if code != 423 || !strings.Contains(body, want) || !strings.Contains(body, `"lock":{`) {
			t.Fatalf("%s: the first job's late release = %d %s; want 423 %s", when, code, body, want)
		}
		_, body = do(t, nil, "GET", srv.URL+"/lock/job", "")
		if l := lockOf(body); l.Fence != retry || l.LockedBy["run"] != 1 {
			t.Fatalf("%s: a refused release changed the lock: %s", when, body)
		}
	}
	refused("running")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, env)
	refused("after a restart")

	req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/lock/job?key=ci&locked_by=run&fence=%d", srv.URL, retry), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Locker-Fence-Checked") != fmt.Sprint(retry) {
		t.Fatalf("the retry's release: %d, Locker-Fence-Checked %q", resp.StatusCode, resp.Header.Get("Locker-Fence-Checked"))
	}
	// The seed's DELETE, without a fence, as ever.
	do(t, nil, "PUT", srv.URL+"/lock/job", `{"key":"ci","lock_by":"run"}`)
	if code, body := do(t, nil, "DELETE", srv.URL+"/lock/job", `{"key":"ci","locked_by":"run"}`); code != 200 || lockOf(body).State != "free" {
		t.Fatalf("DELETE without a fence: %d %s", code, body)
	}
}
