package filestore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// withFrameLimit makes the store's frames at most n bytes of payload for
// the test.
func withFrameLimit(t *testing.T, n int) {
	old := frameLimit
	frameLimit = n
	t.Cleanup(func() { frameLimit = old })
}

// frameSizes lists the payload sizes of the frames of a snapshot or log
// segment, as their headers give them.
func frameSizes(t *testing.T, path, magic string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := checkMagic(b, magic)
	if !ok {
		t.Fatalf("%s: no magic", path)
	}
	var sizes []int
	for len(b) >= frameHeader {
		n := int(binary.LittleEndian.Uint32(b))
		if n == 0 {
			break // preallocated zeros
		}
		sizes = append(sizes, n)
		b = b[min(len(b), frameHeader+n):]
	}
	return sizes
}

// TestWorstEventFitsHistoryBound holds MaxHistoryLimit's arithmetic: the
// longest event the API can make (names of 512 bytes that each escape to
// six) encodes in under 16 KiB, and a snapshot entry of MaxHistoryLimit of
// them with the longest metadata fits a frame with room to spare.
func TestWorstEventFitsHistoryBound(t *testing.T) {
	if frameLimit != maxFrame {
		t.Fatalf("the store writes frames of up to %d bytes, recovery reads %d", frameLimit, maxFrame)
	}
	name := strings.Repeat("<", lock.MaxNameLen)
	far := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60)))
	ev := lock.Event{Type: lock.Refreshed, Lock: name, Key: name, Holder: name, Count: lock.MaxCount, Fence: math.MaxUint64,
		Time: far, Expires: far, By: name, Pool: name}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 16<<10 {
		t.Fatalf("the worst event takes %d bytes, over the 16 KiB MaxHistoryLimit assumes", len(b))
	}
	if MaxHistoryLimit*(16<<10) > maxFrame/2 {
		t.Fatalf("%d events of 16 KiB take more than half a frame", MaxHistoryLimit)
	}
	history := make([]lock.Event, MaxHistoryLimit)
	for i := range history {
		history[i] = ev
	}
	meta := json.RawMessage(`"` + strings.Repeat("<", lock.MaxMetadata-2) + `"`)
	se := snapshotEntry{Lock: diskLock{Name: name, Key: name, Fence: math.MaxUint64, Since: far, FreeSince: far, Pools: []string{name}, Metadata: meta}, History: history}
	se.Lock.Holds.Set(name, lock.Hold{Count: lock.MaxCount, Acquired: far, Expires: far})
	if n := len(appendSnapshotFrame(nil, &se)) - frameHeader; n > maxFrame*3/4 {
		t.Fatalf("a snapshot entry of the worst events takes %d bytes of a frame's %d", n, maxFrame)
	}
}

// TestSnapshotNeverWritesAFrameTooLong: a lock whose entry would be longer
// than a frame recovery reads keeps in the snapshot only its newest events
// that fit, with a warning, instead of a snapshot the next start refuses
// ("frame checksum or length is wrong") after the log that could have
// replaced it is gone.
func TestSnapshotNeverWritesAFrameTooLong(t *testing.T) {
	const limit = 32 << 10
	withFrameLimit(t, limit)
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	opts := Options{HistoryLimit: 1000, Logger: logger}
	s := openT(t, path, opts)
	holder := strings.Repeat("h", 200)
	for range 150 { // 300 events of about 300 bytes: 90 KB of history
		acquire(t, s, "busy", "k", holder, 0)
		release(t, s, "busy", "k", holder)
	}
	acquire(t, s, "quiet", "k", "h", 0)
	want, _ := s.History(context.Background(), "busy")
	closeT(t, s)

	opts.CompactBytes = 1
	s = openT(t, path, opts)
	acquire(t, s, "quiet", "k", "h", 0) // a change, and a snapshot after it
	compacted(t, s, path)
	closeT(t, s)
	for i, n := range frameSizes(t, path, snapshotMagic) {
		if n > limit {
			t.Fatalf("snapshot frame %d holds %d bytes; recovery reads at most %d", i, n, limit)
		}
	}
	if !strings.Contains(logs.String(), "its oldest events are left out") {
		t.Errorf("no warning in the log")
	}
	s = openT(t, path, opts)
	got, _ := s.History(context.Background(), "busy")
	if len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("history after the snapshot: %d events of %d", len(got), len(want))
	}
	for i := range got { // the newest
		if !sameEvent(got[len(got)-1-i], want[len(want)-1-i]) {
			t.Fatalf("event %d from the end: %+v, want %+v", i, got[len(got)-1-i], want[len(want)-1-i])
		}
	}
	if l, _ := getT(t, s, "quiet"); l.Holds.Get("h").Count != 2 {
		t.Fatalf("the other lock: %+v", l)
	}
}

// TestSnapshotOfALockTooLargeFails: a lock that does not fit a frame even
// without history (only one converted from the original locker's file can
// be) fails the snapshot, naming it, and leaves the one before in place.
func TestSnapshotOfALockTooLargeFails(t *testing.T) {
	withFrameLimit(t, 4<<10)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	big := diskLock{Name: "big", Key: "k"}
	for i := range 100 {
		big.Holds.Set(fmt.Sprintf("holder-%03d-%s", i, strings.Repeat("x", 40)), lock.Hold{Count: 1, Acquired: clockBase})
	}
	err = s.writeSnapshot(1, 1, []snapshotEntry{{Lock: diskLock{Name: "a"}}, {Lock: big}})
	if err == nil || !strings.Contains(err.Error(), `lock "big" is too large for a snapshot`) {
		t.Fatalf("writing a snapshot with a lock too large: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the failed snapshot replaced the one before")
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Fatal("the failed snapshot left its temporary file")
	}
}

// TestLogRecordTooLongRefused: a change whose log record would be longer
// than a frame recovery reads is refused (413) and nothing is written,
// instead of a record the next start refuses as damage, or drops as a
// torn tail with the change it acknowledged.
func TestLogRecordTooLongRefused(t *testing.T) {
	const limit = 16 << 10
	withFrameLimit(t, limit)
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	holder := strings.Repeat("h", 400)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, _, err = tryAcquire(s, "crowded", "k", fmt.Sprintf("%03d%s", i, holder), 0)
	}
	if errCode(err) != lock.ETOOLARGE || !strings.Contains(err.Error(), "its log record would take") {
		t.Fatalf("a change past the record limit: %v", err)
	}
	crowded, _ := getT(t, s, "crowded")
	if _, _, err := tryAcquire(s, "new", "k", strings.Repeat("n", limit), 0); errCode(err) != lock.ETOOLARGE {
		t.Fatalf("a new lock past the record limit: %v", err)
	}
	if _, ok := getT(t, s, "new"); ok {
		t.Fatal("a refused first change left its lock")
	}
	release(t, s, "crowded", "k", "000"+holder) // the store goes on
	closeT(t, s)
	for i, n := range frameSizes(t, segmentPath(path, 1), logMagic) {
		if n > limit {
			t.Fatalf("log frame %d holds %d bytes; recovery reads at most %d", i, n, limit)
		}
	}
	s = openT(t, path, Options{})
	if l, _ := getT(t, s, "crowded"); len(l.Holds) != len(crowded.Holds)-1 {
		t.Fatalf("after a restart: %d holders, want %d", len(l.Holds), len(crowded.Holds)-1)
	}
}
