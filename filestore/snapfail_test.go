package filestore

import (
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

// countedFailingSnapshots makes the store's snapshot writes fail (ENOSPC)
// while the flag it returns is set, and counts the tries in *tries.
func countedFailingSnapshots(s *Store, tries *atomic.Int64) *atomic.Bool {
	fail := new(atomic.Bool)
	s.logMu.Lock() // compact takes it before each snapshot it writes
	s.snapshotFault = func() error {
		tries.Add(1)
		if fail.Load() {
			return syscall.ENOSPC
		}
		return nil
	}
	s.logMu.Unlock()
	return fail
}

// TestFailedSnapshotStartsNoMoreSegments: while snapshots fail (a full
// disk, a directory the server may not write to), the store goes on
// appending to the segment the first failed compaction started, and does
// not try again at each compaction size of log: before, every later try
// started one more segment (here one per KiB of log), which every start
// replayed, and logged one more ERROR. Nothing is lost: a start with
// snapshots working again finds every lock and compacts them all.
func TestFailedSnapshotStartsNoMoreSegments(t *testing.T) {
	setVar(t, &compactRetryEvery, time.Hour)
	// Tries again come from the once-a-second tick (sooner when the
	// disk, shared with other tests, gains room): none here.
	setVar(t, &snapshotCheckEvery, time.Hour)
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	opts := Options{CompactBytes: 1024, Logger: logger}
	s := openT(t, path, opts)
	var tries atomic.Int64
	countedFailingSnapshots(s, &tries).Store(true)
	churn(t, s, "c", 1000) // records of 200-300 bytes: hundreds of KiB of log
	waitCompactionIdle(t, s)
	if gens := segmentGens(t, path); len(gens) != 2 {
		t.Errorf("log segments %v after 1000 changes while snapshots failed: want the snapshot's and the one its failed compaction started", gens)
	}
	if n := tries.Load(); n != 1 {
		t.Errorf("%d snapshot writes tried within the retry interval, want 1", n)
	}
	if n := strings.Count(logs.String(), "writing a snapshot failed"); n != 1 {
		t.Errorf("%d ERRORs about failed snapshots, want 1", n)
	}
	if h := snapshotHeaderOf(t, path); h.LogGen != 1 {
		t.Errorf("the snapshot names segment %d, want 1 (its compaction failed)", h.LogGen)
	}
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopened after snapshots failed", want, dump(t, s))
	compacted(t, s, path)
	sameDump(t, "compacted at start", want, dump(t, s))
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopened after the compaction at start", want, dump(t, s))
}

// TestFailedSnapshotRetried: a snapshot that failed is tried again (here
// every few milliseconds), without a change needed to set it off and
// without a new segment for each try; once a try works, the segments it
// covers are removed, the segment the store went on in (past its limit by
// then) is compacted too, and a reopen finds every lock.
func TestFailedSnapshotRetried(t *testing.T) {
	setVar(t, &compactRetryEvery, 5*time.Millisecond)
	setVar(t, &snapshotCheckEvery, 5*time.Millisecond)
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	var failed atomic.Int64
	var lastErr atomic.Pointer[error]
	opts := Options{CompactBytes: 1024, Logger: logger, OnSnapshot: func(err error) {
		if err != nil {
			failed.Add(1)
		}
		lastErr.Store(&err)
	}}
	s := openT(t, path, opts)
	var tries atomic.Int64
	fail := countedFailingSnapshots(s, &tries)
	fail.Store(true)
	for round := range 20 {
		churn(t, s, fmt.Sprintf("r%d", round), 50)
		if gens := segmentGens(t, path); len(gens) > 2 {
			t.Fatalf("log segments %v after round %d while snapshots failed: one more for each try", gens, round)
		}
	}
	eventually(t, "a few tries more", func() bool { return tries.Load() >= 5 })
	waitCompactionIdle(t, s)
	if gens := segmentGens(t, path); len(gens) != 2 {
		t.Fatalf("log segments %v after %d failed tries, want 2", gens, tries.Load())
	}
	// The tries go on meanwhile: one may have begun and not ended yet.
	if n, last := failed.Load(), lastErr.Load(); n < 4 || n > tries.Load() || last == nil || *last == nil {
		t.Errorf("OnSnapshot told of %d failures for %d failed tries", n, tries.Load())
	}
	want := dump(t, s)
	fail.Store(false)
	compacted(t, s, path) // no change made: the tries go on by themselves
	if err := *lastErr.Load(); err != nil {
		t.Errorf("OnSnapshot's last: %v, want nil once a snapshot is written", err)
	}
	if !strings.Contains(logs.String(), "snapshot written") {
		t.Errorf("no INFO saying the snapshot was written at last:\n%s", logs)
	}
	sameDump(t, "compacted after the snapshots failed", want, dump(t, s))
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopened", want, dump(t, s))
	if gens := segmentGens(t, path); len(gens) != 1 {
		t.Errorf("log segments %v after the reopen, want 1", gens)
	}
}

// TestRestartsWhileSnapshotsFailAddNoSegment: a server restarted while
// its snapshots fail (a crash loop on a full disk) starts no log segment
// at each start. Before, each start's compaction started one (the last
// one held records) and its snapshot failed like the others: the segments,
// and the next start's replay, grew with every restart. A torn tail on
// the last segment (every other restart here) is cut off before the start
// appends to it again, and nothing is lost or doubled: every restart
// finds the state the one before acknowledged, fences only go up, and
// once snapshots work again one segment is left.
func TestRestartsWhileSnapshotsFailAddNoSegment(t *testing.T) {
	// No catch-up after the compaction at start until the end.
	setVar(t, &snapshotCheckEvery, time.Hour)
	path := filepath.Join(t.TempDir(), "locks.yml")
	opts := Options{CompactBytes: 1024}
	s := openT(t, path, opts)
	unblock := blockSnapshots(t, path)
	var last uint64
	for _, f := range churn(t, s, "pre", 50) {
		last = max(last, f)
	}
	waitCompactionIdle(t, s)
	if gens := segmentGens(t, path); len(gens) != 2 {
		t.Fatalf("log segments %v after a failed compaction: want the snapshot's and the one the compaction started", gens)
	}
	torn := appendFrame(nil, mustJSON(logRecord{
		Lock:   diskLock{Name: "torn", Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: clockBase}}), Fence: 1, Since: clockBase},
		Events: []lock.Event{{Type: lock.Acquired, Lock: "torn", Key: "k", Holder: "h", Count: 1, Fence: 1, Time: clockBase}},
		Fence:  1,
	}))
	for round := range 6 {
		want := dump(t, s)
		closeT(t, s)
		if round%2 == 1 {
			// A crash in a write: half a record where the committed
			// ones end, never acknowledged.
			st, err := recoverState(path, 100)
			if err != nil {
				t.Fatal(err)
			}
			gens := segmentGens(t, path)
			f, err := os.OpenFile(segmentPath(path, gens[len(gens)-1]), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(torn[:len(torn)/2], st.tailOffset); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		s = openAfterCompactionAtStart(t, path, opts)
		sameDump(t, fmt.Sprintf("restart %d while snapshots fail", round), want, dump(t, s))
		for _, f := range churn(t, s, fmt.Sprintf("r%d", round), 30) {
			if f <= last {
				t.Fatalf("restart %d: fence %d handed out after %d", round, f, last)
			}
			last = f
		}
		waitCompactionIdle(t, s)
		if gens := segmentGens(t, path); len(gens) != 2 {
			t.Fatalf("log segments %v after restart %d while snapshots fail: want the two there were before it (each restart added one)", gens, round)
		}
	}
	want := dump(t, s)
	closeT(t, s)
	unblock()
	// The start's snapshot names the segment it went on in, which holds
	// records: replayed after it, each is made once.
	gens := segmentGens(t, path)
	first := filepath.Join(t.TempDir(), "first-segment")
	copyFileT(t, segmentPath(path, gens[0]), first)
	s = openT(t, path, opts)
	sameDump(t, "reopened once snapshots work", want, dump(t, s))
	eventually(t, "the compaction at start", func() bool {
		return !s.compactBusy.Load() && snapshotHeaderOf(t, path).LogGen != gens[0]
	})
	if got, h := segmentGens(t, path), snapshotHeaderOf(t, path); len(got) != 1 || got[0] != gens[1] || h.LogGen != gens[1] {
		t.Fatalf("segments %v, snapshot naming %d after the compaction at start: want the last segment of %v alone, named", got, h.LogGen, gens)
	}
	closeT(t, s)
	// A crash after the snapshot's rename, before the segment before it
	// was removed, leaves that one too: ignored.
	copyFileT(t, first, segmentPath(path, gens[0]))
	setVar(t, &snapshotCheckEvery, 5*time.Millisecond) // the catch-up comes from the tick
	s = openT(t, path, opts)
	sameDump(t, "reopened after the compaction at start", want, dump(t, s))
	compacted(t, s, path)
	sameDump(t, "compacted", want, dump(t, s))
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "reopened after the compaction", want, dump(t, s))
	if l := acquire(t, s, "after", "k", "h", 0); l.Fence <= last {
		t.Fatalf("fence %d, not above %d", l.Fence, last)
	}
}
