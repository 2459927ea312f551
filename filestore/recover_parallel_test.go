package filestore

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// parallelFiles writes a snapshot of locks entries and a log of records
// records, and returns the snapshot's path and each frame's offset in its
// file (the snapshot's entries, then the log's records).
func parallelFiles(t *testing.T, locks, records int) (path string, snapOffs, logOffs []int, want map[string]lock.Lock) {
	t.Helper()
	want = map[string]lock.Lock{}
	path = filepath.Join(t.TempDir(), "locks.yml")
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	entries := make([]snapshotEntry, locks)
	for i := range entries {
		name := fmt.Sprintf("lock-%05d", i)
		entries[i] = snapshotEntry{
			Lock:    diskLock{Name: name, Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1 + i%3, Acquired: now}}), Fence: uint64(i + 1), Since: now},
			History: []lock.Event{{Type: lock.Acquired, Lock: name, Key: "k", Holder: "h", Count: 1, Fence: uint64(i + 1), Time: now}},
		}
	}
	for _, e := range entries {
		want[e.Lock.Name] = *e.Lock.lock()
	}
	st := &Store{path: path, opts: Options{NoSync: true}}
	if err := st.writeSnapshot(1, uint64(locks), entries); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := len(snapshotMagic)
	_, n, _ := readFrame(b[off:]) // the header
	off += n
	for range locks {
		snapOffs = append(snapOffs, off)
		_, n, err := readFrame(b[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	buf := appendFrame([]byte(logMagic), mustJSON(logHeader{Gen: 1}))
	fence := uint64(locks)
	for i := range records {
		t1 := now.Add(time.Duration(i) * time.Second)
		name := fmt.Sprintf("lock-%05d", (i*7)%(locks+records/2))
		d := diskLock{Name: name}
		ev := lock.Event{Type: lock.Released, Lock: name, Key: "k", Holder: "h", Time: t1}
		switch {
		case i%2 == 0:
			fence++
			d = diskLock{Name: name, Key: "k2", Holds: lock.HoldsOf(map[string]lock.Hold{"h2": {Count: 1, Acquired: t1}}), Fence: fence, Since: t1}
			ev = lock.Event{Type: lock.Acquired, Lock: name, Key: "k2", Holder: "h2", Count: 1, Fence: fence, Time: t1}
		case i%6 == 1:
			// A pool's member with metadata: the fields decoded by
			// encoding/json (json.RawMessage must not keep the bytes
			// it was read from, which the reader reuses).
			d = diskLock{Name: name, FreeSince: t1, Pools: []string{fmt.Sprintf("pool-%d", i%5)}, Metadata: json.RawMessage(fmt.Sprintf(`{"record":%d,"host":"h-%05d"}`, i, i))}
		}
		want[name] = *d.lock()
		logOffs = append(logOffs, len(buf))
		buf = appendFrame(buf, mustJSON(logRecord{Lock: d, Events: []lock.Event{ev}, Fence: fence}))
	}
	if err := os.WriteFile(segmentPath(path, 1), buf, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, snapOffs, logOffs, want
}

// recovered is what recoverState returned, comparable.
type recovered struct {
	Err        string
	Fence      uint64
	Tail       int64
	ZeroTail   bool
	Locks      map[string]lock.Lock
	Histories  map[string][]lock.Event
	SnapSize   int64
	SegmentGen []uint64
}

// recoverWith recovers path with the given number of decoding goroutines,
// reading the files through a window of the given size (0: the default).
func recoverWith(t *testing.T, path string, workers, window int) recovered {
	t.Helper()
	old, oldWindow := decodeWorkers, readWindow
	decodeWorkers = func() int { return workers }
	if window > 0 {
		readWindow = window
	}
	defer func() { decodeWorkers, readWindow = old, oldWindow }()
	st, err := recoverState(path, 100)
	if err != nil {
		return recovered{Err: err.Error()}
	}
	r := recovered{Fence: st.fence, Tail: st.tailOffset, ZeroTail: st.zeroTail, SnapSize: st.snapSize, Locks: map[string]lock.Lock{}, Histories: map[string][]lock.Event{}}
	for name, e := range st.locks {
		r.Locks[name] = *e.lock
		r.Histories[name] = historyEvents(name, e.history)
	}
	for _, s := range st.segments {
		r.SegmentGen = append(r.SegmentGen, s.gen)
	}
	return r
}

// reframe replaces the frame at off in file with one holding payload (a
// valid checksum).
func reframe(t *testing.T, file string, off int, payload []byte) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := readFrame(b[off:])
	if err != nil {
		t.Fatal(err)
	}
	out := append(append(append([]byte{}, b[:off]...), appendFrame(nil, payload)...), b[off+n:]...)
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestParallelRecoveryMatchesSequential recovers large files, whole and
// damaged in various ways, with one decoding goroutine and with several,
// and checks that both give the same state, or the same refusal. It also
// reads them through windows smaller than a frame, of a few frames (chunks
// ending inside a frame), and of the default size (the whole files here),
// which must all agree too.
func TestParallelRecoveryMatchesSequential(t *testing.T) {
	const locks, records = 3*recoveryChunk/2 + 17, 2*recoveryChunk + 5
	cases := []struct {
		name    string
		damage  func(t *testing.T, path string, snapOffs, logOffs []int)
		refused string // "" when recovery must succeed
	}{
		{"whole", func(*testing.T, string, []int, []int) {}, ""},
		{"snapshot frame checksum", func(t *testing.T, path string, snapOffs, _ []int) {
			flipByte(t, path, snapOffs[recoveryChunk+3]+frameHeader+5)
		}, fmt.Sprintf("snapshot lock %d of %d", recoveryChunk+4, locks)},
		{"snapshot entry not JSON", func(t *testing.T, path string, snapOffs, _ []int) {
			reframe(t, path, snapOffs[100], []byte(`{"lock":`))
		}, fmt.Sprintf("snapshot lock 101 of %d", locks)},
		{"snapshot entry breaks the invariants", func(t *testing.T, path string, snapOffs, _ []int) {
			reframe(t, path, snapOffs[recoveryChunk+1], []byte(`{"lock":{"name":"bad","key":"k"}}`))
		}, "does not match its 0 holds"},
		{"snapshot lists a lock twice", func(t *testing.T, path string, snapOffs, _ []int) {
			reframe(t, path, snapOffs[recoveryChunk+9], []byte(`{"lock":{"name":"lock-00002"}}`))
		}, `lists lock "lock-00002" twice`},
		{"log record checksum in the middle", func(t *testing.T, path string, _, logOffs []int) {
			flipByte(t, segmentPath(path, 1), logOffs[recoveryChunk+100]+frameHeader+3)
		}, "damaged record at byte"},
		{"log record not JSON", func(t *testing.T, path string, _, logOffs []int) {
			reframe(t, segmentPath(path, 1), logOffs[recoveryChunk-1], []byte(`not json`))
		}, "record at byte"},
		{"log record breaks the invariants", func(t *testing.T, path string, _, logOffs []int) {
			reframe(t, segmentPath(path, 1), logOffs[2*recoveryChunk], []byte(`{"lock":{"name":"x","holds":{"h":{"count":1}}}}`))
		}, "record at byte"},
		{"torn tail", func(t *testing.T, path string, _, _ []int) {
			seg := segmentPath(path, 1)
			info, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(seg, info.Size()-7); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, snapOffs, logOffs, want := parallelFiles(t, locks, records)
			c.damage(t, path, snapOffs, logOffs)
			seq := recoverWith(t, path, 1, 0)
			par := recoverWith(t, path, 3, 0)
			if fileSize(t, path) > readWindow || fileSize(t, segmentPath(path, 1)) > readWindow {
				t.Fatal("the default window no longer holds the whole files: the reference is not whole-file reading")
			}
			for _, window := range []int{1, 1000, 4096 + 13} {
				if w := recoverWith(t, path, 3, window); !reflect.DeepEqual(seq, w) {
					t.Fatalf("read through a window of %d bytes, recovery differs from reading the files whole (error %q, %d locks, tail %d; whole: %q, %d locks, tail %d)", window, w.Err, len(w.Locks), w.Tail, seq.Err, len(seq.Locks), seq.Tail)
				}
			}
			if c.refused == "" && seq.Err != "" {
				t.Fatalf("refused: %s", seq.Err)
			}
			if c.refused != "" && !strings.Contains(seq.Err, c.refused) {
				t.Fatalf("error %q, want it to mention %q", seq.Err, c.refused)
			}
			if !reflect.DeepEqual(seq, par) {
				if seq.Err != "" || par.Err != "" {
					t.Fatalf("one goroutine: %q\nseveral: %q", seq.Err, par.Err)
				}
				t.Fatalf("recovered states differ (fence %d/%d, tail %d/%d, %d/%d locks)", seq.Fence, par.Fence, seq.Tail, par.Tail, len(seq.Locks), len(par.Locks))
			}
			if c.name == "whole" {
				if !reflect.DeepEqual(seq.Locks, want) {
					t.Errorf("recovered %d locks, not the %d written", len(seq.Locks), len(want))
				}
				if seq.Tail != int64(fileSize(t, segmentPath(path, 1))) {
					t.Errorf("tail %d", seq.Tail)
				}
				if seq.SnapSize != int64(fileSize(t, path)) {
					t.Errorf("snapshot size %d, the file's %d", seq.SnapSize, fileSize(t, path))
				}
			}
			if c.name == "torn tail" && seq.Tail != int64(logOffs[len(logOffs)-1]) {
				t.Errorf("torn tail: valid data ends at %d, want %d", seq.Tail, logOffs[len(logOffs)-1])
			}
		})
	}
}

func flipByte(t *testing.T, file string, off int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x20
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, file string) int {
	t.Helper()
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.Size())
}
