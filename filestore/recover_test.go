package filestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, path, nil)
	err := openRefused(t, path, path, "empty")
	t.Logf("refusal: %v", err)
}

func TestGarbageFileRefused(t *testing.T) {
	for name, content := range map[string]string{
		"text":            "hello, this is not a lock file\n",
		"yaml":            "locks:\n  - name: a\n",
		"legacy null":     "null",
		"legacy array":    "[]",
		"binary":          "\x00\x01\x02\xff\xfe",
		"snapshot magic":  snapshotMagic,
		"truncated magic": snapshotMagic[:5],
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			writeFile(t, path, []byte(content))
			openRefused(t, path, path)
		})
	}
}

func TestMissingSnapshotWithLogRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "a", "k", "h", 0)
	closeT(t, s)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, "missing")
}

const legacyJSON = `{"name": {"locked_by": {"h": 1, "z": 0}, "key": "k"}, "free": {"locked_by": {}, "key": ""}}`

func TestLegacyFileImported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	writeFile(t, path, []byte(legacyJSON))
	s := openT(t, path, Options{})

	l, ok := getT(t, s, "name")
	if !ok || l.Key != "k" || len(l.Holds) != 1 || l.Holds.Get("h").Count != 1 {
		t.Fatalf("held legacy lock: %+v ok=%v", l, ok)
	}
	if _, zero := l.Holds.Lookup("z"); zero {
		t.Fatal("a zero count was kept")
	}
	if l.Fence == 0 || l.Since.IsZero() || l.Holds.Get("h").Acquired.IsZero() {
		t.Fatalf("held legacy lock has no fence, since or acquired time: %+v", l)
	}
	f, ok := getT(t, s, "free")
	if !ok || !f.Free() || len(f.Holds) != 0 || f.Fence != 0 {
		t.Fatalf("free legacy lock: %+v ok=%v", f, ok)
	}
	orig, err := os.ReadFile(path + ".orig")
	if err != nil || string(orig) != legacyJSON {
		t.Fatalf("copy of the original file: %q, %v", orig, err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		t.Fatalf("the data file was not converted: %q", b)
	}
	// The seed API's view.
	if got := l.Counts(); len(got) != 1 || got["h"] != 1 {
		t.Fatalf("counts: %v", got)
	}

	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, Options{})
	sameDump(t, "after restart", want, dump(t, s))
	// The next fence is above the one the import handed out.
	if n := acquire(t, s, "other", "k2", "h2", 0); n.Fence <= l.Fence {
		t.Fatalf("fence after import: %d, not above %d", n.Fence, l.Fence)
	}
	// The held lock still obeys its key: a release under it frees it.
	if _, _, err := tryAcquire(s, "name", "other-key", "x", 0); lock.ErrorCode(err) != lock.ECONFLICT {
		t.Fatalf("acquire under another key: %v", err)
	}
	if r := release(t, s, "name", "k", "h"); !r.Free() {
		t.Fatalf("after release: %+v", r)
	}
	want = dump(t, s)
	closeT(t, s)
	s = openT(t, path, Options{})
	sameDump(t, "after second restart", want, dump(t, s))
	if orig, _ := os.ReadFile(path + ".orig"); string(orig) != legacyJSON {
		t.Fatalf("the copy changed: %q", orig)
	}
}

func TestLegacyAllZeroIsFree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, path, []byte(`
	{"a": {"locked_by": {"h": 0, "g": 0}, "key": "k"}, "b": {"key": "k2", "locked_by": {"x": 3}}}`))
	s := openT(t, path, Options{})
	a, ok := getT(t, s, "a")
	if !ok || !a.Free() || a.Key != "" || len(a.Holds) != 0 || a.Fence != 0 {
		t.Fatalf("all-zero legacy lock should be free: %+v ok=%v", a, ok)
	}
	b, _ := getT(t, s, "b")
	if b.Key != "k2" || b.Holds.Get("x").Count != 3 || b.Fence == 0 {
		t.Fatalf("lock b: %+v", b)
	}
	want := dump(t, s)
	closeT(t, s)
	s = openT(t, path, Options{})
	sameDump(t, "after restart", want, dump(t, s))
}

