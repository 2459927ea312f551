package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResourceUnlockReleaseDir: through the built resource and server, a
// build's lock step (a put and its implicit get into <build>/prod-lock)
// loses its hold to the server's lease, and another build with the same key
// and holder takes the lock afresh. The first build's late unlock with
// release_dir: prod-lock releases nothing, says so and succeeds; the same
// unlock without release_dir releases that other build's hold, as before.
func TestResourceUnlockReleaseDir(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	srv := startServer(t, []string{"LOCKER_DEFAULT_TTL=2s"})
	source := `{"locker_uri":"` + srv.URL + `","lock_name":"prod","retry_delay":"100ms"}`
	build := t.TempDir()
	type lockState struct {
		State    string         `json:"state"`
		Fence    uint64         `json:"fence"`
		LockedBy map[string]int `json:"locked_by"`
	}
	state := func() (l lockState) {
		t.Helper()
		_, body := do(t, nil, "GET", srv.URL+"/lock/prod", "")
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("GET /lock/prod: %v: %s", err, body)
		}
		return l
	}

	o, e, code := startResource(t, `{"source":`+source+`,"params":{"lock_op":"lock","key":"deploy-prod","locked_by":"deploy"}}`, "out", build).wait()
	if code != 0 {
		t.Fatalf("lock: exit %d\n%s", code, e)
	}
	v := decodeResourceAnswer(t, o).Version
	dir := filepath.Join(build, "prod-lock")
	if _, e, code := startResource(t, `{"source":`+source+`,"version":`+mustMarshal(v)+`}`, "in", dir).wait(); code != 0 {
		t.Fatalf("the implicit get: exit %d\n%s", code, e)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "fence")); string(b) != v["fence"] {
		t.Fatalf("the get (within the lease) wrote fence %q; the lock's version %v", b, v)
	}
	for deadline := time.Now().Add(20 * time.Second); state().State != "free"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not run out: %+v", state())
		}
	}
	code, body := do(t, nil, "PUT", srv.URL+"/lock/prod", `{"key":"deploy-prod","lock_by":"deploy","ttl":"1h"}`)
	if code != 200 {
		t.Fatalf("the other build's lock: %d %s", code, body)
	}
	afresh := state()

	unlock := `{"source":` + source + `,"params":{"lock_op":"unlock","key":"deploy-prod","locked_by":"deploy","release_dir":"prod-lock"}}`
	_, e, code = startResource(t, unlock, "out", build).wait()
	if code != 0 {
		t.Fatalf("the late unlock with release_dir: exit %d\n%s", code, e)
	}
	if want := fmt.Sprintf("was released and taken again since fence %s", v["fence"]); !strings.Contains(e, want) {
		t.Errorf("the late unlock's stderr lacks %q:\n%s", want, e)
	}
	if l := state(); l.Fence != afresh.Fence || l.LockedBy["deploy"] != 1 {
		t.Fatalf("after the late unlock with release_dir the lock is %+v; want the other build's hold (fence %d) kept", l, afresh.Fence)
	}

	_, e, code = startResource(t, `{"source":`+source+`,"params":{"lock_op":"unlock","key":"deploy-prod","locked_by":"deploy"}}`, "out", build).wait()
	if code != 0 {
		t.Fatalf("the unlock without release_dir: exit %d\n%s", code, e)
	}
	if l := state(); l.State != "free" {
		t.Fatalf("after the unlock without release_dir the lock is %+v; want it released by key and holder, as before", l)
	}
}
