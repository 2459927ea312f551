package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

var bgCtx = context.Background()

// openAny opens the store a migrate argument names, also one a copy
// stopped half way left marked unfinished (which a server refuses), to
// look at what is in it.
func openAny(t *testing.T, spec string) lock.Store {
	t.Helper()
	var s lock.Store
	var err error
	if strings.HasPrefix(spec, "postgres://") {
		s, err = pgstore.Open(bgCtx, spec, pgstore.Options{Migrating: true})
	} else {
		s, err = filestore.Open(spec, filestore.Options{Migrating: true})
	}
	if err != nil {
		t.Fatalf("opening %s: %v", spec, err)
	}
	return s
}

// withService runs fn with a service over the store at spec, then closes
// both.
func withService(t *testing.T, spec string, fn func(s *lockservice.Service)) {
	t.Helper()
	store := openAny(t, spec)
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(bgCtx)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		svc.Close()
		cancel()
		if err := store.Close(); err != nil {
			t.Errorf("closing %s: %v", spec, err)
		}
	}()
	fn(svc)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// populate makes locks of every kind: shared and re-entered, leased, free
// after use, force-released; with fence tokens well above 1.
func populate(t *testing.T, spec string) {
	t.Helper()
	withService(t, spec, func(s *lockservice.Service) {
		acq := func(name, key, holder string, ttl time.Duration) {
			t.Helper()
			_, err := s.Acquire(bgCtx, name, lock.Request{Key: key, Holder: holder, TTL: ttl}, 0)
			must(t, err)
		}
		for i := 0; i < 10; i++ {
			acq("free", "k", "h", 0)
			_, _, err := s.Release(bgCtx, "free", "k", "h")
			must(t, err)
		}
		acq("shared", "deploy", "h1", 0)
		acq("shared", "deploy", "h1", 0)
		acq("shared", "deploy", "h2", 0)
		acq("leased", "k", "worker", time.Hour)
		acq("forced", "k", "stuck", 0)
		_, _, err := s.ForceRelease(bgCtx, "forced", "operator")
		must(t, err)
		_, err = s.AddMember(bgCtx, "runners", "runner-1", json.RawMessage(`{"region":"eu"}`))
		must(t, err)
		_, err = s.AddMember(bgCtx, "runners", "runner-2", nil)
		must(t, err)
		_, err = s.AcquireFromPool(bgCtx, "runners", lock.Request{Key: "job", Holder: "job"}, 0)
		must(t, err)
		acq("latest", "k", "h", 0) // the highest fence: a held lock
	})
}

type snapshot struct {
	locks   map[string]lock.Lock
	history map[string][]lock.Event
	fence   uint64
}

func read(t *testing.T, spec string) snapshot {
	t.Helper()
	s := openAny(t, spec)
	defer s.Close()
	snap := snapshot{locks: map[string]lock.Lock{}, history: map[string][]lock.Event{}}
	locks, err := s.List(bgCtx)
	must(t, err)
	for _, l := range locks {
		snap.locks[l.Name] = *l
		snap.fence = max(snap.fence, l.Fence)
		snap.history[l.Name], err = s.History(bgCtx, l.Name)
		must(t, err)
	}
	return snap
}

// sameTime compares times as both stores keep them: PostgreSQL's timestamps
// have microseconds.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Microsecond && d > -time.Microsecond
}

func compactJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}

// sameLocks fails unless got has every lock of want, in the same state and
// with the same history.
func sameLocks(t *testing.T, want, got snapshot) {
	t.Helper()
	for name, w := range want.locks {
		g, ok := got.locks[name]
		if !ok {
			t.Errorf("lock %q was not copied", name)
			continue
		}
		// FreeSince counts for pool members only (the file store keeps it
		// for them only); PostgreSQL reformats JSON metadata.
		if g.Key != w.Key || g.Fence != w.Fence || !sameTime(g.Since, w.Since) || len(g.Holds) != len(w.Holds) ||
			!slices.Equal(g.Pools, w.Pools) || compactJSON(g.Metadata) != compactJSON(w.Metadata) ||
			(len(w.Pools) > 0 && !sameTime(g.FreeSince, w.FreeSince)) {
			t.Errorf("lock %q: got %+v, want %+v", name, g, w)
			continue
		}
		for holder, wh := range w.Holds.All() {
			gh := g.Holds.Get(holder)
			if gh.Count != wh.Count || !gh.Acquired.Equal(wh.Acquired) || !gh.Expires.Equal(wh.Expires) {
				t.Errorf("lock %q holder %q: got %+v, want %+v", name, holder, gh, wh)
			}
		}
		wh, gh := want.history[name], got.history[name]
		if len(gh) != len(wh) {
			t.Errorf("lock %q: %d history events copied, want %d", name, len(gh), len(wh))
			continue
		}
		for i := range wh {
			a, b := gh[i], wh[i]
			if a.Type != b.Type || a.Holder != b.Holder || a.Key != b.Key || a.Count != b.Count || a.Fence != b.Fence || a.By != b.By || a.Pool != b.Pool || !a.Time.Equal(b.Time) || !a.Expires.Equal(b.Expires) {
				t.Errorf("lock %q event %d: got %+v, want %+v", name, i, a, b)
			}
		}
	}
}

