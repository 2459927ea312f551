package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// setVar sets *v for the test's length.
func setVar[T any](t testing.TB, v *T, to T) {
	old := *v
	*v = to
	t.Cleanup(func() { *v = old })
}

// failingSnapshots makes the store's snapshot writes fail (ENOSPC) while
// the flag it returns is set.
func failingSnapshots(s *Store) *atomic.Bool {
	fail := new(atomic.Bool)
	s.logMu.Lock() // compact takes it before each snapshot it writes
	s.snapshotFault = func() error {
		if fail.Load() {
			return syscall.ENOSPC
		}
		return nil
	}
	s.logMu.Unlock()
	return fail
}

// snapshotNames reports whether the file at path is a snapshot naming log
// segment gen or a later one (never failing: it may be missing, or
// another file, for now).
func snapshotNames(path string, gen uint64) bool {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return false
	}
	payload, _, err := readFrame(b[len(snapshotMagic):])
	var h snapshotHeader
	return err == nil && json.Unmarshal(payload, &h) == nil && h.LogGen >= gen
}

// heldAfterReopen closes the store, opens it again and checks that each
// lock is held with key k.
func heldAfterReopen(t *testing.T, s *Store, path string, names ...string) {
	t.Helper()
	closeT(t, s)
	s = openT(t, path, Options{})
	for _, n := range names {
		if l, ok := getT(t, s, n); !ok || l.Key != "k" {
			t.Errorf("after a restart, lock %q: %+v %v, want held with key k", n, l, ok)
		}
	}
	closeT(t, s)
}