// TestLegacyFreeLocksWithBadNamesLeftOut: the original took any name. A
// free lock whose name is no longer valid (too long, control characters)
// holds nothing: it is left out with a warning, rather than stopping the
// whole conversion.
func TestLegacyFreeLocksWithBadNamesLeftOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	long := strings.Repeat("n", 513)
	writeFile(t, path, []byte(`{"prod": {"key": "k", "locked_by": {"h": 1}}, "`+long+`": {"key": "", "locked_by": {"old-job": 0}}, "a\u0001b": {"key": "", "locked_by": {}}}`))
	logger, logs := testLogger(t)
	s := openT(t, path, Options{Logger: logger})
	if l, ok := getT(t, s, "prod"); !ok || l.Key != "k" {
		t.Fatalf("prod: %+v, %v", l, ok)
	}
	if _, ok := getT(t, s, long); ok {
		t.Error("the free lock with a 513-byte name was kept")
	}
	if !strings.Contains(logs.String(), "left out free locks") {
		t.Errorf("no warning:\n%s", logs.String())
	}
}

func TestLegacyRefused(t *testing.T) {
	for name, content := range map[string]string{
		"null":                 `null`,
		"holders without key":  `{"a": {"locked_by": {"h": 1}}}`,
		"holders empty key":    `{"a": {"locked_by": {"h": 1}, "key": ""}}`,
		"negative count":       `{"a": {"locked_by": {"h": -1}, "key": "k"}}`,
		"count not a number":   `{"a": {"locked_by": {"h": "1"}, "key": "k"}}`,
		"truncated":            `{"a": {"locked_by": {"h": 1}, "key": "k"`,
		"data after the value": `{"a": {"locked_by": {"h": 1}, "key": "k"}} {}`,
		"lock not an object":   `{"a": 1}`,
		// A held lock whose name the API cannot address would be stuck.
		"held lock with a bad name": `{"a\nb": {"locked_by": {"h": 1}, "key": "k"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			writeFile(t, path, []byte(content))
			err := openRefused(t, path, path)
			if _, serr := os.Stat(path + ".orig"); serr == nil {
				t.Error("a refused file was copied to .orig")
			}
			t.Logf("refusal: %v", err)
		})
	}
}

// logFrames returns the offsets of the frames in a log segment: the header
// first, then each record, and the offset where the data ends.
func logFrames(t testing.TB, seg string) (offsets []int, end int) {
	t.Helper()
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(logMagic)) {
		t.Fatalf("%s: no log magic", seg)
	}
	off := len(logMagic)
	for off < len(b) {
		_, n, err := readFrame(b[off:])
		if err != nil && allZero(b[off:]) {
			break // preallocated, never written
		}
		if err != nil {
			t.Fatalf("%s: frame at %d: %v", seg, off, err)
		}
		offsets = append(offsets, off)
		off += n
	}
	return offsets, off
}

// committedStore makes a closed store with a few changes and returns its
// path, its state and its clock.
func committedStore(t *testing.T) (path, want string, clk *clock) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "locks.yml")
	clk = &clock{}
	s := openT(t, path, Options{Now: clk.Now})
	acquire(t, s, "a", "k", "h", 0)
	acquire(t, s, "a", "k", "h2", time.Hour)
	acquire(t, s, "b", "kb", "h", 0)
	release(t, s, "a", "k", "h")
	acquire(t, s, "c", "kc", "hc", 0)
	want = dump(t, s)
	closeT(t, s)
	return path, want, clk
}

func TestTornTailDropped(t *testing.T) {
	rec := appendFrame(nil, mustJSON(logRecord{
		Lock:   diskLock{Name: "torn", Key: "k", Holds: lock.HoldsOf(map[string]lock.Hold{"h": {Count: 1, Acquired: clockBase}}), Fence: 99, Since: clockBase},
		Events: []lock.Event{{Type: lock.Acquired, Lock: "torn", Key: "k", Holder: "h", Count: 1, Fence: 99, Time: clockBase}},
		Fence:  99,
	}))
	badCRC := bytes.Clone(rec)
	badCRC[len(badCRC)-2] ^= 0x20 // the last record is complete but wrong: not acknowledged
	hugeLen := bytes.Clone(rec[:frameHeader])
	binary.LittleEndian.PutUint32(hugeLen, 1<<31)
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(rnd.UintN(256))
	}
	for name, tail := range map[string][]byte{
		"partial header":       rec[:3],
		"header only":          rec[:frameHeader],
		"partial payload":      rec[:len(rec)/2],
		"all but one byte":     rec[:len(rec)-1],
		"complete but bad crc": badCRC,
		"huge length":          hugeLen,
		"random garbage":       garbage,
		"a few zeros":          make([]byte, 5),
		"zeros":                make([]byte, 4096),
		"partial then zeros":   append(bytes.Clone(rec[:20]), make([]byte, 100)...),
	} {
		t.Run(name, func(t *testing.T) {
			path, want, clk := committedStore(t)
			gens := segmentGens(t, path)
			seg := segmentPath(path, gens[len(gens)-1])
			// The tail is written where the committed records end: into
			// the zeros preallocated after them, as a crash would leave it.
			st, err := recoverState(path, 100)
			if err != nil {
				t.Fatal(err)
			}
			committed := st.tailOffset
			f, err := os.OpenFile(seg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tail, committed); err != nil {
				t.Fatal(err)
			}
			f.Close()

			// Blocked: where a new segment keeps a raised counter, the
			// start finds two segments and compacts them at once, which
			// would remove the segment checked below.
			unblock := blockSnapshots(t, path)
			s := openT(t, path, Options{Now: clk.Now})
			// A token legible in the tail is not handed out again: the
			// counter is raised past it, and a new segment keeps it.
			raised := legibleFence(tail) > st.fence
			sameLocks(t, want, dump(t, s))
			if got := s.counter(); got != max(st.fence, legibleFence(tail)) {
				t.Errorf("fence counter %d after dropping a tail holding fence %d; had %d", got, legibleFence(tail), st.fence)
			}
			if _, ok := getT(t, s, "torn"); ok {
				t.Fatal("the torn record was applied")
			}
			// Zeros are preallocated space, kept; anything else is cut off,
			// and kept beside the log (a marker after it when a new
			// segment keeps the raised counter).
			cut := committed
			if raised {
				cut += int64(len(markerFrame(gens[len(gens)-1] + 1)))
			}
			if info, _ := os.Stat(seg); info.Size() != cut && !allZero(tail) {
				t.Fatalf("the log was not cut back: %d bytes, committed %d", info.Size(), committed)
			}
			kept, _ := filepath.Glob(seg + ".dropped-*")
			switch {
			case allZero(tail) && len(kept) != 0:
				t.Fatalf("zeros were kept as a dropped tail: %v", kept)
			case !allZero(tail) && len(kept) != 1:
				t.Fatalf("the dropped tail was not kept: %v", kept)
			case !allZero(tail):
				b, err := os.ReadFile(kept[0])
				// Without the zeros it ends in: the rest of the
				// preallocated chunk.
				if trimmed := bytes.TrimRight(tail, "\x00"); err != nil || !bytes.HasPrefix(b, trimmed) || len(b) > 0 && b[len(b)-1] == 0 {
					t.Fatalf("the kept tail %s: %d bytes, %v; want it to start with the %d dropped, and not end in zeros", kept[0], len(b), err, len(trimmed))
				}
			}
			unblock()
			acquire(t, s, "after", "k", "h", 0)
			want2 := dump(t, s)
			closeT(t, s)
			s = openT(t, path, Options{Now: clk.Now})
			sameDump(t, "after an update past a torn tail", want2, dump(t, s))
			if l, ok := getT(t, s, "after"); !ok || l.Holds.Get("h").Count != 1 {
				t.Fatalf("the update after the torn tail was lost: %+v", l)
			}
		})
	}
}

func TestSegmentCutBeforeHeader(t *testing.T) {
	// A crash right after a new segment was created leaves it empty or
	// with part of its header: it is started afresh.
	for name, cut := range map[string]int{"empty": 0, "part of the magic": 4, "magic, part of header": len(logMagic) + 5} {
		t.Run(name, func(t *testing.T) {
			path, want, clk := committedStore(t)
			gens := segmentGens(t, path)
			next := segmentPath(path, gens[len(gens)-1]+1)
			full := appendFrame([]byte(logMagic), mustJSON(logHeader{Gen: gens[len(gens)-1] + 1}))
			writeFile(t, next, full[:cut])
			s := openT(t, path, Options{Now: clk.Now})
			sameDump(t, "after a cut segment", want, dump(t, s))
			acquire(t, s, "after", "k", "h", 0)
			want2 := dump(t, s)
			closeT(t, s)
			s = openT(t, path, Options{Now: clk.Now})
			sameDump(t, "reopen", want2, dump(t, s))
		})
	}
}

func TestDamageInMiddleRefused(t *testing.T) {
	type damage struct {
		record int // which record (0 = the segment header)
		at     func(frameLen int) int
		what   string
	}
	for name, d := range map[string]damage{
		"payload byte":     {record: 2, at: func(n int) int { return frameHeader + n/2 }, what: "damaged record"},
		"crc byte":         {record: 1, at: func(int) int { return 5 }, what: "damaged record"},
		"length shorter":   {record: 3, at: func(int) int { return 0 }, what: "damaged record"},
		"length huge":      {record: 2, at: func(int) int { return 3 }, what: "damaged record"},
		"first record":     {record: 1, at: func(n int) int { return n - 1 }, what: "damaged record"},
		"header of log":    {record: 0, at: func(n int) int { return frameHeader + 2 }, what: "log header"},
		"magic of the log": {record: -1, at: func(int) int { return 0 }, what: "not a Locker log segment"},
	} {
		t.Run(name, func(t *testing.T) {
			path, _, _ := committedStore(t)
			seg := segmentPath(path, 1)
			offs, end := logFrames(t, seg)
			if len(offs) < 5 {
				t.Fatalf("only %d frames", len(offs))
			}
			b, _ := os.ReadFile(seg)
			var pos int
			if d.record < 0 {
				pos = d.at(0)
			} else {
				next := end
				if d.record+1 < len(offs) {
					next = offs[d.record+1]
				}
				pos = offs[d.record] + d.at(next-offs[d.record])
			}
			if name == "length huge" {
				b[pos] = 0x7f
			} else {
				b[pos] ^= 0x01
			}
			writeFile(t, seg, b)
			err := openRefused(t, path, seg, d.what)
			t.Logf("refusal: %v", err)
		})
	}
}

func TestZeroedRecordInMiddleRefused(t *testing.T) {
	// Zeros are a torn tail only at the end; with records after them they
	// are damage.
	path, _, _ := committedStore(t)
	seg := segmentPath(path, 1)
	offs, _ := logFrames(t, seg)
	b, _ := os.ReadFile(seg)
	clear(b[offs[2]:offs[3]])
	writeFile(t, seg, b)
	openRefused(t, path, seg, "damaged record")
}

// multiSegmentStore makes a closed store whose log spans at least three
// segments after its snapshot (snapshots are blocked while it runs). A
// store whose snapshot failed starts no other segment until one is
// written, nor does a start's compaction (it names the newest segment);
// each start here raises the fence counter (Options.MinFence, as locker
// migrate does), which it keeps in a new segment, as an older Locker's
// failing compaction at start left one.
func multiSegmentStore(t *testing.T) (path, want string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "locks.yml")
	opts := Options{CompactBytes: 1024}
	s := openT(t, path, opts)
	unblock := blockSnapshots(t, path)
	for len(segmentGens(t, path)) < 3 {
		churn(t, s, "m", 10)
		waitCompactionIdle(t, s)
		raised := opts
		raised.MinFence = s.Fence() + 1
		closeT(t, s)
		s = openT(t, path, raised)
		eventually(t, "the compaction at start", func() bool { return s.startSegments < 2 || s.unwritten.Load() != nil })
	}
	churn(t, s, "m", 10)
	waitCompactionIdle(t, s)
	want = dump(t, s)
	closeT(t, s)
	unblock()
	return path, want
}

func TestDamageInOlderSegmentRefused(t *testing.T) {
	// A bad tail is only a torn write in the newest segment; in an older
	// one it is damage.
	path, want := multiSegmentStore(t)
	gens := segmentGens(t, path)
	// Blocked: a start that finds several segments compacts them at once.
	unblock := blockSnapshots(t, path)
	s := openT(t, path, Options{})
	sameDump(t, "reopen of several segments", want, dump(t, s))
	closeT(t, s)
	unblock()
	appendToFile(t, segmentPath(path, gens[0]), []byte{1, 2, 3})
	openRefused(t, path, segmentPath(path, gens[0]))
}

func TestMissingSegmentRefused(t *testing.T) {
	path, _ := multiSegmentStore(t)
	gens := segmentGens(t, path)
	if err := os.Remove(segmentPath(path, gens[1])); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, "missing")
}

// TestMissingNewestSegmentRefused: while the snapshot still names an older
// segment (its write failed), the newest segment is the only record of the
// changes since; lost, recovery must notice (each segment ends by naming
// the next), not start without them and hand their fencing tokens out
// again.
func TestMissingNewestSegmentRefused(t *testing.T) {
	path, _ := multiSegmentStore(t)
	gens := segmentGens(t, path)
	if err := os.Remove(segmentPath(path, gens[len(gens)-1])); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, segmentPath(path, gens[len(gens)-1]), "missing")
}

// TestEmptiedNamedSegmentRefused: a segment that the one before names was
// made with its header synced first; emptied, or cut off in its header,
// it has lost changes, as much as if it were removed.
func TestEmptiedNamedSegmentRefused(t *testing.T) {
	for _, size := range []int64{0, 10} {
		t.Run(fmt.Sprint(size, " bytes"), func(t *testing.T) {
			path, _ := multiSegmentStore(t)
			gens := segmentGens(t, path)
			if err := os.Truncate(segmentPath(path, gens[len(gens)-1]), size); err != nil {
				t.Fatal(err)
			}
			openRefused(t, path, segmentPath(path, gens[len(gens)-1]), "empty")
		})
	}
}

// TestDamagedLastRecordOfOlderSegmentRefused: only the bytes of the marker
// itself, torn, are taken for a torn marker: a record cut short at the end
// of an older segment (and its marker gone) is damage.
func TestDamagedLastRecordOfOlderSegmentRefused(t *testing.T) {
	path, _ := multiSegmentStore(t)
	gens := segmentGens(t, path)
	seg := segmentPath(path, gens[len(gens)-2])
	offsets, _ := logFrames(t, seg)
	if len(offsets) < 3 {
		t.Fatalf("%s has frames at %v: want a header, records and a marker", seg, offsets)
	}
	lastRecord := offsets[len(offsets)-2]
	if err := os.Truncate(seg, int64(lastRecord+40)); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, seg)
}

// TestTornMarkerAccepted: the marker naming the next segment is written
// after that segment is made; a crash can tear it. The older segment is
// then whole, and the store opens as it was.
func TestTornMarkerAccepted(t *testing.T) {
	path, want := multiSegmentStore(t)
	tearMarker(t, path)
	s := openT(t, path, Options{})
	sameDump(t, "reopen with a torn marker", want, dump(t, s))
}

// tearMarker zeroes the last bytes of the marker that ends the store's
// last segment but one, as a crash while it was written leaves it.
func tearMarker(t *testing.T, path string) {
	t.Helper()
	gens := segmentGens(t, path)
	seg := segmentPath(path, gens[len(gens)-2])
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	end := len(bytes.TrimRight(b, "\x00"))
	marker := appendFrame(nil, mustJSON(nextMarker{Next: gens[len(gens)-1]}))
	if !bytes.HasSuffix(b[:end], marker) {
		t.Fatalf("%s does not end with a marker naming segment %d", seg, gens[len(gens)-1])
	}
	for i := end - 6; i < end; i++ {
		b[i] = 0
	}
	writeFile(t, seg, b)
}

func TestDamagedSnapshotRefused(t *testing.T) {
	path, _, clk := committedStore(t)
	// Compact so the snapshot holds the locks.
	s := openT(t, path, Options{Now: clk.Now, CompactBytes: 1})
	acquire(t, s, "x", "k", "h", 0)
	waitCompactionIdle(t, s)
	closeT(t, s)
	if n := snapshotHeaderOf(t, path).Count; n < 3 {
		t.Fatalf("snapshot holds %d locks", n)
	}
	good, _ := os.ReadFile(path)
	for name, change := range map[string]func([]byte) []byte{
		"byte flipped": func(b []byte) []byte { b[len(b)/2] ^= 0x04; return b },
		"cut short":    func(b []byte) []byte { return b[:len(b)-10] },
		"end missing":  func(b []byte) []byte { return b[:len(b)-len(b)/4] },
		"data after":   func(b []byte) []byte { return append(b, 'x') },
		"magic":        func(b []byte) []byte { b[0] = 'L'; return b },
	} {
		t.Run(name, func(t *testing.T) {
			writeFile(t, path, change(bytes.Clone(good)))
			err := openRefused(t, path, path)
			t.Logf("refusal: %v", err)
		})
	}
	writeFile(t, path, good)
	s = openT(t, path, Options{Now: clk.Now})
	if l, ok := getT(t, s, "x"); !ok || l.Key != "k" {
		t.Fatalf("restored snapshot: %+v", l)
	}
}

func TestRefusalMessagesAreReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, path, nil)
	_, err := Open(path, Options{})
	if err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("refusal should be one line: %q", err)
	}
	if _, err := os.Stat(path + ".log.1"); err == nil {
		t.Fatal("a refused Open created a log")
	}
}

// TestOlderMetadataStillLoads: versions before the service refused
// metadata with invalid UTF-8 or halves of surrogate pairs stored it as it
// came. A file holding it, in the log and in a snapshot, must still load:
// recovery checks metadata with lock.CheckMetadata, not the stricter rule
// for new input.
func TestOlderMetadataStillLoads(t *testing.T) {
	old := json.RawMessage("{\"a\":\"\xff\xfe\",\"b\":\"\\ud800\"}")
	if lock.ValidateMetadata(old) == nil {
		t.Fatal("the test's metadata passes the rule for new input")
	}
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{CompactBytes: 1024})
	setMeta := func(l *lock.Lock, env lock.Env) []lock.Event {
		l.Pools, l.Metadata, l.FreeSince = []string{"p"}, old, env.Now
		return []lock.Event{{Type: lock.Added, Lock: l.Name, Time: env.Now, Pools: l.Pools, Pool: "p"}}
	}
	if _, _, err := s.Update(context.Background(), "m", setMeta); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, when string) {
		t.Helper()
		l, ok := getT(t, s, "m")
		if !ok || !bytes.Equal(l.Metadata, old) {
			t.Fatalf("%s: metadata %q, want %q", when, l.Metadata, old)
		}
	}
	closeT(t, s)
	checkFromLogThenSnapshot(t, path, check)
}

// checkFromLogThenSnapshot opens the closed store at path, checks it as
// replayed from the log, makes enough changes for a snapshot (which then
// holds what the log did), and checks it again as read from the snapshot.
func checkFromLogThenSnapshot(t *testing.T, path string, check func(s *Store, when string)) {
	t.Helper()
	s := openT(t, path, Options{CompactBytes: 1024})
	check(s, "replayed from the log")
	for i := range 40 {
		acquire(t, s, fmt.Sprintf("x%d", i), "k", "k", 0)
	}
	waitCompactionIdle(t, s)
	closeT(t, s)
	if gens := segmentGens(t, path); len(gens) == 0 || gens[0] == 1 {
		t.Fatalf("no compaction happened: log segments %v", gens)
	}
	s = openT(t, path, Options{})
	check(s, "read from the snapshot")
}

// TestMissingCurrentSegmentRefused: a snapshot names the log segment that follows
// it, and is written only after that segment was made. When it is missing
// (a backup of the snapshot alone, a file deleted by hand) the changes in
// it are lost: refused, never a start without the locks held since the
// snapshot and with fencing tokens issued again.
func TestMissingCurrentSegmentRefused(t *testing.T) {
	// A closed store that has compacted, with a lock taken since: its
	// path and the one segment the snapshot names.
	compacted := func(t *testing.T) (string, string) {
		path := filepath.Join(t.TempDir(), "locks.yml")
		s := openT(t, path, Options{CompactBytes: 1024})
		for i := range 40 {
			acquire(t, s, fmt.Sprintf("x%d", i), "k", "k", 0)
		}
		waitCompactionIdle(t, s)
		acquire(t, s, "after-compaction", "k", "k", 0)
		closeT(t, s)
		gens := segmentGens(t, path)
		if len(gens) != 1 || gens[0] == 1 {
			t.Fatalf("log segments %v, want one after a compaction", gens)
		}
		return path, segmentPath(path, gens[0])
	}
	t.Run("after a compaction", func(t *testing.T) {
		path, seg := compacted(t)
		if err := os.Remove(seg); err != nil {
			t.Fatal(err)
		}
		openRefused(t, path, "is missing", seg)
	})
	t.Run("emptied after a compaction", func(t *testing.T) {
		path, seg := compacted(t)
		whole, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		for _, left := range []int{0, 5} { // empty, or cut in its magic
			writeFile(t, seg, whole[:left])
			openRefused(t, path, "is empty", seg)
		}
	})
	t.Run("a new store's first segment", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "locks.yml")
		s := openT(t, path, Options{})
		acquire(t, s, "held", "k", "k", 0)
		closeT(t, s)
		if err := os.Remove(segmentPath(path, 1)); err != nil {
			t.Fatal(err)
		}
		openRefused(t, path, "is missing")
	})
}

// TestCrashBeforeTheFirstSnapshot: a new store makes its first segment,
// then the snapshot. A crash in between leaves the segment without a
// record: the next start begins afresh. A segment with records and no
// snapshot is refused as before.
func TestCrashBeforeTheFirstSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "held", "k", "k", 0)
	closeT(t, s)
	seg, err := os.ReadFile(segmentPath(path, 1))
	if err != nil {
		t.Fatal(err)
	}
	header := appendFrame([]byte(logMagic), mustJSON(logHeader{Gen: 1}))
	if !bytes.HasPrefix(seg, header) {
		t.Fatalf("segment 1 does not start with its header")
	}
	for _, left := range [][]byte{nil, header[:3], header[:len(header)-2], header, append(header, make([]byte, 4096)...)} {
		fresh := filepath.Join(t.TempDir(), "locks.yml")
		if err := os.WriteFile(segmentPath(fresh, 1), left, 0o600); err != nil {
			t.Fatal(err)
		}
		s := openT(t, fresh, Options{})
		if l, _ := getT(t, s, "held"); l.Key != "" {
			t.Errorf("segment of %d bytes: a lock came from nowhere", len(left))
		}
		acquire(t, s, "new", "k", "k", 0)
		closeT(t, s)
		s = openT(t, fresh, Options{})
		if l, ok := getT(t, s, "new"); !ok || l.Key != "k" {
			t.Errorf("segment of %d bytes: the new store lost its change", len(left))
		}
		closeT(t, s)
	}
	// A segment with a record in it, and no snapshot: refused.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, "is missing but its log")
}

// TestLegacyCopyNeverOverwritten: converting the original locker's file
// keeps a copy as <file>.orig; a copy already there from an earlier
// conversion is another file's, and is kept too (the new one goes to
// <file>.orig.1). The same bytes, left by a conversion a crash cut short,
// are not copied twice.
// TestLegacyFileOverOurLog: an original locker's file put where this
// server's snapshot was, with the server's log beside it, is refused rather
// than converted: the conversion started a new log over the one holding
// the acknowledged locks (found by a black-box review: the hold and its
// fence token were gone, and the token was handed out again). With the log
// moved away, it converts.
func TestLegacyFileOverOurLog(t *testing.T) {
	for name, file := range map[string]string{"empty": `{}`, "with locks": legacyJSON} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "locks.yml")
			s := openT(t, path, Options{})
			acquire(t, s, "acked", "k", "h", 0)
			closeT(t, s)
			writeFile(t, path, []byte(file))
			openRefused(t, path, "original locker's format", segmentPath(path, 1), "move locks.yml.log.* away")
			if err := os.Rename(segmentPath(path, 1), filepath.Join(t.TempDir(), "moved")); err != nil {
				t.Fatal(err)
			}
			s = openT(t, path, Options{})
			defer closeT(t, s)
			if _, ok := getT(t, s, "acked"); ok {
				t.Fatal("the moved log's lock is there")
			}
		})
	}
}

func TestLegacyCopyNeverOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	earlier := `{"old": {"key": "k", "locked_by": {"h": 1}}}`
	writeFile(t, path+".orig", []byte(earlier))
	writeFile(t, path, []byte(legacyJSON))
	s := openT(t, path, Options{})
	closeT(t, s)
	if b, _ := os.ReadFile(path + ".orig"); string(b) != earlier {
		t.Fatalf("the earlier copy was overwritten: %q", b)
	}
	if b, _ := os.ReadFile(path + ".orig.1"); string(b) != legacyJSON {
		t.Fatalf("the new copy: %q", b)
	}
	// A conversion cut short after its copy: the same bytes are reused.
	again := filepath.Join(t.TempDir(), "locks.yml")
	writeFile(t, again, []byte(legacyJSON))
	writeFile(t, again+".orig", []byte(legacyJSON))
	s = openT(t, again, Options{})
	closeT(t, s)
	if copies, _ := filepath.Glob(again + ".orig*"); len(copies) != 1 {
		t.Fatalf("copies: %v, want the one .orig", copies)
	}
}

// TestTornRecordLikeATornMarker: a crash that kept only the first byte of
// a record whose length's low byte is the marker's (10, the length of
// {"next":2}) is a torn tail, not a torn marker naming a segment 2 that
// never existed (a black-box review found recovery refusing to start
// there). Bytes of the marker's payload past what a record shares still
// name the segment.
func TestTornRecordLikeATornMarker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{})
	acquire(t, s, "kept", "k", "h", 0)
	closeT(t, s)
	seg := segmentPath(path, 1)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	marker := appendFrame(nil, mustJSON(nextMarker{Next: 2}))
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(marker[:1], int64(end)); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path, Options{})
	if l, ok := getT(t, s, "kept"); !ok || l.Key != "k" {
		t.Fatalf("after a torn one-byte tail: %+v %v", l, ok)
	}
	closeT(t, s)
	// The store wrote over the torn byte; now tear a marker past its
	// payload's `{"`: that names segment 2, which is missing.
	b, _ = os.ReadFile(seg)
	end = len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	if _, err := f.WriteAt(marker[:frameHeader+3], int64(end)); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, segmentPath(path, 2), "missing")
}

// TestTornMarkerStillNamesTheNextSegment: a torn marker was written after
// the segment it names was made, so that segment, emptied or removed, is
// as missing as with the marker whole.
func TestTornMarkerStillNamesTheNextSegment(t *testing.T) {
	for name, lose := range map[string]func(string) error{
		"emptied": func(p string) error { return os.Truncate(p, 0) },
		"removed": os.Remove,
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := multiSegmentStore(t)
			gens := segmentGens(t, path)
			tearMarker(t, path)
			if err := lose(segmentPath(path, gens[len(gens)-1])); err != nil {
				t.Fatal(err)
			}
			openRefused(t, path, segmentPath(path, gens[len(gens)-1]))
		})
	}
}

