package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileStoreLimitsEndToEnd: what the API accepts, the server starts
// again on (metadata whose <, > and & the log escapes to six bytes each,
// past 64 KiB as stored); what it could not start again on is refused
// when it is sent (metadata nested past 100 levels) or at start
// (LOCKER_HISTORY past 2048, a named pipe as LOCKER_CONFIG), at once.
func TestFileStoreLimitsEndToEnd(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	dir := t.TempDir()
	env := []string{"LOCKER_CONFIG=" + filepath.Join(dir, "locks.yml")}
	s := startServer(t, env)
	html := strings.Repeat("<b>x</b>&", 2400)
	if code, out := do(t, nil, "PUT", s.URL+"/pool/p/html", `{"metadata":"`+html+`"}`); code != 200 {
		t.Fatalf("PUT of %d bytes of HTML metadata: %d %s", len(html), code, out)
	}
	deep := strings.Repeat("[", 101) + strings.Repeat("]", 101)
	if code, out := do(t, nil, "PUT", s.URL+"/pool/p/deep", `{"metadata":`+deep+`}`); code != 400 || !strings.Contains(out, "levels deep") {
		t.Fatalf("PUT of metadata 101 levels deep: %d %s", code, out)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, env)
	code, out := do(t, nil, "GET", s.URL+"/lock/html", "")
	var l struct{ Metadata string }
	if err := json.Unmarshal([]byte(out), &l); code != 200 || err != nil || l.Metadata != html {
		t.Fatalf("after a restart: %d, %v, metadata of %d bytes", code, err, len(l.Metadata))
	}
	s.Stop()

	start := time.Now()
	out, exit := runLocker(t, append(env, "LOCKER_HISTORY=100000"))
	if exit == 0 || !strings.Contains(out, "LOCKER_HISTORY=100000 is more than the file store keeps: at most 2048") {
		t.Errorf("LOCKER_HISTORY=100000: exit %d\n%s", exit, out)
	}
	fifo := filepath.Join(dir, "fifo.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(fifo) })
	go func() { // should the server wait on the pipe, let the test end
		time.Sleep(20 * time.Second)
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}()
	out, exit = runLocker(t, []string{"LOCKER_CONFIG=" + fifo, "LOCKER_LISTEN=127.0.0.1:0"})
	if exit == 0 || !strings.Contains(out, "is a named pipe") {
		t.Errorf("a named pipe as LOCKER_CONFIG: exit %d\n%s", exit, out)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("refusals took %s", took)
	}
}

// TestHoldersOfALockEndToEnd: a lock has at most 1,000 holders; the next
// new holder gets a 413 with a JSON error naming the limit, at once even
// when it would wait, and nothing changes, before and after a restart; a
// holder it has takes it again, and a release makes room. The first 999
// holders come from a file in the original locker's format (its servers
// had no limit): taken one by one, each change writing the whole lock,
// they cost about 20 s of CPU under the race detector, beside the other
// tests in CI.
func TestHoldersOfALockEndToEnd(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "locks.yml")
	holders := map[string]int{}
	for i := range 999 {
		holders[fmt.Sprintf("build-%d", i)] = 1
	}
	original, _ := json.Marshal(map[string]any{"ci": map[string]any{"key": "k", "locked_by": holders}})
	if err := os.WriteFile(data, original, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"LOCKER_CONFIG=" + data}
	s := startServer(t, env)
	if code, out := do(t, nil, "PUT", s.URL+"/lock/ci?key=k&lock_by=build-999", ""); code != 200 {
		t.Fatalf("holder 1000: %d %s", code, out)
	}
	for _, query := range []string{"", "&wait=1h"} {
		code, out := do(t, nil, "PUT", s.URL+"/lock/ci?key=k&lock_by=build-1000"+query, "")
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(out), &e); code != 413 || err != nil || !strings.Contains(e.Error, "has 1000 holders, the most a lock may have") {
			t.Fatalf("a 1,001st holder%s: %d %s", query, code, out)
		}
	}
	if code, out := do(t, nil, "PUT", s.URL+"/lock/ci?key=k&lock_by=build-7", ""); code != 200 {
		t.Fatalf("a holder it has, again: %d %s", code, out)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, env)
	code, out := do(t, nil, "GET", s.URL+"/lock/ci", "")
	var l struct {
		LockedBy map[string]int `json:"locked_by"`
	}
	if err := json.Unmarshal([]byte(out), &l); code != 200 || err != nil || len(l.LockedBy) != 1000 || l.LockedBy["build-7"] != 2 || l.LockedBy["build-1000"] != 0 {
		t.Fatalf("after a restart: %d %v, %d holders, build-7 x%d", code, err, len(l.LockedBy), l.LockedBy["build-7"])
	}
	if code, out := do(t, nil, "DELETE", s.URL+"/lock/ci?key=k&lock_by=build-0", ""); code != 200 {
		t.Fatalf("a release: %d %s", code, out)
	}
	if code, out := do(t, nil, "PUT", s.URL+"/lock/ci?key=k&lock_by=build-1000", ""); code != 200 {
		t.Fatalf("once a holder released it: %d %s", code, out)
	}
}

// TestPoolsOfALockEndToEnd: a lock joins at most lock.MaxPools pools (64);
// the next is a 413 with a JSON error naming the limit, and changes
// nothing, before and after a restart.
func TestPoolsOfALockEndToEnd(t *testing.T) {
	env := []string{"LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")}
	s := startServer(t, env)
	for i := range 64 {
		if code, out := do(t, nil, "PUT", fmt.Sprintf("%s/pool/p%02d/m", s.URL, i), ""); code != 200 {
			t.Fatalf("joining pool %d: %d %s", i+1, code, out)
		}
	}
	code, out := do(t, nil, "PUT", s.URL+"/pool/one-too-many/m", "")
	var e struct{ Error, Code string }
	if err := json.Unmarshal([]byte(out), &e); code != 413 || err != nil || !strings.Contains(e.Error, "is in 64 pools, the most a lock may be in") {
		t.Fatalf("joining a 65th pool: %d %s", code, out)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, env)
	code, out = do(t, nil, "GET", s.URL+"/lock/m", "")
	var l struct{ Pools []string }
	if err := json.Unmarshal([]byte(out), &l); code != 200 || err != nil || len(l.Pools) != 64 || slices.Contains(l.Pools, "one-too-many") {
		t.Fatalf("after a restart: %d %v, pools %v", code, err, l.Pools)
	}
	if code, out := do(t, nil, "DELETE", s.URL+"/pool/p00/m", ""); code != 200 {
		t.Fatalf("leaving a pool: %d %s", code, out)
	}
	if code, out := do(t, nil, "PUT", s.URL+"/pool/one-too-many/m", ""); code != 200 {
		t.Fatalf("joining once it left one: %d %s", code, out)
	}
}