// TestDeletedSnapshotWrittenAgain: the data file deleted (or replaced)
// under a running store is written again from the locks in memory, locked
// as compaction's are, and the next start finds every lock. A review: rm
// of the data file, a change acknowledged after it, then the restart
// refused ("is missing but its log is there"), with no way out.
func TestDeletedSnapshotWrittenAgain(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	for _, tc := range []struct {
		name   string
		remove func(t *testing.T, path string)
		kept   []byte // the file kept by another name, if any
	}{
		{name: "deleted", remove: func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "moved away", remove: func(t *testing.T, path string) {
			if err := os.Rename(path, path+".bak"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "replaced", kept: []byte("locks: {}\n"), remove: func(t *testing.T, path string) {
			writeFile(t, path+".new", []byte("locks: {}\n"))
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			logger, logs := testLogger(t)
			s := openT(t, path, Options{Logger: logger})
			acquire(t, s, "before", "k", "k", 0)
			tc.remove(t, path)
			acquire(t, s, "after", "k", "k", 0)
			eventually(t, "the data file written again", func() bool { return snapshotNames(path, 2) })
			waitCompactionIdle(t, s)
			if err := s.Ready(context.Background()); err != nil {
				t.Errorf("Ready after the data file is written again: %v", err)
			}
			acquire(t, s, "since", "k", "k", 0)
			if gens := segmentGens(t, path); len(gens) != 1 || gens[0] != 2 {
				t.Errorf("log segments %v, want [2]", gens)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "writing the data file again") {
				t.Errorf("no warning saying what happened:\n%s", logs)
			}
			// The new file is locked as compaction's are: a second store
			// is refused even without the lock file.
			os.Remove(path + ".lock")
			if s2, err := Open(path, Options{}); err == nil {
				s2.Close()
				t.Fatal("a second store opened beside the first")
			} else if !strings.Contains(err.Error(), "in use") {
				t.Errorf("second Open: %v, want in use", err)
			}
			if tc.kept != nil {
				kept, _ := filepath.Glob(path + ".replaced-*")
				if len(kept) != 1 {
					t.Fatalf("the file that took the data file's name is not kept: %v", kept)
				}
				if b, err := os.ReadFile(kept[0]); err != nil || !bytes.Equal(b, tc.kept) {
					t.Errorf("kept %s: %q %v, want %q", kept[0], b, err, tc.kept)
				}
			}
			heldAfterReopen(t, s, path, "before", "after", "since")
		})
	}
}

// TestDeletedSnapshotNotWrittenRefusesChanges: when the data file cannot
// be written again (a full disk), changes are refused, as after the log
// segment's deletion, and Ready fails, until a later try works.
func TestDeletedSnapshotNotWrittenRefusesChanges(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	setVar(t, &healRetryEvery, 10*time.Millisecond) // each try fails while the disk does
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	s := openT(t, path, Options{Logger: logger})
	acquire(t, s, "before", "k", "k", 0)
	var tries atomic.Int64
	fail := countedFailingSnapshots(s, &tries)
	fail.Store(true)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ready to fail", func() bool { return s.Ready(context.Background()) != nil })
	err := s.Ready(context.Background())
	if errCode(err) != lock.EUNAVAILABLE || !strings.Contains(err.Error(), "data file was deleted") {
		t.Errorf("Ready: %v", err)
	}
	if summary := lock.ErrorSummary(err); strings.Contains(summary, path) {
		t.Errorf("Ready's summary (the open /readyz) names the file: %s", summary)
	}
	for range 2 {
		if _, _, err := tryAcquire(s, "refused", "k", "k", 0); errCode(err) != lock.EUNAVAILABLE || !strings.Contains(err.Error(), "data file was deleted") {
			t.Fatalf("a change while the data file cannot be written: %v, want it refused", err)
		}
	}
	if _, ok := getT(t, s, "refused"); ok {
		t.Error("a refused change is in memory")
	}
	if l, ok := getT(t, s, "before"); !ok || l.Key != "k" {
		t.Errorf("the lock taken before: %+v %v", l, ok)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "changes are refused") {
		t.Errorf("no error saying changes are refused:\n%s", logs)
	}
	// Tries that fail start no segment each: the one the first try
	// started holds no change (they are refused), and the next tries
	// name it.
	eventually(t, "a few tries more", func() bool { return tries.Load() >= 5 })
	waitCompactionIdle(t, s)
	if gens := segmentGens(t, path); len(gens) > 2 {
		t.Errorf("log segments %v after failed tries to write the data file again: one more for each try", gens)
	}

	// Once the disk takes it, the next try writes it.
	fail.Store(false)
	eventually(t, "Ready to work again", func() bool { return s.Ready(context.Background()) == nil })
	waitCompactionIdle(t, s)
	acquire(t, s, "after", "k", "k", 0)
	heldAfterReopen(t, s, path, "before", "after")
}

// TestDeletedKeptSegmentWrittenAgain: a log segment kept after a snapshot
// failed is needed by the next start (the data file still names it): its
// deletion is healed the same way, by a snapshot that does not need it.
func TestDeletedKeptSegmentWrittenAgain(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	s := openT(t, path, Options{CompactBytes: 1024, Logger: logger})
	fail := failingSnapshots(s)
	fail.Store(true)
	var names []string
	for i := 0; len(segmentGens(t, path)) < 2; i++ {
		if i == 1000 {
			t.Fatal("no compaction started")
		}
		names = append(names, fmt.Sprintf("x%d", i))
		acquire(t, s, names[i], "k", "k", 0)
	}
	eventually(t, "the snapshot to fail", func() bool { return strings.Contains(logs.String(), "writing a snapshot failed") })
	waitCompactionIdle(t, s)
	if h := snapshotHeaderOf(t, path); h.LogGen != 1 {
		t.Fatalf("the snapshot names segment %d, want 1 (its compaction failed)", h.LogGen)
	}
	fail.Store(false)
	if err := os.Remove(segmentPath(path, 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the data file written again", func() bool { return snapshotNames(path, 3) })
	waitCompactionIdle(t, s)
	heldAfterReopen(t, s, path, names...)
}

// TestDeletedLogRefusesChanges: a log segment deleted while the server
// runs (it, or its directory) still takes writes, into a file the next
// start cannot find: the change that finds it so is refused, memory is
// unchanged (a black-box review found such changes acknowledged and lost),
// and the store is written again from memory at once, not at the next
// once-a-second look (a restart meanwhile found it gone): with the
// directory gone that fails, and changes are refused and Ready says so.
func TestDeletedLogRefusesChanges(t *testing.T) {
	setVar(t, &snapshotCheckEvery, time.Hour) // no look but the write's
	for name, remove := range map[string]func(path string) error{
		"the log":       func(path string) error { return os.Remove(segmentPath(path, 1)) },
		"the directory": func(path string) error { return os.RemoveAll(filepath.Dir(path)) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store", "locks.yml")
			if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			s := openT(t, path, Options{})
			defer s.Close()
			acquire(t, s, "before", "k", "k", 0)
			if err := remove(path); err != nil {
				t.Fatal(err)
			}
			if _, _, err := tryAcquire(s, "refused", "k", "k", 0); errCode(err) != lock.EUNAVAILABLE || !strings.Contains(err.Error(), "deleted") {
				t.Fatalf("a change after the log was deleted: %v, want it refused", err)
			}
			if l, ok := getT(t, s, "refused"); ok && !l.Free() {
				t.Fatalf("a refused change is in memory: %+v", l)
			}
			if name == "the directory" {
				if _, _, err := tryAcquire(s, "refused", "k", "k", 0); errCode(err) != lock.EUNAVAILABLE || !strings.Contains(err.Error(), "deleted") {
					t.Fatalf("a change with the directory gone: %v, want it refused", err)
				}
				if err := s.Ready(context.Background()); errCode(err) != lock.EUNAVAILABLE {
					t.Fatalf("Ready with the directory gone: %v", err)
				}
				return
			}
			eventually(t, "the store written again", func() bool { return s.Ready(context.Background()) == nil })
			waitCompactionIdle(t, s)
			acquire(t, s, "after", "k", "k", 0)
			heldAfterReopen(t, s, path, "before", "after")
		})
	}
}

// TestMovedLogWrittenAgain: a log segment moved away while the server runs
// keeps its link count, so the write's check does not see it; the
// once-a-second look does (its name no longer leads to it), and the store
// is written again. A review: 10,757 changes acknowledged after an mv,
// then the restart refused, the segment missing.
func TestMovedLogWrittenAgain(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "before", "k", "k", 0)
	if err := os.Rename(segmentPath(path, 1), filepath.Join(t.TempDir(), "aside")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the store written again", func() bool { return snapshotNames(path, 2) })
	waitCompactionIdle(t, s)
	acquire(t, s, "after", "k", "k", 0)
	heldAfterReopen(t, s, path, "before", "after")
}

// TestReplacedDataFileKeptWhenATryFails: the file that took the data
// file's name is kept before it is written over, also when the first try
// to keep it failed (a review: the retry wrote over it, and its locks were
// gone); meanwhile changes are refused, saying the file was replaced.
func TestReplacedDataFileKeptWhenATryFails(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	setVar(t, &healRetryEvery, 10*time.Millisecond)
	var tries atomic.Int32
	setVar(t, &keepByLink, func(old, new string) error {
		if tries.Add(1) <= 3 {
			return syscall.EPERM
		}
		return os.Link(old, new)
	})
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "before", "k", "k", 0)
	other := []byte("another store's file\n")
	writeFile(t, path+".new", other)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "changes refused", func() bool { return s.Ready(context.Background()) != nil })
	if err := s.Ready(context.Background()); !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Ready while the replaced file cannot be kept: %v, want it to say replaced", err)
	}
	eventually(t, "the data file written again", func() bool { return snapshotNames(path, 2) })
	kept, _ := filepath.Glob(path + ".replaced-*")
	if len(kept) != 1 {
		t.Fatalf("the file that took the data file's name is not kept: %v", kept)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || !bytes.Equal(b, other) {
		t.Errorf("kept %s: %q %v, want %q", kept[0], b, err, other)
	}
	waitCompactionIdle(t, s)
	heldAfterReopen(t, s, path, "before")
}

// TestDeletedLogWrittenAgain: the store whose log segment was deleted (it,
// or its directory) is written again from the locks in memory, which hold
// every change acknowledged, those of the deleted segment too; changes are
// accepted again, and the next start finds them all. A directory deleted
// is written in once it is made again.
func TestDeletedLogWrittenAgain(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	setVar(t, &healRetryEvery, 50*time.Millisecond)
	for name, remove := range map[string]func(path string) error{
		"the log":       func(path string) error { return os.Remove(segmentPath(path, 1)) },
		"the directory": func(path string) error { return os.RemoveAll(filepath.Dir(path)) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store", "locks.yml")
			if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			logger, logs := testLogger(t)
			s := openT(t, path, Options{Logger: logger})
			acquire(t, s, "before", "k", "k", 0)
			if err := remove(path); err != nil {
				t.Fatal(err)
			}
			held := []string{"before"}
			// Refused while the deletion is found by the write, or the
			// store is being written again; else made.
			if _, _, err := tryAcquire(s, "meanwhile", "k", "k", 0); err == nil {
				held = append(held, "meanwhile")
			} else if errCode(err) != lock.EUNAVAILABLE {
				t.Fatalf("a change right after the deletion: %v", err)
			}
			if name == "the directory" {
				time.Sleep(300 * time.Millisecond) // tries that fail: nowhere to write
				if err := s.Ready(context.Background()); errCode(err) != lock.EUNAVAILABLE {
					t.Fatalf("Ready with the directory gone: %v", err)
				}
				if _, _, err := tryAcquire(s, "refused", "k", "k", 0); errCode(err) != lock.EUNAVAILABLE {
					t.Fatalf("a change with the directory gone: %v, want it refused", err)
				}
				if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "the store written again", func() bool { return s.Ready(context.Background()) == nil })
			waitCompactionIdle(t, s)
			acquire(t, s, "after", "k", "k", 0)
			if !strings.Contains(logs.String(), "the log segment was deleted while the server ran") {
				t.Errorf("no warning saying what happened:\n%s", logs)
			}
			heldAfterReopen(t, s, path, append(held, "after")...)
		})
	}
}