// migrate runs `locker migrate` in process.
func migrate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(bgCtx, append([]string{"locker", "migrate"}, args...), func(string) string { return "" }, &out, &errb)
	return out.String() + errb.String(), err
}

// checkFenceGoesOn takes a new lock on the target and checks its token is
// above every copied one.
func checkFenceGoesOn(t *testing.T, spec string, copied uint64) {
	t.Helper()
	withService(t, spec, func(s *lockservice.Service) {
		l, err := s.Acquire(bgCtx, "after-migration", lock.Request{Key: "k", Holder: "k"}, 0)
		must(t, err)
		if l.Fence <= copied {
			t.Errorf("first fence after migrating: %d, want above %d (the source's counter)", l.Fence, copied)
		}
	})
}

func TestMigrateFileToPostgres(t *testing.T) {
	dbURL := pgtest.Schema(t)
	file := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, file)
	want := read(t, file)
	out, err := migrate(t, "--from", file, "--to", dbURL)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied 7 locks (4 held)") {
		t.Errorf("output: %s", out)
	}
	sameLocks(t, want, read(t, dbURL))
	checkFenceGoesOn(t, dbURL, want.fence)
	// The source is left as it was.
	sameLocks(t, want, read(t, file))
}

// TestMigrateToPostgresWithPoolSettings: the target is written with the
// URL the servers use, pool settings (pool_max_conns) included.
func TestMigrateToPostgresWithPoolSettings(t *testing.T) {
	dbURL := pgtest.Schema(t) + "&pool_max_conns=4"
	file := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, file)
	want := read(t, file)
	if out, err := migrate(t, "--from", file, "--to", dbURL); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	sameLocks(t, want, read(t, dbURL))
	checkFenceGoesOn(t, dbURL, want.fence)
}

func TestMigratePostgresToFile(t *testing.T) {
	dbURL := pgtest.Schema(t)
	populate(t, dbURL)
	want := read(t, dbURL)
	file := filepath.Join(t.TempDir(), "locks.yml")
	out, err := migrate(t, "--from", dbURL, "--to", file)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied 7 locks (4 held)") {
		t.Errorf("output: %s", out)
	}
	sameLocks(t, want, read(t, file))
	checkFenceGoesOn(t, file, want.fence)
	// And back into another database: the round trip keeps everything.
	back := pgtest.Schema(t)
	if out, err := migrate(t, "--from", file, "--to", back); err != nil {
		t.Fatalf("migrating back: %v\n%s", err, out)
	}
	got := read(t, back)
	delete(got.locks, "after-migration")
	sameLocks(t, want, got)
}

func TestMigrateIntoNonEmptyPostgresNeedsForce(t *testing.T) {
	dbURL := pgtest.Schema(t)
	// The target's own counter is already far above the source's tokens.
	withService(t, dbURL, func(s *lockservice.Service) {
		for i := 0; i < 30; i++ {
			_, err := s.Acquire(bgCtx, "theirs", lock.Request{Key: "k", Holder: "k"}, 0)
			must(t, err)
			_, _, err = s.Release(bgCtx, "theirs", "k", "k")
			must(t, err)
		}
	})
	targetFence := read(t, dbURL).fence
	file := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, file)
	want := read(t, file)
	out, err := migrate(t, "--from", file, "--to", dbURL)
	if err == nil || !strings.Contains(err.Error(), "already holds 1 lock") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("migrating into a store with locks: %v\n%s", err, out)
	}
	if got := read(t, dbURL); len(got.locks) != 1 {
		t.Fatalf("a refused migration changed the target: %v", got.locks)
	}
	if out, err := migrate(t, "--from", file, "--to", dbURL, "--force"); err != nil {
		t.Fatalf("--force: %v\n%s", err, out)
	}
	got := read(t, dbURL)
	sameLocks(t, want, got)
	if _, ok := got.locks["theirs"]; !ok {
		t.Errorf("--force dropped the target's own lock")
	}
	checkFenceGoesOn(t, dbURL, max(want.fence, targetFence))
}

