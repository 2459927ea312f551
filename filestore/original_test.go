package filestore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestWriteOriginal: locks written in the original locker's format, as the
// original writes them, keep their keys and counts; expired holds are left
// out, running leases reported; the file reads back (as the original's)
// into the same holds.
func TestWriteOriginal(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	held := func(name, key string, holds map[string]lock.Hold) *lock.Lock {
		return &lock.Lock{Name: name, Key: key, Fence: 7, Since: now.Add(-time.Hour), Holds: lock.HoldsOf(holds)}
	}
	locks := []*lock.Lock{
		held("prod", "cf", map[string]lock.Hold{"cf": {Count: 2, Acquired: now.Add(-time.Hour)}}),
		held("shared", "s", map[string]lock.Hold{
			"node-a": {Count: 1, Acquired: now.Add(-time.Hour)},
			"node-b": {Count: 1, Acquired: now.Add(-time.Hour), Expires: now.Add(time.Hour)},
		}),
		held("lapsed", "old", map[string]lock.Hold{"old": {Count: 1, Acquired: now.Add(-time.Hour), Expires: now.Add(-time.Minute)}}),
		{Name: "free", Pools: []string{"envs"}},
	}
	path := filepath.Join(t.TempDir(), "original.json")
	res, err := WriteOriginal(path, locks, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Locks != 4 || res.Held != 2 || res.Expired != 1 || len(res.Leases) != 1 || res.Leases[0] != [2]string{"shared", "node-b"} {
		t.Errorf("report: %+v", res)
	}
	want := `{
    "free": {
        "locked_by": {},
        "key": ""
    },
    "lapsed": {
        "locked_by": {},
        "key": ""
    },
    "prod": {
        "locked_by": {
            "cf": 2
        },
        "key": "cf"
    },
    "shared": {
        "locked_by": {
            "node-a": 1,
            "node-b": 1
        },
        "key": "s"
    }
}`
	if b, err := os.ReadFile(path); err != nil || string(b) != want {
		t.Fatalf("wrote %s (%v), want %s", b, err, want)
	}

	// Never over a file: not even the same one again.
	if _, err := WriteOriginal(path, locks, now); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("writing over %s: %v", path, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}

	// This server reads it back as the original's file.
	s := openT(t, path, Options{})
	for name, counts := range map[string]map[string]int{"prod": {"cf": 2}, "shared": {"node-a": 1, "node-b": 1}} {
		l, ok := getT(t, s, name)
		if got := l.Counts(); !ok || len(got) != len(counts) || got["cf"] != counts["cf"] || got["node-a"] != counts["node-a"] {
			t.Errorf("%s read back: %+v", name, l)
		}
	}
	if l, ok := getT(t, s, "lapsed"); !ok || !l.Free() {
		t.Errorf("lapsed read back: %+v, %v", l, ok)
	}
}