// unmarkSegment removes the marker that ends the store's last segment but
// one, as a crash between making the last segment and writing the marker
// leaves it.
func unmarkSegment(t *testing.T, path string) {
	t.Helper()
	gens := segmentGens(t, path)
	seg := segmentPath(path, gens[len(gens)-2])
	offsets, _ := logFrames(t, seg)
	if err := os.Truncate(seg, int64(offsets[len(offsets)-1])); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedHeaderIsNotATornOne: a header whose length was damaged (its
// frame then seems to run past the end of the file) is not taken for one a
// crash cut short, with records after it. A file-store review found the
// last segment, behind a segment left unmarked by a crash, cut back to its
// header and acknowledged locks gone, silently.
func TestDamagedHeaderIsNotATornOne(t *testing.T) {
	for name, unmarked := range map[string]bool{"after a marked segment": false, "after an unmarked segment": true} {
		t.Run(name, func(t *testing.T) {
			path, _ := multiSegmentStore(t)
			if unmarked {
				unmarkSegment(t, path)
			}
			gens := segmentGens(t, path)
			last := segmentPath(path, gens[len(gens)-1])
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			b[len(logMagic)+3] = 1 // the top byte of the header's length
			writeFile(t, last, b)
			openRefused(t, path, last, "log header is damaged")
		})
	}
}

// TestUnmarkedSegmentIsMarked: Open writes the marker a crash left out, so
// that the loss of the segment after it is noticed from then on.
func TestUnmarkedSegmentIsMarked(t *testing.T) {
	path, want := multiSegmentStore(t)
	unmarkSegment(t, path)
	s := openT(t, path, Options{})
	sameDump(t, "reopen of an unmarked segment", want, dump(t, s))
	closeT(t, s)
	gens := segmentGens(t, path)
	if err := os.Remove(segmentPath(path, gens[len(gens)-1])); err != nil {
		t.Fatal(err)
	}
	openRefused(t, path, segmentPath(path, gens[len(gens)-1]), "missing")
}
