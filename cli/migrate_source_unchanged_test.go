package cli_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// serverHistory is the LOCKER_HISTORY of the servers that made the source
// of these tests: more than the default 100 events a lock.
const serverHistory = 300

// cutShortSource makes a file store as servers run with LOCKER_HISTORY=300
// leave it after compactions cut short (here: their snapshots could not
// be written): two log segments after the snapshot, locks with more
// history than the default limit, and a record torn at the end of the log
// in which the fence 99999 is legible. It returns the data file's path.
func cutShortSource(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "locks.yml")
	opts := filestore.Options{HistoryLimit: serverHistory}
	run := func(opts filestore.Options, fn func(s *lockservice.Service)) {
		t.Helper()
		store, err := filestore.Open(path, opts)
		must(t, err)
		svc := lockservice.New(store, lockservice.Config{})
		must(t, svc.Start(bgCtx))
		fn(svc)
		svc.Close()
		must(t, store.Close())
	}
	cycle := func(s *lockservice.Service, name string, n int) {
		t.Helper()
		for range n {
			_, err := s.Acquire(bgCtx, name, lock.Request{Key: "k", Holder: "h"}, 0)
			must(t, err)
			_, _, err = s.Release(bgCtx, name, "k", "h")
			must(t, err)
		}
	}
	var fence uint64
	run(opts, func(s *lockservice.Service) {
		cycle(s, "alpha", 80) // 160 events
		cycle(s, "beta", 70)
		l, err := s.Acquire(bgCtx, "held", lock.Request{Key: "deploy", Holder: "a"}, 0)
		must(t, err)
		fence = l.Fence
	})
	// A snapshot cannot be written while its temporary file's name is a
	// directory: the compaction at start fails, and the segment that a
	// raised counter starts stays beside the first.
	must(t, os.Mkdir(path+".tmp", 0o700))
	must(t, os.WriteFile(filepath.Join(path+".tmp", "x"), []byte("x"), 0o600))
	raised := opts
	raised.MinFence = fence + 1
	run(raised, func(s *lockservice.Service) {
		cycle(s, "alpha", 20) // 200 events in all
		cycle(s, "gamma", 60)
	})
	must(t, os.RemoveAll(path+".tmp"))
	segs, _ := filepath.Glob(path + ".log.*")
	if len(segs) < 2 {
		t.Fatalf("the source has log segments %v, want 2 or more", segs)
	}
	// A record torn by a crash at the end of the newest segment.
	slices.Sort(segs)
	payload := []byte(`{"lock":{"name":"torn","key":"k","fence":99999,"holds":{"h":{"count":1`)
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)+40))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write(append(hdr[:], payload...))
	must(t, err)
	must(t, f.Close())
	return path
}

// dirFiles is every file in dir by name, with its bytes and mode.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	files := map[string]string{}
	for _, e := range entries {
		info, err := e.Info()
		must(t, err)
		b := []byte("(a directory)")
		if !e.IsDir() {
			b, err = os.ReadFile(filepath.Join(dir, e.Name()))
			must(t, err)
		}
		files[e.Name()] = fmt.Sprintf("%v %d %x", info.Mode(), len(b), b)
	}
	return files
}

// sameFiles fails unless dir holds the files before did, each as it was.
func sameFiles(t *testing.T, when, dir string, before map[string]string) {
	t.Helper()
	after := dirFiles(t, dir)
	for name, b := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("%s: %s is gone", when, name)
		} else if a != b {
			t.Errorf("%s: %s was changed: %.80s... was %.80s...", when, name, a, b)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: %s was made in the source's directory", when, name)
		}
	}
}

