package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerWritesADeletedDataFileAgain: the reviewer's sequence. A lock,
// the data file deleted under the running server (a cleaner of old files
// in /tmp, a mistaken rm), another lock: the server writes the data file
// again from the locks in memory, and after a kill -9 the restart holds
// both (it used to refuse: "is missing but its log … is there").
func TestServerWritesADeletedDataFileAgain(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	dataFile := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + dataFile}
	s := startServer(t, env)
	if status, body := do(t, nil, "PUT", s.URL+"/lock/a", `{"key":"ka"}`); status != 200 {
		t.Fatalf("PUT a: %d %s", status, body)
	}
	if err := os.Remove(dataFile); err != nil {
		t.Fatal(err)
	}
	if status, body := do(t, nil, "PUT", s.URL+"/lock/b", `{"key":"kb"}`); status != 200 {
		t.Fatalf("PUT b after the data file was deleted: %d %s", status, body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.Output(), "the data file is written again") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dataFile); err != nil {
		t.Errorf("the data file was not written again within 15s: %v; output:\n%s", err, s.Output())
	} else if !strings.Contains(s.Output(), "level=WARN") || !strings.Contains(s.Output(), "data file was deleted") {
		t.Errorf("no warning saying what happened; output:\n%s", s.Output())
	}
	if status, body := do(t, nil, "GET", s.URL+"/readyz", ""); status != 200 {
		t.Errorf("/readyz once the data file is written again: %d %s", status, body)
	}
	s.Kill()

	s, err := tryStartServer(t, env)
	if err != nil {
		t.Fatalf("the restart after kill -9: %v", err)
	}
	locks := getLocks(t, nil, s.URL)
	for name, key := range map[string]string{"a": "ka", "b": "kb"} {
		if l, ok := locks[name]; !ok || l.Key != key {
			t.Errorf("after kill -9 and a restart, lock %s: %+v (present %v), want held with key %s", name, l, ok, key)
		}
	}
}

// TestServerWritesADeletedLogAgain: the log segment deleted under a
// running server still took writes, into a file no start would read.
// Changes are refused (503, /readyz too) until the server has written the
// store again from the locks in memory, which hold every change
// acknowledged, the deleted segment's too; then accepted again, and after
// a kill -9 the restart holds them all. (It used to refuse every change
// until someone restored a backup: the restart refused, the segment
// missing.)
func TestServerWritesADeletedLogAgain(t *testing.T) {
	dataFile := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + dataFile}
	s := startServer(t, env)
	if status, body := do(t, nil, "PUT", s.URL+"/lock/before", `{"key":"k"}`); status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if err := os.Remove(dataFile + ".log.1"); err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{"before": true}
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		name := fmt.Sprintf("after-%d", i)
		status, body := do(t, nil, "PUT", s.URL+"/lock/"+name, `{"key":"k"}`)
		if status == 200 {
			held[name] = true
			break
		}
		if status != 503 || !strings.Contains(body, "deleted") {
			t.Fatalf("PUT after the log was deleted: %d %s", status, body)
		}
		if st, body := do(t, nil, "GET", s.URL+"/readyz", ""); st != 503 && !strings.Contains(s.Output(), "written again") {
			t.Fatalf("/readyz while changes are refused: %d %s", st, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes still refused 15s after the log was deleted; output:\n%s", s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(s.Output(), "the log segment was deleted while the server ran") {
		t.Errorf("no warning saying what happened; output:\n%s", s.Output())
	}
	s.Kill()
	s, err := tryStartServer(t, env)
	if err != nil {
		t.Fatalf("the restart after kill -9: %v", err)
	}
	locks := getLocks(t, nil, s.URL)
	for name := range held {
		if l, ok := locks[name]; !ok || l.Key != "k" {
			t.Errorf("after kill -9 and a restart, lock %s: %+v (present %v), want held", name, l, ok)
		}
	}
	for name := range locks {
		if !held[name] {
			t.Errorf("after a restart, lock %s is there, whose change was refused", name)
		}
	}
}
