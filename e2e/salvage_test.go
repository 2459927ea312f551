package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSalvageDamagedLog: one byte of a record in the middle of the log is
// overwritten while the server is stopped. The server refuses to start,
// naming locker salvage; locker salvage skips that record and reports it;
// the server then starts with the other locks held, and hands out a fence
// above every one handed out before.
func TestSalvageDamagedLog(t *testing.T) {
	data := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + data}
	s := startServer(t, env)
	names := []string{"a", "b", "damaged", "d", "e"}
	var highest uint64
	for _, name := range names {
		status, body := do(t, nil, http.MethodPut, s.URL+"/lock/"+name, `{"key":"k-`+name+`"}`)
		if status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", name, status, body)
		}
		var l struct{ Fence uint64 }
		if err := json.Unmarshal([]byte(body), &l); err != nil || l.Fence == 0 {
			t.Fatalf("PUT %s: %v: %s", name, err, body)
		}
		highest = max(highest, l.Fence)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, s.Output())
	}

	seg := damageRecord(t, data, "damaged")

	if _, err := tryStartServer(t, env); err == nil || !strings.Contains(err.Error(), "run `locker salvage "+data+"` with the server stopped") {
		t.Fatalf("start on a damaged log: %v; want a refusal naming locker salvage", err)
	}
	out, code := runLocker(t, env, "salvage", data)
	t.Logf("locker salvage:\n%s", out)
	for _, want := range []string{"skipped 1 damaged part", seg + ", byte ", "kept in " + seg + ".dropped-", `"damaged": not in the store`, "fence counter: ", "before-salvage-", "locker status"} {
		if !strings.Contains(out, want) {
			t.Errorf("locker salvage output does not mention %q", want)
		}
	}
	if code != 0 {
		t.Fatalf("locker salvage exited %d", code)
	}
	// Nothing left to do: LOCKER_CONFIG names the file.
	if out, code := runLocker(t, env, "salvage"); code != 0 || !strings.Contains(out, "nothing to salvage") {
		t.Errorf("second locker salvage: exit %d:\n%s", code, out)
	}

	s = startServer(t, env)
	status, body := do(t, nil, http.MethodGet, s.URL+"/locks", "")
	if status != http.StatusOK {
		t.Fatalf("GET /locks: %d %s", status, body)
	}
	var locks map[string]lockState
	if err := json.Unmarshal([]byte(body), &locks); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		l, ok := locks[name]
		switch {
		case name == "damaged" && ok:
			t.Errorf("lock damaged is back after its only record was skipped: %+v", l)
		case name != "damaged" && (l.Key != "k-"+name || l.LockedBy["k-"+name] != 1):
			t.Errorf("lock %s after salvage: %+v; want held with key k-%s", name, l, name)
		}
	}
	status, body = do(t, nil, http.MethodPut, s.URL+"/lock/new", `{"key":"k"}`)
	var l struct{ Fence uint64 }
	if status != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
		t.Fatalf("PUT new: %d %s", status, body)
	}
	if l.Fence <= highest {
		t.Fatalf("first grant after salvage got fence %d; fences up to %d were handed out before", l.Fence, highest)
	}
}

// damageRecord flips a bit inside the record of the named lock in the
// store's first log segment (data+".log.1"), which it returns.
func damageRecord(t *testing.T, data, name string) string {
	t.Helper()
	seg := data + ".log.1"
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte(`{"lock":{"name":"`+name+`"`))
	if at < 0 {
		t.Fatalf("no record of lock %s in %s", name, seg)
	}
	b[at+30] ^= 0x40
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return seg
}
