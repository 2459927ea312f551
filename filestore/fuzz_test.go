package filestore

// Fuzzing of the store's file decoder: the snapshot (LOCKER_CONFIG, in this
// format or the original locker's JSON) and a log segment. Whatever the
// bytes, Open either loads them or refuses with an error, never panics, and:
//
//   - recovery reads them the same through a window of a few bytes as
//     whole;
//   - when it refuses, every file is left as it was;
//   - when it loads, the state is what the bytes say (a snapshot's header
//     count of locks; the original locker's locks, keys and counts; every
//     lock of the snapshot a log follows), opening again yields the same
//     state, and the store takes and keeps a change.
//
// Run with
//
//	go test ./filestore -run '^$' -fuzz '^FuzzSnapshot$' -fuzztime 20s -fuzzminimizetime 0
//	go test ./filestore -run '^$' -fuzz '^FuzzLogSegment$' -fuzztime 20s -fuzzminimizetime 0
//
// Each run opens a store three times (a few milliseconds): without
// -fuzzminimizetime 0, minimizing each new interesting input can take up the
// whole -fuzztime.
//
// The seed corpora are in testdata/fuzz/FuzzSnapshot and FuzzLogSegment.

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

var fuzzOpts = Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)}

// fuzzBase builds a real store's files: a snapshot holding locks (written
// by a compaction) and the log segment after it with more changes. It
// returns the snapshot, the segment's generation and the segment's bytes,
// the same at every call.
func fuzzBase(t testing.TB) (snapshot []byte, gen uint64, segment []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "locks.yml")
	clk := &clock{}
	phase := func(compactBytes int64, changes func(s *Store)) {
		opts := fuzzOpts
		opts.Now = clk.Now
		opts.CompactBytes = compactBytes
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		changes(s)
		waitCompactionIdle(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	phase(0, func(s *Store) {
		acquire(t, s, "prod deploy", "k1", "h1", 0)
		acquire(t, s, "prod deploy", "k1", "h2", time.Hour)
		acquire(t, s, "a/b", "k2", "k2", 0)
	})
	// One change with a tiny compaction threshold: a snapshot of all four.
	phase(1, func(s *Store) { acquire(t, s, "free", "k4", "k4", 0) })
	phase(0, func(s *Store) {
		release(t, s, "free", "k4", "k4")
		acquire(t, s, "ünïcode", "k3", "h3", 0)
		release(t, s, "a/b", "k2", "k2")
		acquire(t, s, "prod deploy", "k1", "h1", 0)
	})
	snapshot, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gen = snapshotHeaderOf(t, path).LogGen
	segment, err = os.ReadFile(segmentPath(path, gen))
	if err != nil {
		t.Fatal(err)
	}
	return snapshot, gen, segment
}

// sameThroughAnyWindow checks that recovery reads the files at path the
// same through a window of a few bytes as through the default one (which
// holds the whole of a fuzzer's file).
func sameThroughAnyWindow(t *testing.T, path string) {
	t.Helper()
	whole, small := recoverWith(t, path, 1, 0), recoverWith(t, path, 1, 7)
	if !reflect.DeepEqual(whole, small) {
		t.Fatalf("read through a 7-byte window: %q, %d locks, tail %d; whole: %q, %d locks, tail %d", small.Err, len(small.Locks), small.Tail, whole.Err, len(whole.Locks), whole.Tail)
	}
}

// openFuzzed opens the store at path and checks what FuzzSnapshot and
// FuzzLogSegment share: a refusal leaves the files alone; a load survives a
// reopen unchanged and takes a change. It returns the loaded locks by name
// (nil when refused).
func openFuzzed(t *testing.T, path string) map[string]lock.Lock {
	dir := filepath.Dir(path)
	before := dirFiles(t, dir)
	s, err := Open(path, fuzzOpts)
	if err != nil {
		if err.Error() == "" {
			t.Fatal("refused with an empty message")
		}
		after := dirFiles(t, dir)
		if len(after) != len(before) {
			t.Fatalf("refused (%v) but the files changed: %d before, %d after", err, len(before), len(after))
		}
		for name, b := range before {
			if a, ok := after[name]; !ok || !bytes.Equal(a.data, b.data) {
				t.Fatalf("refused (%v) but changed %s", err, name)
			}
		}
		return nil
	}
	first := dump(t, s)
	locks := map[string]lock.Lock{}
	all, _ := s.List(t.Context())
	for _, l := range all {
		locks[l.Name] = *l
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after loading: %v", err)
	}
	s, err = Open(path, fuzzOpts)
	if err != nil {
		t.Fatalf("loaded once, then refused: %v", err)
	}
	sameDump(t, "reopened", first, dump(t, s))
	// The loaded store works: a change is kept across a reopen.
	const name = "fuzz: a change after loading"
	if _, _, err := tryAcquire(s, name, "k", "h", 0); err != nil {
		t.Fatalf("a change after loading failed: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, fuzzOpts)
	if err != nil {
		t.Fatalf("refused after a change: %v", err)
	}
	defer s.Close()
	if l, ok := getT(t, s, name); !ok || l.Key != "k" {
		t.Fatalf("the change after loading was lost: %+v", l)
	}
	if got := len(dumpLocks(t, s)); got != len(locks)+1 {
		t.Fatalf("%d locks after one more was added to %d", got, len(locks))
	}
	return locks
}

func dumpLocks(t *testing.T, s *Store) []lock.Lock {
	all, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]lock.Lock, len(all))
	for i, l := range all {
		out[i] = *l
	}
	return out
}

func FuzzSnapshot(f *testing.F) {
	snapshot, _, _ := fuzzBase(f)
	f.Add(snapshot)
	f.Add([]byte(`{"prod":{"key":"k","locked_by":{"a":1,"b":0}},"free":{"key":"","locked_by":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "locks.yml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sameThroughAnyWindow(t, path)
		locks := openFuzzed(t, path)
		if locks == nil {
			return
		}
		if len(data) == 0 {
			t.Fatal("an empty file was loaded: it must be refused")
		}
		if rest, ok := checkMagic(data, snapshotMagic); ok {
			// As many locks as the header says.
			payload, _, err := readFrame(rest)
			if err != nil {
				t.Fatalf("loaded a snapshot whose header frame is bad: %v", err)
			}
			var hdr snapshotHeader
			if err := json.Unmarshal(payload, &hdr); err != nil {
				t.Fatal(err)
			}
			if len(locks) != hdr.Count {
				t.Fatalf("loaded %d locks from a snapshot that says %d", len(locks), hdr.Count)
			}
			return
		}
		// Otherwise it must be the original locker's JSON: one object, and
		// every lock of it loaded with its key and non-zero counts, but
		// free ones whose names are no longer valid (left out).
		var legacy map[string]legacyLock
		if err := json.Unmarshal(data, &legacy); err != nil || legacy == nil {
			t.Fatalf("loaded a file that is neither a snapshot nor one JSON object (%v): %q", err, data)
		}
		kept := 0
		for name, ll := range legacy {
			want := map[string]int{}
			for h, c := range ll.LockedBy {
				if c > 0 {
					want[h] = c
				}
			}
			l, ok := locks[name]
			if !ok {
				if len(want) == 0 && lock.ValidateName("lock name", name) != nil {
					continue // free, and its name no longer valid: left out
				}
				t.Fatalf("lock %q of the original file was not loaded", name)
			}
			kept++
			wantKey := ll.Key
			if len(want) == 0 {
				wantKey = ""
			}
			if l.Key != wantKey || !maps.Equal(l.Counts(), want) {
				t.Fatalf("lock %q: loaded key %q counts %v, the file says key %q counts %v", name, l.Key, l.Counts(), ll.Key, ll.LockedBy)
			}
		}
		if len(locks) != kept {
			t.Fatalf("loaded %d locks from the original locker's %d", len(locks), kept)
		}
	})
}

func FuzzLogSegment(f *testing.F) {
	snapshot, gen, segment := fuzzBase(f)
	// The locks the snapshot holds on its own (which of the changes made
	// before the compaction it covers depends on timing): with its
	// segment holding its header alone, as a crash right after the
	// compaction leaves it.
	alone := filepath.Join(f.TempDir(), "locks.yml")
	if err := os.WriteFile(alone, snapshot, 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(alone, gen), appendFrame([]byte(logMagic), mustJSON(logHeader{Gen: gen})), 0o600); err != nil {
		f.Fatal(err)
	}
	st, err := recoverState(alone, 100)
	if err != nil {
		f.Fatalf("the base snapshot: %v", err)
	}
	if len(st.locks) == 0 {
		f.Fatal("the base snapshot holds no locks")
	}
	f.Add(segment)
	f.Add(segment[:len(segment)-3])
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "locks.yml")
		if err := os.WriteFile(path, snapshot, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(segmentPath(path, gen), data, 0o600); err != nil {
			t.Fatal(err)
		}
		sameThroughAnyWindow(t, path)
		locks := openFuzzed(t, path)
		if locks == nil {
			return
		}
		// A log only changes locks; every lock of the snapshot is there.
		for name := range st.locks {
			if _, ok := locks[name]; !ok {
				t.Fatalf("lock %q of the snapshot is gone after replaying the log", name)
			}
		}
	})
}
