package filestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/internal/syncbuf"
	"github.com/cloudfoundry-community/locker/lock"
)

// clock is a fake clock for Options.Now: every call is one millisecond later,
// so times are distinct and deterministic.
type clock struct{ n atomic.Int64 }

var clockBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func (c *clock) Now() time.Time {
	return clockBase.Add(time.Duration(c.n.Add(1)) * time.Millisecond)
}

// syncBuffer collects the store's log lines; they are printed when a test
// fails.
type syncBuffer = syncbuf.Buffer

func testLogger(t testing.TB) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// openT opens a store and closes it when the test ends (Close is idempotent,
// so tests may close it earlier).
func openT(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closeT(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// acquireM is a mutation taking a hold; the rule's error goes to *ruleErr.
func acquireM(r lock.Request, ruleErr *error) lock.Mutation {
	return func(l *lock.Lock, env lock.Env) []lock.Event {
		evs, err := lock.Acquire(l, r, env)
		if ruleErr != nil {
			*ruleErr = err
		}
		return evs
	}
}

func releaseM(key, holder string, ruleErr *error) lock.Mutation {
	return func(l *lock.Lock, env lock.Env) []lock.Event {
		evs, err := lock.Release(l, key, holder, env)
		if ruleErr != nil {
			*ruleErr = err
		}
		return evs
	}
}

// tryAcquire takes a hold; the error is the store's or the rule's.
func tryAcquire(s *Store, name, key, holder string, ttl time.Duration) (lock.Lock, []lock.Event, error) {
	var ruleErr error
	l, evs, err := s.Update(context.Background(), name, acquireM(lock.Request{Key: key, Holder: holder, TTL: ttl}, &ruleErr))
	if err == nil {
		err = ruleErr
	}
	return l, evs, err
}

func tryRelease(s *Store, name, key, holder string) (lock.Lock, []lock.Event, error) {
	var ruleErr error
	l, evs, err := s.Update(context.Background(), name, releaseM(key, holder, &ruleErr))
	if err == nil {
		err = ruleErr
	}
	return l, evs, err
}

func acquire(t testing.TB, s *Store, name, key, holder string, ttl time.Duration) lock.Lock {
	t.Helper()
	l, _, err := tryAcquire(s, name, key, holder, ttl)
	if err != nil {
		t.Fatalf("acquire %q key %q holder %q: %v", name, key, holder, err)
	}
	return l
}

func release(t testing.TB, s *Store, name, key, holder string) lock.Lock {
	t.Helper()
	l, _, err := tryRelease(s, name, key, holder)
	if err != nil {
		t.Fatalf("release %q key %q holder %q: %v", name, key, holder, err)
	}
	return l
}

func getT(t testing.TB, s *Store, name string) (lock.Lock, bool) {
	t.Helper()
	l, ok, err := s.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return l, ok
}

// dumpLock is one lock with its history, for comparing whole states.
type dumpLock struct {
	Name    string
	Key     string
	Holds   lock.Holds
	Fence   uint64
	Since   time.Time
	History []lock.Event
}

// dump renders the store's whole committed state (every lock, its holds with
// their times, its history, and the fence counter) as canonical JSON.
func dump(t testing.TB, s *Store) string {
	t.Helper()
	ctx := context.Background()
	locks, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].Name < locks[j].Name })
	out := struct {
		Fence uint64
		Locks []dumpLock
	}{}
	s.mu.RLock()
	out.Fence = s.fence
	s.mu.RUnlock()
	for _, l := range locks {
		h, err := s.History(ctx, l.Name)
		if err != nil {
			t.Fatalf("History(%q): %v", l.Name, err)
		}
		d := dumpLock{Name: l.Name, Key: l.Key, Holds: l.Holds, Fence: l.Fence, Since: l.Since, History: h}
		if len(d.Holds) == 0 {
			d.Holds = nil
		}
		if len(d.History) == 0 {
			d.History = nil
		}
		out.Locks = append(out.Locks, d)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameDump(t testing.TB, what, want, got string) {
	t.Helper()
	if want != got {
		t.Fatalf("%s: state differs\nwant:\n%s\ngot:\n%s", what, want, got)
	}
}

// fileInfo is a file's content and modification time.
type fileInfo struct {
	data  []byte
	mtime time.Time
	mode  os.FileMode
}

// dirFiles reads every file in dir except the store's advisory lock file,
// which Open creates before it reads anything.
func dirFiles(t testing.TB, dir string) map[string]fileInfo {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]fileInfo{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		if !info.IsDir() {
			if data, err = os.ReadFile(p); err != nil {
				t.Fatal(err)
			}
		}
		m[e.Name()] = fileInfo{data: data, mtime: info.ModTime(), mode: info.Mode()}
	}
	return m
}

