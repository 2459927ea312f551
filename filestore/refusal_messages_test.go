package filestore

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStraySegmentCopyNamed: a stray copy of a log segment under a name
// that reads as the same number (cp locks.yml.log.1 locks.yml.log.01) is
// refused naming the copy, not as "a segment is missing" (a review: that
// named neither the copy nor what to do), and nothing is changed.
func TestStraySegmentCopyNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "held", "k", "k", 0)
	closeT(t, s)
	copyFileT(t, segmentPath(path, 1), path+".log.01")
	openRefused(t, path, path+".log.01", "stray", "locks.yml.log.1")
	// Renamed, without the snapshot: refused before the missing snapshot
	// is taken for a new store's (which would make one beside it).
	if err := os.Remove(segmentPath(path, 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, path+".log.01", "rename it back to locks.yml.log.1")
}

// TestHandWrittenYAMLRefusedWithAHint: a YAML file where the data file
// should be (LOCKER_CONFIG ends in .yml) is refused saying that the
// original locker's file is JSON all the same, and what to do.
func TestHandWrittenYAMLRefusedWithAHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, path, []byte("locks:\n  deploy:\n    key: k\n"))
	openRefused(t, path, "not a Locker data file", "is JSON", "despite", "move it away", "put back")
}

// TestMissingSnapshotRefusalSaysWhatToDo: the data file missing beside its
// log is refused saying how to come back (both from the same backup), and
// that a running server writes a deleted one again itself.
func TestMissingSnapshotRefusalSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "held", "k", "k", 0)
	closeT(t, s)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, "is missing but its log", "every locks.yml.log.* beside it from the same backup", "writes its data file again by itself")
}
