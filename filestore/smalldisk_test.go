package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestOwnLogDoesNotFillASmallDisk: on a file system smaller than the
// compaction threshold (64 MiB by default) the log grew until it filled the
// disk itself, and every change was refused (507) from then on, also after
// a restart, although the locks took a few kilobytes: compaction, which
// would give the space of every older change back, waited for a log the
// disk could not hold. The store compacts early once the disk has less
// room left than the log takes, so changes of many times the disk's size
// all go through.
func TestOwnLogDoesNotFillASmallDisk(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	path := filepath.Join(dir, "locks.yml")
	opts := Options{HistoryLimit: 4}
	s := openT(t, path, opts)
	pad := strings.Repeat("x", 400)
	written := 0
	for i := 0; written < 16<<20; i++ {
		name := fmt.Sprintf("l-%d", i%8)
		holder := fmt.Sprintf("h-%d-%s", i%3, pad)
		if _, _, err := tryAcquire(s, name, "k", holder, 0); err != nil {
			t.Fatalf("change %d, after %d KiB of records on a 4 MiB disk: %v", i, written>>10, err)
		}
		if _, _, err := tryRelease(s, name, "k", holder); err != nil {
			t.Fatalf("change %d, after %d KiB of records on a 4 MiB disk: %v", i, written>>10, err)
		}
		written += 3 * len(pad) // a lower bound: the grant's record holds the holder twice (lock and event), the release's once
	}
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	defer closeT(t, s)
	sameDump(t, "after a restart", want, dump(t, s))
}

// TestSmallDiskFullWhileSnapshotsFail: while snapshots cannot be written
// (here a directory in the way of <file>.tmp, as a disk full of something
// else would), early compaction must not start a segment for each chunk
// of log, each left behind by its failed snapshot with a chunk
// preallocated. Once there is room again, the log that filled the disk is
// compacted at once, not when it reaches the compaction threshold.
func TestSmallDiskFullWhileSnapshotsFail(t *testing.T) {
	dir := mountTmpfs(t, "16m")
	path := filepath.Join(dir, "locks.yml")
	filler := filepath.Join(dir, "filler")
	writeFile(t, filler, make([]byte, 4<<20)) // the something else, freed later
	opts := Options{HistoryLimit: 4}
	s := openT(t, path, opts)
	unblock := blockSnapshots(t, path)
	pad := strings.Repeat("x", 400)
	change := func(i int) error {
		name := fmt.Sprintf("l-%d", i%8)
		holder := fmt.Sprintf("h-%d-%s", i%3, pad)
		if _, _, err := tryAcquire(s, name, "k", holder, 0); err != nil {
			return err
		}
		_, _, err := tryRelease(s, name, "k", holder)
		return err
	}
	i := 0
	for ; ; i++ {
		if i > 100000 {
			t.Fatal("a 16 MiB disk never filled")
		}
		if err := change(i); err != nil {
			if lock.ErrorCode(err) != lock.ENOSPACE {
				t.Fatalf("change %d: %v; want the disk full", i, err)
			}
			break
		}
	}
	// The first segment, and the one the failed try started.
	if gens := segmentGens(t, path); len(gens) > 2 {
		t.Errorf("log segments %v while snapshots failed: a new one for each try", gens)
	}
	unblock()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// More room than at the last look: the log, which filled the disk, is
	// compacted within seconds (a third segment), not a minute later. A
	// change may fit now and then in what the failed ones gave back; a
	// run of hundreds needs the log compacted.
	eventually(t, "changes to go through once there is room for a snapshot", func() bool {
		for range 200 {
			i++
			if change(i) != nil {
				return false
			}
		}
		return true
	})
	// The failed snapshot is tried again within a second (the commit
	// loop's tick), then the segment written to since is compacted.
	compacted := func() bool {
		gens := segmentGens(t, path)
		return !s.compactBusy.Load() && len(gens) == 1 && gens[0] >= 3 && snapshotHeaderOf(t, path).LogGen == gens[0]
	}
	eventually(t, "the log that filled the disk to be compacted", compacted)
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	defer closeT(t, s)
	sameDump(t, "after a restart", want, dump(t, s))
}