// backdate sets every file in dir to an old mtime, so a write by Open would
// show even on a file system with coarse timestamps.
func backdate(t testing.TB, dir string) {
	t.Helper()
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Chtimes(filepath.Join(dir, e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func sameFiles(t testing.TB, before, after map[string]fileInfo) {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		if !ok {
			t.Errorf("%s was removed", name)
			continue
		}
		if !bytes.Equal(a.data, b.data) {
			t.Errorf("%s was changed (%d bytes before, %d after)", name, len(b.data), len(a.data))
		}
		if !a.mtime.Equal(b.mtime) {
			t.Errorf("%s mtime changed: %v -> %v", name, b.mtime, a.mtime)
		}
		if a.mode != b.mode {
			t.Errorf("%s mode changed: %v -> %v", name, b.mode, a.mode)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
}

// openRefused checks that Open fails with a message containing each of
// wants and leaves every file in the directory as it was.
func openRefused(t *testing.T, path string, wants ...string) error {
	t.Helper()
	dir := filepath.Dir(path)
	backdate(t, dir)
	before := dirFiles(t, dir)
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded; want it refused", path)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open error %q does not mention %q", err, w)
		}
	}
	sameFiles(t, before, dirFiles(t, dir))
	// Refused again the same way: nothing was half-repaired.
	if s, err2 := Open(path, Options{}); err2 == nil {
		s.Close()
		t.Fatalf("second Open(%s) succeeded", path)
	} else if err2.Error() != err.Error() {
		t.Errorf("second Open gave a different error:\n%v\n%v", err, err2)
	}
	return err
}

func segmentGens(t testing.TB, path string) []uint64 {
	t.Helper()
	segs, err := listSegments(path)
	if err != nil {
		t.Fatal(err)
	}
	var gens []uint64
	for _, s := range segs {
		gens = append(gens, s.gen)
	}
	return gens
}

// snapshotHeaderOf reads the header of the snapshot at path.
func snapshotHeaderOf(t testing.TB, path string) snapshotHeader {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := checkMagic(b, snapshotMagic)
	if !ok {
		t.Fatalf("%s is not a snapshot", path)
	}
	payload, _, err := readFrame(rest)
	if err != nil {
		t.Fatal(err)
	}
	var h snapshotHeader
	if err := json.Unmarshal(payload, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// eventually polls cond until it holds, failing the test after a generous
// deadline (no timed assertion: a slow machine only waits longer).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCompactionIdle waits until no snapshot is being written.
func waitCompactionIdle(t testing.TB, s *Store) {
	t.Helper()
	eventually(t, "compaction to finish", func() bool { return !s.compactBusy.Load() })
}

// copyStoreFiles copies the snapshot and every log segment of the store at
// path into dir, as a crash at this instant would leave them; it returns the
// copy's path.
func copyStoreFiles(t testing.TB, path, dir string) string {
	t.Helper()
	// Segments first, then the snapshot: a compaction running meanwhile
	// only ever adds a newer snapshot and removes segments it covers, so the
	// copy is a state a crash could leave.
	dst := filepath.Join(dir, filepath.Base(path))
	segs, err := listSegments(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if err := tryCopyFile(s.path, filepath.Join(dir, filepath.Base(s.path))); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	copyFileT(t, path, dst)
	return dst
}

func copyFileT(t testing.TB, from, to string) {
	t.Helper()
	if err := tryCopyFile(from, to); err != nil {
		t.Fatal(err)
	}
}

func tryCopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func appendToFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func errCode(err error) string {
	var le *lock.Error
	if errors.As(err, &le) {
		return le.Code
	}
	return ""
}

// writeSnapshot writes a snapshot of entries as they are (the tests build
// files with it).
func (s *Store) writeSnapshot(logGen, fence uint64, entries []snapshotEntry) error {
	return s.writeSnapshotOf(logGen, fence, len(entries), func(i int) *snapshotEntry { return &entries[i] })
}

// checkMagic strips the magic line from b.
func checkMagic(b []byte, magic string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, false
	}
	return b[len(magic):], true
}