// fullSource is what the store at path holds with the servers' history,
// read from a copy of its files (opening one compacts it).
func fullSource(t *testing.T, path string) snapshot {
	t.Helper()
	dir := t.TempDir()
	for name := range dirFiles(t, filepath.Dir(path)) {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	s, err := filestore.Open(filepath.Join(dir, filepath.Base(path)), filestore.Options{HistoryLimit: serverHistory})
	must(t, err)
	defer s.Close()
	snap := snapshot{locks: map[string]lock.Lock{}, history: map[string][]lock.Event{}, fence: s.Fence()}
	locks, err := s.List(bgCtx)
	must(t, err)
	for _, l := range locks {
		snap.locks[l.Name] = *l
		snap.history[l.Name], err = s.History(bgCtx, l.Name)
		must(t, err)
	}
	return snap
}

// readKeeping is read, keeping history events a lock.
func readKeeping(t *testing.T, spec string, history int) snapshot {
	t.Helper()
	var s lock.Store
	var err error
	if strings.HasPrefix(spec, "postgres://") {
		s, err = pgstore.Open(bgCtx, spec, pgstore.Options{HistoryLimit: history})
	} else {
		s, err = filestore.Open(spec, filestore.Options{HistoryLimit: history})
	}
	must(t, err)
	defer s.Close()
	snap := snapshot{locks: map[string]lock.Lock{}, history: map[string][]lock.Event{}}
	locks, err := s.List(bgCtx)
	must(t, err)
	for _, l := range locks {
		snap.locks[l.Name] = *l
		snap.history[l.Name], err = s.History(bgCtx, l.Name)
		must(t, err)
	}
	return snap
}

// newest is snap with each lock's history cut to its newest n events.
func newest(snap snapshot, n int) snapshot {
	out := snapshot{locks: snap.locks, history: map[string][]lock.Event{}, fence: snap.fence}
	for name, h := range snap.history {
		out.history[name] = h[max(0, len(h)-n):]
	}
	return out
}

// migrateEnv runs `locker migrate` in process with the environment env.
func migrateEnv(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := cli.Run(bgCtx, append([]string{"locker", "migrate"}, args...), func(k string) string { return env[k] }, &out, &out)
	return out.String(), err
}

// TestMigrateLeavesAFileSourceAsItWas: a file store's source is read, not
// opened as a server opens it (a review found that a source left with two
// log segments by compactions cut short was compacted at once, its
// history cut to the default 100 events a lock when LOCKER_HISTORY was
// not passed, and a torn record at its end cut off and kept beside it).
// The source is the operator's way back: every file stays as it was, and
// the target gets every lock, each with its history up to the target's
// limit, and the counter above the torn record's token.
func TestMigrateLeavesAFileSourceAsItWas(t *testing.T) {
	src := cutShortSource(t)
	dir := filepath.Dir(src)
	before := dirFiles(t, dir)
	want := fullSource(t, src)
	if n := len(want.history["alpha"]); n != 200 {
		t.Fatalf("the source keeps %d events of alpha, want 200", n)
	}
	if _, ok := want.locks["torn"]; ok || want.fence < 99999 {
		t.Fatalf("the source as a server reads it: torn %v, fence %d", ok, want.fence)
	}

	for _, c := range []struct {
		name    string
		env     map[string]string
		history int
	}{
		{"default history", nil, 100},
		{"LOCKER_HISTORY=300", map[string]string{"LOCKER_HISTORY": "300"}, serverHistory},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := filepath.Join(t.TempDir(), "target.yml")
			out, err := migrateEnv(t, c.env, "--from", src, "--to", to)
			if err != nil {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			sameFiles(t, "after the copy", dir, before)
			if !strings.Contains(out, "copied 4 locks (1 held)") || !strings.Contains(out, "fence tokens go on above 99999") {
				t.Errorf("output: %s", out)
			}
			got := readKeeping(t, to, serverHistory)
			sameLocks(t, newest(want, c.history), got)
			if len(got.locks) != len(want.locks) {
				t.Errorf("the target holds %d locks, want %d", len(got.locks), len(want.locks))
			}
			checkFenceGoesOn(t, to, 99999)
		})
	}
}

// TestMigrateLeavesAFileSourceAsItWasToPostgres: the same, into a database.
func TestMigrateLeavesAFileSourceAsItWasToPostgres(t *testing.T) {
	dbURL := pgtest.Schema(t)
	src := cutShortSource(t)
	dir := filepath.Dir(src)
	before := dirFiles(t, dir)
	want := fullSource(t, src)
	out, err := migrateEnv(t, map[string]string{"LOCKER_HISTORY": "300"}, "--from", src, "--to", dbURL)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	sameFiles(t, "after the copy", dir, before)
	got := readKeeping(t, dbURL, serverHistory)
	sameLocks(t, want, got)
	if len(got.locks) != len(want.locks) {
		t.Errorf("the target holds %d locks, want %d", len(got.locks), len(want.locks))
	}
	checkFenceGoesOn(t, dbURL, 99999)
}

// TestMigrateOriginalLeavesAFileSourceAsItWas: --original reads a store's
// file as the copy to a store does.
func TestMigrateOriginalLeavesAFileSourceAsItWas(t *testing.T) {
	src := cutShortSource(t)
	dir := filepath.Dir(src)
	before := dirFiles(t, dir)
	to := filepath.Join(t.TempDir(), "original.json")
	out, err := migrate(t, "--from", src, "--to", to, "--original")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	sameFiles(t, "after the export", dir, before)
	if b, err := os.ReadFile(to); err != nil || !strings.Contains(string(b), `"deploy"`) || strings.Contains(string(b), `"torn"`) {
		t.Errorf("the export: %s, %v", b, err)
	}
}
