package filestore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// readT is Read, failing the test on an error; the contents are closed
// when it ends.
func readT(t *testing.T, path string, opts Options) *Contents {
	t.Helper()
	c, err := Read(path, opts)
	if err != nil {
		t.Fatalf("Read(%s): %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dumpContents renders c as dump renders a store.
func dumpContents(t *testing.T, c *Contents) string {
	t.Helper()
	out := struct {
		Fence uint64
		Locks []dumpLock
	}{Fence: c.Fence}
	for _, l := range c.Locks {
		d := dumpLock{Name: l.Name, Key: l.Key, Holds: l.Holds, Fence: l.Fence, Since: l.Since, History: c.History[l.Name]}
		if len(d.Holds) == 0 {
			d.Holds = nil
		}
		out.Locks = append(out.Locks, d)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tornRecord is a log record cut short by a crash, the fence 99999
// legible in it.
func tornRecord() []byte {
	rec := appendFrame(nil, mustJSON(logRecord{
		Lock:   diskLock{Name: "torn", Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: clockBase}}), Fence: 99999, Since: clockBase},
		Events: []lock.Event{{Type: lock.Acquired, Lock: "torn", Key: "k", Holder: "h", Count: 1, Fence: 99999, Time: clockBase}},
		Fence:  99999,
	}))
	return rec[:len(rec)-1]
}

// TestReadLeavesTheStoreAsItWas: Read finds what Open finds (a torn record
// left out, its token counted; several segments replayed; the history cut
// to the limit asked for), and changes no file where Open would compact
// the segments, cut the torn record off and keep it beside the log; it
// makes no .lock file either.
func TestReadLeavesTheStoreAsItWas(t *testing.T) {
	path, _ := multiSegmentStore(t)
	gens := segmentGens(t, path)
	if len(gens) < 2 {
		t.Fatalf("segments %v, want 2 or more", gens)
	}
	appendToFile(t, segmentPath(path, gens[len(gens)-1]), tornRecord())
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	backdate(t, dir)
	before := dirFiles(t, dir)

	opts := Options{HistoryLimit: 3}
	got := dumpContents(t, readT(t, path, opts))
	sameFiles(t, before, dirFiles(t, dir))
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read made %s.lock: %v", path, err)
	}

	// What Open finds, in a copy (which it changes).
	s := openT(t, copyStoreFiles(t, path, t.TempDir()), opts)
	want := dump(t, s)
	closeT(t, s)
	sameDump(t, "Read and Open", want, got)
	if strings.Contains(got, `"torn"`) || !strings.Contains(got, `"Fence": 99999`) {
		t.Errorf("the torn record: %s", got)
	}
}

// TestReadLocksTheStore: Read refuses a store a server runs on, as Open
// does, and no server starts on the store until its contents are closed,
// also without a .lock file (the data file's lock is the one every server
// takes too).
func TestReadLocksTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	if _, err := Read(path, Options{}); !errors.Is(err, syscall.EWOULDBLOCK) || !strings.Contains(err.Error(), "in use by another Locker") {
		t.Fatalf("Read of a running store: %v", err)
	}
	closeT(t, s)
	for _, lockFile := range []bool{true, false} {
		if !lockFile {
			if err := os.Remove(path + ".lock"); err != nil {
				t.Fatal(err)
			}
		}
		c := readT(t, path, Options{})
		if len(c.Locks) != 1 || c.Locks[0].Name != "a" {
			t.Errorf("locks: %v", c.Locks)
		}
		if s, err := Open(path, Options{}); !errors.Is(err, syscall.EWOULDBLOCK) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open while it is read (lock file %v): %v", lockFile, err)
		}
		if _, err := Read(path, Options{}); !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Fatalf("Read while it is read (lock file %v): %v", lockFile, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		closeT(t, openT(t, path, Options{}))
	}
}

// TestReadRefusesWhatOpenRefuses: damage that Open refuses, Read refuses in
// the same words (naming locker salvage where it helps), changing nothing.
func TestReadRefusesWhatOpenRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		damage func(t *testing.T, path string)
		wants  []string
	}{
		"damage in an older segment": {func(t *testing.T, path string) {
			appendToFile(t, segmentPath(path, segmentGens(t, path)[0]), []byte{1, 2, 3})
		}, []string{"locker salvage"}},
		"a missing segment": {func(t *testing.T, path string) {
			gens := segmentGens(t, path)
			if err := os.Remove(segmentPath(path, gens[len(gens)-1])); err != nil {
				t.Fatal(err)
			}
		}, []string{"missing"}},
		"the original locker's file over a log": {func(t *testing.T, path string) {
			writeFile(t, path, []byte(legacyJSON))
		}, []string{"original locker's format"}},
		"the target of an unfinished copy": {func(t *testing.T, path string) {
			writeFile(t, path+migratingSuffix, []byte("from elsewhere\n"))
		}, []string{"unfinished locker migrate"}},
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := multiSegmentStore(t)
			c.damage(t, path)
			dir := filepath.Dir(path)
			backdate(t, dir)
			before := dirFiles(t, dir)
			_, err := Read(path, Options{})
			if err == nil {
				t.Fatal("Read succeeded")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Read's refusal %q does not say %q", err, w)
				}
			}
			sameFiles(t, before, dirFiles(t, dir))
			if openErr := openRefused(t, path); openErr.Error() != err.Error() {
				t.Errorf("Read refused with\n%v\nOpen with\n%v", err, openErr)
			}
		})
	}
}

// TestReadOriginalLockerFileLocked: the original locker's file is read as
// Open converts it, said so (Original, and Skipped naming the free locks
// left out for their names), and locked until Close as any store is: a
// start meanwhile is refused, and the file is left as it was.
func TestReadOriginalLockerFileLocked(t *testing.T) {
	const original = `{"name": {"locked_by": {"h": 1}, "key": "k"}, "bad\u0001": {"locked_by": {}, "key": ""}}`
	path := filepath.Join(t.TempDir(), "legacy.json")
	writeFile(t, path, []byte(original))
	c, err := Read(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Original || len(c.Skipped) != 1 || c.Skipped[0] != "bad\x01" || len(c.Locks) != 1 || c.Fence != 1 {
		t.Errorf("read: original %v, skipped %q, %d locks, fence %d", c.Original, c.Skipped, len(c.Locks), c.Fence)
	}
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Error("a store opened while Read holds it")
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("opening while read: %v, want EWOULDBLOCK", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != original {
		t.Errorf("the file was changed: %q, %v", b, err)
	}
}
