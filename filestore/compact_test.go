package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// churn makes n changes over a handful of locks and returns the fences the
// acquisitions from free were given.
func churn(t testing.TB, s *Store, prefix string, n int) []uint64 {
	t.Helper()
	var fences []uint64
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i%20)
		l, ok := getT(t, s, name)
		wasFree := !ok || l.Free()
		got := acquire(t, s, name, "k", fmt.Sprintf("h%d", i%3), 0)
		if wasFree {
			fences = append(fences, got.Fence)
		}
		if i%4 == 3 {
			release(t, s, name, "k", fmt.Sprintf("h%d", i%3))
		}
	}
	return fences
}

// compacted waits until compaction has caught up: one segment left, and the
// snapshot covering everything before it.
func compacted(t testing.TB, s *Store, path string) uint64 {
	t.Helper()
	var gen uint64
	eventually(t, "compaction to leave one segment", func() bool {
		if s.compactBusy.Load() {
			return false
		}
		gens := segmentGens(t, path)
		if len(gens) != 1 {
			return false
		}
		gen = gens[0]
		return snapshotHeaderOf(t, path).LogGen == gen
	})
	return gen
}

func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	opts := Options{CompactBytes: 4096, HistoryLimit: 5, Now: clk.Now}
	s := openT(t, path, opts)
	fences := churn(t, s, "c", 600)
	if !slices.IsSorted(fences) || len(slices.Compact(slices.Clone(fences))) != len(fences) {
		t.Fatalf("fences not strictly increasing: %v", fences)
	}
	gen := compacted(t, s, path)
	if gen < 3 {
		t.Fatalf("600 changes with CompactBytes 4096 left segment %d: too few compactions", gen)
	}
	hdr := snapshotHeaderOf(t, path)
	if hdr.Count != 20 {
		t.Fatalf("snapshot holds %d locks, want 20", hdr.Count)
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Fatal("a temporary snapshot was left behind")
	}
	want := dump(t, s)
	closeT(t, s)

	s = openT(t, path, opts)
	sameDump(t, "after compaction and reopen", want, dump(t, s))
	closeT(t, s)
	// Options do not change what is read.
	s = openT(t, path, Options{HistoryLimit: 5})
	sameDump(t, "reopen with default options", want, dump(t, s))
}

