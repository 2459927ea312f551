package filestore

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pileUpSegments runs rounds of a server killed during every compaction:
// each round opens the store at path with snapshots blocked (each write of
// one fails before its rename, as a kill during it leaves things), makes
// changes enough for compactions to start, then "crashes": the files are
// copied as they are while the store runs, and the next round goes on from
// the copy. It checks that every round starts with what the one before
// acknowledged and that fences only go up, and returns the copy's path,
// its state and the highest fence handed out.
//
// A start's compaction names the newest segment and starts none, so kills
// alone no longer pile segments up as they did with older Lockers: after
// its check, each round but the first reopens the store raising the fence
// counter (Options.MinFence, as locker migrate does; a token legible in a
// torn tail does the same), which a start keeps in a new segment, and its
// changes go there. The segments pile up as an older Locker killed during
// every compaction left them.
func pileUpSegments(t *testing.T, path string, opts Options, rounds int) (string, string, uint64) {
	t.Helper()
	closeT(t, openT(t, path, opts)) // a new store writes its first snapshot
	var want string
	var last uint64
	for round := range rounds {
		unblock := blockSnapshots(t, path)
		s := openT(t, path, opts)
		if round > 0 {
			sameDump(t, fmt.Sprintf("round %d, after the crash", round), want, dump(t, s))
			raised := opts
			raised.MinFence = s.Fence() + 1
			waitCompactionIdle(t, s)
			closeT(t, s)
			s = openT(t, path, raised)
		}
		for _, f := range churn(t, s, fmt.Sprintf("r%d", round), 100) {
			if f <= last {
				t.Fatalf("round %d: fence %d handed out after %d", round, f, last)
			}
			last = f
		}
		waitCompactionIdle(t, s)
		want = dump(t, s)
		crashed := copyStoreFiles(t, path, t.TempDir())
		closeT(t, s)
		unblock()
		path = crashed
	}
	return path, want, last
}

// TestCrashAtEveryCompactionCompactedAtStart: a server killed during every
// compaction (a crash loop under load, a stop timeout shorter than a
// snapshot takes) leaves one more log segment each time, and each start
// replays them all. A start that finds more than one segment after the
// snapshot compacts at once, in the background, instead of waiting for the
// newest segment alone to reach CompactBytes; here, without a single
// change after the start.
func TestCrashAtEveryCompactionCompactedAtStart(t *testing.T) {
	clk := &clock{}
	opts := Options{CompactBytes: 2048, Now: clk.Now}
	path, want, last := pileUpSegments(t, filepath.Join(t.TempDir(), "locks.yml"), opts, 4)
	gens := segmentGens(t, path)
	if len(gens) < 5 {
		t.Fatalf("segments %v after four rounds killed during compactions: want them piled up", gens)
	}
	t.Logf("%d segments after four rounds killed during compactions", len(gens))
	logger, logs := testLogger(t)
	opts.Logger = logger
	s := openT(t, path, opts)
	sameDump(t, "after the last crash", want, dump(t, s))
	// The snapshot at start names the newest segment, with the locks as
	// it began; once it is written, that segment, which holds records,
	// is compacted too (at the next tick).
	eventually(t, "the newest segment compacted", func() bool {
		return !s.compactBusy.Load() && snapshotHeaderOf(t, path).LogGen > gens[len(gens)-1]
	})
	gen := compacted(t, s, path)
	if gen <= gens[len(gens)-1] {
		t.Fatalf("left segment %d, want one after %v", gen, gens)
	}
	if !strings.Contains(logs.String(), "compacting at once") {
		t.Errorf("no INFO about the compaction at start:\n%s", logs.String())
	}
	sameDump(t, "after the compaction at start", want, dump(t, s))
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopened after the compaction at start", want, dump(t, s))
	if l := acquire(t, s, "after", "k", "h", 0); l.Fence <= last {
		t.Fatalf("fence %d after the compaction at start, not above %d", l.Fence, last)
	}
}

// TestCrashDuringCompactionAtStart: a start's own compaction killed too
// loses nothing and takes no fence back, and a start that writes nothing
// before it is killed adds no segment: the compaction at start names the
// newest segment itself, instead of starting one more.
func TestCrashDuringCompactionAtStart(t *testing.T) {
	clk := &clock{}
	opts := Options{CompactBytes: 2048, Now: clk.Now}
	path, want, last := pileUpSegments(t, filepath.Join(t.TempDir(), "locks.yml"), opts, 2)
	var gens []uint64
	for round := range 3 {
		unblock := blockSnapshots(t, path)
		s := openAfterCompactionAtStart(t, path, opts)
		sameDump(t, fmt.Sprintf("start %d killed in its compaction", round), want, dump(t, s))
		crashed := copyStoreFiles(t, path, t.TempDir())
		closeT(t, s)
		unblock()
		path = crashed
		got := segmentGens(t, path)
		if round > 0 && len(got) != len(gens) {
			t.Fatalf("start %d, killed with nothing written, left segments %v; the one before left %v", round, got, gens)
		}
		gens = got
	}
	s := openT(t, path, opts)
	sameDump(t, "after starts killed in their compaction", want, dump(t, s))
	compacted(t, s, path)
	if l := acquire(t, s, "after", "k", "h", 0); l.Fence <= last {
		t.Fatalf("fence %d, not above %d", l.Fence, last)
	}
	want = dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopened", want, dump(t, s))
}

// openAfterCompactionAtStart opens the store at path, whose snapshots are
// blocked (blockSnapshots), and returns once the compaction at start has
// chosen its segment and its snapshot has failed, so that a kill staged
// after it lands in that compaction. Waiting for no compaction to run
// (waitCompactionIdle) is not enough: Open returns before the commit loop
// runs compactAtStart, and on a loaded machine the files were at times
// copied before it had begun. A start "killed in its compaction" had then
// not compacted at all: the next start made the segment this one should
// have, and the test failed; and had every copy come that early, it would
// have passed without proving anything. A start that does not compact at
// once fails here.
func openAfterCompactionAtStart(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	tried := make(chan error, 1)
	opts.OnSnapshot = func(err error) {
		select {
		case tried <- err:
		default:
		}
	}
	s := openT(t, path, opts)
	select {
	case err := <-tried:
		if err == nil {
			t.Fatal("the compaction at start wrote its snapshot, though snapshots were blocked")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no compaction at start within 10s of a start that found several log segments after the snapshot")
	}
	waitCompactionIdle(t, s)
	return s
}
