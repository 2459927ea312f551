package e2e

import (
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
