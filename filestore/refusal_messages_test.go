package filestore

import (
	"bytes"
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

// TestDamagedSnapshotRefusalSaysWhatToDo: a data file damaged after its
// magic line was refused with the frame's error alone ("…/locks.yml:
// snapshot end: frame checksum or length is wrong"), which said neither
// that the data file is damaged nor what to do; the log's damage names
// locker salvage, which cannot mend this. The refusal says both.
func TestDamagedSnapshotRefusalSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{CompactBytes: 1})
	for _, name := range []string{"a", "b", "c"} {
		acquire(t, s, name, "k", "h", 0)
	}
	waitCompactionIdle(t, s)
	closeT(t, s)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func([]byte) []byte{
		"header":      func(b []byte) []byte { b[len(snapshotMagic)+12] ^= 0x04; return b },
		"a lock":      func(b []byte) []byte { b[len(b)/2] ^= 0x04; return b },
		"cut short":   func(b []byte) []byte { return b[:len(b)-10] },
		"end missing": func(b []byte) []byte { return b[:len(b)-len(b)/4] },
		"data after":  func(b []byte) []byte { return append(b, 'x') },
	} {
		t.Run(name, func(t *testing.T) {
			writeFile(t, path, change(bytes.Clone(good)))
			openRefused(t, path, path, "the data file is damaged", "locker salvage cannot mend it", "every locks.yml.log.* beside it from the same backup")
		})
	}
}