// TestReplacedDataFileMovedAwayAfterATryFailed: the file that took the
// data file's name, which could not be kept by another name, is moved away
// as the refusal says to: the store is written again (a re-review: every
// try went on linking the name, which was gone, and changes were refused
// until a restart, which refused too).
func TestReplacedDataFileMovedAwayAfterATryFailed(t *testing.T) {
	setVar(t, &snapshotCheckEvery, 10*time.Millisecond)
	setVar(t, &healRetryEvery, 10*time.Millisecond)
	var movedAway atomic.Bool
	setVar(t, &keepByLink, func(old, new string) error {
		if !movedAway.Load() {
			return syscall.EPERM
		}
		return os.Link(old, new)
	})
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "before", "k", "k", 0)
	writeFile(t, path+".new", []byte("another store's file\n"))
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "changes refused", func() bool { return s.Ready(context.Background()) != nil })
	if err := os.Rename(path, filepath.Join(t.TempDir(), "moved")); err != nil {
		t.Fatal(err)
	}
	movedAway.Store(true)
	eventually(t, "the data file written again", func() bool { return snapshotNames(path, 2) })
	eventually(t, "changes accepted", func() bool { return s.Ready(context.Background()) == nil })
	waitCompactionIdle(t, s)
	heldAfterReopen(t, s, path, "before")
}