// blockSnapshots makes every snapshot write fail before its rename, as a
// crash between starting a new segment and renaming the snapshot would leave
// things: a directory (not empty, so it cannot be removed) where the
// temporary snapshot goes.
func blockSnapshots(t testing.TB, path string) func() {
	t.Helper()
	if err := os.Mkdir(path+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(path+".tmp", "x"), []byte("x"))
	return func() {
		if err := os.RemoveAll(path + ".tmp"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCrashBeforeSnapshotRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	clk := &clock{}
	opts := Options{CompactBytes: 2048, Now: clk.Now}
	s := openT(t, path, opts)
	churn(t, s, "pre", 30)
	base := compacted(t, s, path)
	baseHdr := snapshotHeaderOf(t, path)
	unblock := blockSnapshots(t, path)
	churn(t, s, "mid", 200)
	want := dump(t, s)
	// Copy the files aside while the store runs, as a crash would leave
	// them; and also close it.
	crashDir := t.TempDir()
	crashPath := copyStoreFiles(t, path, crashDir)
	closeT(t, s)

	gens := segmentGens(t, path)
	if len(gens) != 2 || gens[0] != base {
		t.Fatalf("segments %v: want %d (the snapshot never moved on) and the one its failed compaction started, no more while snapshots fail", gens, base)
	}
	if hdr := snapshotHeaderOf(t, path); hdr != baseHdr {
		t.Fatalf("snapshot header %+v, was %+v: the failed snapshots replaced it", hdr, baseHdr)
	}
	// Keep the segments as they were, to stage a later crash.
	oldSegs := t.TempDir()
	for _, g := range gens {
		copyFileT(t, segmentPath(path, g), filepath.Join(oldSegs, filepath.Base(segmentPath(path, g))))
	}

	// Recovery replays every segment after the old snapshot.
	c := openT(t, crashPath, Options{Now: clk.Now})
	sameDump(t, "crash copy", want, dump(t, c))
	closeT(t, c)
	unblock()
	s = openT(t, path, opts)
	sameDump(t, "after reopen", want, dump(t, s))

	// Snapshots work again: the next compaction covers all of it.
	churn(t, s, "post", 40)
	gen := compacted(t, s, path)
	if gen <= gens[len(gens)-1] {
		t.Fatalf("segment after recovery %d, not past %d", gen, gens[len(gens)-1])
	}
	want = dump(t, s)
	closeT(t, s)

	// A crash after the rename but before the old segments were removed:
	// they are ignored and removed on open.
	for _, g := range gens {
		copyFileT(t, filepath.Join(oldSegs, filepath.Base(segmentPath(path, g))), segmentPath(path, g))
	}
	s = openT(t, path, opts)
	sameDump(t, "with stale old segments", want, dump(t, s))
	if got := segmentGens(t, path); len(got) != 1 || got[0] != gen {
		t.Fatalf("segments after open: %v, want [%d]", got, gen)
	}
}

func TestStaleTemporarySnapshotIgnored(t *testing.T) {
	path, want, clk := committedStore(t)
	writeFile(t, path+".tmp", []byte("half a snapsh"))
	s := openT(t, path, Options{Now: clk.Now, CompactBytes: 1024})
	sameDump(t, "with a stale .tmp", want, dump(t, s))
	churn(t, s, "x", 40)
	compacted(t, s, path)
	want = dump(t, s)
	closeT(t, s)
	s = openT(t, path, Options{Now: clk.Now})
	sameDump(t, "after compaction over a stale .tmp", want, dump(t, s))
}

func TestFenceNeverRepeats(t *testing.T) {
	t.Parallel() // sets no package variable (frameLimit, readWindow, hooks): beside the others, after the serial tests that do (CI time)
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	clk := &clock{}
	opts := Options{CompactBytes: 1024, Now: clk.Now}
	var last uint64
	seen := map[uint64]string{}
	for round := range 8 {
		s := openT(t, path, opts)
		for i := range 60 {
			name := fmt.Sprintf("f-%d", i%4)
			key := fmt.Sprintf("k-%d-%d", round, i)
			l := acquire(t, s, name, key, "h", 0)
			if l.Fence <= last {
				t.Fatalf("round %d: %s got fence %d after %d", round, name, l.Fence, last)
			}
			if prev, dup := seen[l.Fence]; dup {
				t.Fatalf("fence %d handed out twice (%s, %s)", l.Fence, prev, name)
			}
			seen[l.Fence] = fmt.Sprintf("round %d %s", round, name)
			last = l.Fence
			// A second hold under the same key keeps the fence.
			if again := acquire(t, s, name, key, "h2", 0); again.Fence != l.Fence {
				t.Fatalf("re-entrant acquire changed the fence: %d -> %d", l.Fence, again.Fence)
			}
			release(t, s, name, key, "h")
			release(t, s, name, key, "h2")
		}
		if round%2 == 0 {
			closeT(t, s)
			continue
		}
		// A crash: continue from a copy of the files taken without Close.
		crashDir := t.TempDir()
		path = copyStoreFiles(t, path, crashDir)
		closeT(t, s)
	}
	if len(seen) != 8*60 {
		t.Fatalf("%d fences for %d acquisitions", len(seen), 8*60)
	}
}

func TestCompactionKeepsHistoryBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	opts := Options{CompactBytes: 1024, HistoryLimit: 4, Now: clk.Now}
	s := openT(t, path, opts)
	churn(t, s, "h", 300)
	compacted(t, s, path)
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), `"type":"`); n > 20*4 {
		t.Fatalf("snapshot holds %d events for 20 locks with a history limit of 4", n)
	}
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopen", want, dump(t, s))
}