func TestMigrateFileRefusals(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.yml")
	populate(t, src)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "needs --from and --to"},
		{"no target", []string{"--from", src}, "needs --from and --to"},
		{"same store", []string{"--from", src, "--to", src}, "the same store"},
		{"missing source", []string{"--from", filepath.Join(dir, "nope.yml"), "--to", filepath.Join(dir, "t.yml")}, "nope.yml: stat"},
		{"argument", []string{"--from", src, "--to", filepath.Join(dir, "t.yml"), "extra"}, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := migrate(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%s), want an error containing %q", err, out, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.yml")); err == nil {
		t.Errorf("a missing source was created")
	}

	// A running server holds its file: migrate refuses it, as source or
	// target, and says why.
	running, err := filestore.Open(src, filestore.Options{})
	must(t, err)
	out, err := migrate(t, "--from", src, "--to", filepath.Join(dir, "t1.yml"))
	if err == nil || !strings.Contains(err.Error(), "in use by a running Locker server: stop it first") {
		t.Fatalf("source in use: %v\n%s", err, out)
	}
	other := filepath.Join(dir, "other.yml")
	populate(t, other)
	out, err = migrate(t, "--from", other, "--to", src)
	if err == nil || !strings.Contains(err.Error(), "target "+src+" is in use by a running Locker server") {
		t.Fatalf("target in use: %v\n%s", err, out)
	}
	must(t, running.Close())

	// A file target with locks needs --force too.
	out, err = migrate(t, "--from", other, "--to", src)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("file target with locks: %v\n%s", err, out)
	}

	// --help prints the help and succeeds.
	out, err = migrate(t, "--help")
	if err != nil || !strings.Contains(out, "Usage: locker migrate --from STORE --to STORE") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
}

// A file written by the original locker has no history: each hold is
// recorded by one event, and free locks that never changed are skipped.
func TestMigrateOriginalLockerFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "legacy.json")
	must(t, os.WriteFile(src, []byte(`{"prod":{"key":"deploy","locked_by":{"a":2,"b":1}},"idle":{"key":"","locked_by":{}}}`), 0o600))
	dst := filepath.Join(dir, "locks.yml")
	out, err := migrate(t, "--from", src, "--to", dst)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied 1 lock (1 held)") || !strings.Contains(out, "skipped 1 free lock") {
		t.Errorf("output: %s", out)
	}
	want := read(t, src) // converted in place, as a server would on start
	got := read(t, dst)
	if len(got.locks) != 1 {
		t.Fatalf("copied %v", got.locks)
	}
	p, w := got.locks["prod"], want.locks["prod"]
	if p.Key != "deploy" || p.Holds.Get("a").Count != 2 || p.Holds.Get("b").Count != 1 || p.Fence != w.Fence || p.Fence == 0 {
		t.Fatalf("prod: %+v, want %+v", p, w)
	}
	h := got.history["prod"]
	if len(h) != 2 || h[0].Type != lock.Acquired || h[0].Holder != "a" || h[0].Count != 2 || h[1].Holder != "b" || h[1].Fence != p.Fence {
		t.Fatalf("history: %+v", h)
	}
	checkFenceGoesOn(t, dst, p.Fence)
}

// TestMigrateStoppedHalfWayIntoAFile: a copy into a file that stops half
// way (kill -9, a full disk) leaves a store whose next fence token is still
// above every token the source issued: its counter is raised before the
// first lock is written, as PostgreSQL's is.
func TestMigrateStoppedHalfWayIntoAFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	want := read(t, src)
	dst := filepath.Join(t.TempDir(), "locks.yml")
	defer cli.StopMigrateAfter(1, errors.New("stopped by the test"))()
	if out, err := migrate(t, "--from", src, "--to", dst); err == nil || !strings.Contains(err.Error(), "stopped by the test") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if got := read(t, dst); len(got.locks) != 1 {
		t.Fatalf("the stopped copy wrote %d locks, want 1", len(got.locks))
	}
	checkFenceGoesOn(t, dst, want.fence)
}

// TestMigrateKeepsALongerHistory: with the servers' LOCKER_HISTORY, a
// history longer than the default 100 events is copied whole.
func TestMigrateKeepsALongerHistory(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	s, err := filestore.Open(src, filestore.Options{HistoryLimit: 300})
	must(t, err)
	svc := lockservice.New(s, lockservice.Config{})
	for range 130 {
		_, err := svc.Acquire(bgCtx, "busy", lock.Request{Key: "k", Holder: "h"}, 0)
		must(t, err)
		_, _, err = svc.Release(bgCtx, "busy", "k", "h")
		must(t, err)
	}
	must(t, s.Close())
	dst := filepath.Join(t.TempDir(), "locks.yml")
	var out, errb bytes.Buffer
	env := map[string]string{"LOCKER_HISTORY": "300"}
	if err := cli.Run(bgCtx, []string{"locker", "migrate", "--from", src, "--to", dst}, func(k string) string { return env[k] }, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "260 history events") {
		t.Errorf("output: %s", out.String())
	}
	d, err := filestore.Open(dst, filestore.Options{HistoryLimit: 300})
	must(t, err)
	defer d.Close()
	if h, err := d.History(bgCtx, "busy"); err != nil || len(h) != 260 {
		t.Errorf("the target's history: %d events, %v; want 260", len(h), err)
	}
	env["LOCKER_HISTORY"] = "many"
	if err := cli.Run(bgCtx, []string{"locker", "migrate", "--from", src, "--to", dst + "2"}, func(k string) string { return env[k] }, &out, &errb); err == nil {
		t.Error("LOCKER_HISTORY=many was taken")
	}
}
