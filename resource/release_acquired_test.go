package resource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// In a lock shared under one key, the fence names the holding period, not
// a hold in it: while another holder keeps the lock held, a hold that the
// same key and holder took again (a build of the job tried again, or
// another build of a job that is not serial) has the same fence as the
// one it follows. A release from the lock step's directory names its hold
// by the time it began too (the holds in the lock file its get wrote), so
// that a late unlock leaves that newer hold alone.

// takeAgain releases holder's hold on name under key and has the same key
// and holder take the lock again, as another build with them does; it
// fails the test unless the lock stays in its holding period (another
// holder under key kept it held) and the new hold began at another time.
func takeAgain(t *testing.T, c *client.Client, name, key, holder string) *client.Lock {
	t.Helper()
	ctx := context.Background()
	before := get(t, c, name)
	if _, err := c.Unlock(ctx, name, key, holder); err != nil {
		t.Fatalf("releasing %s's hold: %v", holder, err)
	}
	// The server's clock must move on between the two holds.
	time.Sleep(5 * time.Millisecond)
	l, err := c.Lock(ctx, name, client.LockOptions{Key: key, Holder: holder})
	if err != nil {
		t.Fatalf("%s taking %s again: %v", holder, name, err)
	}
	if l.Fence != before.Fence || l.Holds[holder].Acquired.Equal(before.Holds[holder].Acquired) {
		t.Fatalf("taken again: %+v; want the same fence %d (another holder kept it held) and another start than %s", l, before.Fence, before.Holds[holder].Acquired)
	}
	return l
}

// takenAgain wraps a server so that, once armed, just before the next
// release of a lock reaches it (after the step read the lock and found its
// hold), that hold is released and taken again by the same key and holder,
// while another holder under the key keeps the lock held (the same fence).
type takenAgain struct {
	t           *testing.T
	c           *client.Client
	key, holder string
	armed       atomic.Bool
}

func (a *takenAgain) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/lock/") && a.armed.CompareAndSwap(true, false) {
			takeAgain(a.t, a.c, strings.TrimPrefix(r.URL.Path, "/lock/"), a.key, a.holder)
		}
		h.ServeHTTP(w, r)
	})
}

// TestUnlockWithReleaseDirLeavesAHoldTakenAgainBeforeTheRelease: the same,
// when the hold is taken again between the step's read and its release:
// the server refuses it (423, the lock still under the step's key and
// fence), and the step says the hold was gone, and succeeds.
func TestUnlockWithReleaseDirLeavesAHoldTakenAgainBeforeTheRelease(t *testing.T) {
	t.Parallel()
	ta := &takenAgain{t: t, key: "read-only", holder: "smoke-a"}
	s := startServer(t, serverOpts{wrap: ta.wrap})
	c := s.client(t, "", "")
	ta.c = c
	a := newBuild(t, src(s, "prod"), "smoke-a", 1, 21)
	b := newBuild(t, src(s, "prod"), "smoke-b", 1, 22)
	a.put("lock-a", lockParams("read-only", "smoke-a"))
	b.put("lock-b", lockParams("read-only", "smoke-b"))
	ta.armed.Store(true)

	r := a.startPut(obj{"lock_op": "unlock", "key": "read-only", "locked_by": "smoke-a", "release_dir": "lock-a"}).wait()
	if r.code != 0 {
		t.Fatalf("the unlock failed (exit %d):\n%s", r.code, r.stderr)
	}
	if ta.armed.Load() {
		t.Fatalf("the unlock sent no release:\n%s", r.stderr)
	}
	if l := get(t, c, "prod"); l.LockedBy["smoke-a"] != 1 || l.LockedBy["smoke-b"] != 1 {
		t.Fatalf("after the unlock the lock is %+v; want the hold taken again kept:\n%s", l, r.stderr)
	}
	if !strings.Contains(r.stderr, "took the lock again at") {
		t.Errorf("stderr does not say the hold was gone:\n%s", r.stderr)
	}
	if a := decodeAnswer(t, r); !strings.Contains(a.meta("response"), "was gone already") {
		t.Errorf("response %q", a.meta("response"))
	}
}

// copyDir copies the files of directory from into to, as Concourse hands
// a step the files of a get of the same version it ran before.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnlockWithReleaseDirFromAnotherBuildsGet: Concourse reuses the files
// of a version it fetched before (versions are compared by content) for a
// get of the same version, without running the get. In a shared lock, the
// hold a build of A's job took again has the version of the first one's:
// its lock step's directory may be the first build's files, with the time
// the first hold began. The retried build's unlock must still release its
// own hold: the directory names it by its fence only.
func TestUnlockWithReleaseDirFromAnotherBuildsGet(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	a1 := newBuild(t, src(s, "prod"), "smoke-a", 1, 31)
	b := newBuild(t, src(s, "prod"), "smoke-b", 1, 32)
	b.put("lock-b", lockParams("read-only", "smoke-b"))
	first := a1.put("lock-a", lockParams("read-only", "smoke-a"))
	a1.put("unlock-a", unlockParams("read-only", "smoke-a"))

	a2 := newBuild(t, src(s, "prod"), "smoke-a", 2, 33)
	r := a2.startPut(lockParams("read-only", "smoke-a")).wait()
	if r.code != 0 {
		t.Fatalf("the retried build's lock failed:\n%s", r.stderr)
	}
	if v := decodeAnswer(t, r).Version; !maps.Equal(v, first.Version) {
		t.Fatalf("the retried build's version %v differs from the first's %v: nothing here for Concourse to reuse", v, first.Version)
	}
	copyDir(t, filepath.Join(a1.dir, "lock-a"), filepath.Join(a2.dir, "lock-a"))

	r = a2.startPut(obj{"lock_op": "unlock", "key": "read-only", "locked_by": "smoke-a", "release_dir": "lock-a"}).wait()
	if r.code != 0 {
		t.Fatalf("the retried build's unlock failed (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.LockedBy["smoke-a"] != 0 || l.LockedBy["smoke-b"] != 1 {
		t.Fatalf("after the retried build's unlock the lock is %+v; want its hold released (the files of the first build's get named another):\n%s", l, r.stderr)
	}
}

// dropAcquired wraps a server so that releases reach it without
// "acquired", as a Locker from before that field sees them: it releases
// by fence, and its answer says nothing of the time.
func dropAcquired(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			q := r.URL.Query()
			q.Del("acquired")
			r.URL.RawQuery = q.Encode()
			if b, err := io.ReadAll(r.Body); err == nil && len(b) > 0 {
				var m map[string]any
				if json.Unmarshal(b, &m) == nil {
					delete(m, "acquired")
					b, _ = json.Marshal(m)
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
				r.ContentLength = int64(len(b))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// TestUnlockWithReleaseDirAcquiredNotChecked: a server from before the
// check releases the hold of the directory's fence whenever it began: the
// release stands, with a note.
func TestUnlockWithReleaseDirAcquiredNotChecked(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{wrap: dropAcquired})
	c := s.client(t, "", "")
	a := newBuild(t, src(s, "prod"), "smoke-a", 1, 21)
	a.put("lock-a", lockParams("read-only", "smoke-a"))
	r := a.startPut(obj{"lock_op": "unlock", "key": "read-only", "locked_by": "smoke-a", "release_dir": "lock-a"}).wait()
	if r.code != 0 {
		t.Fatalf("the unlock failed (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.State != "free" {
		t.Fatalf("after the unlock: %+v", l)
	}
	if !strings.Contains(r.stderr, "note: the server does not check the time") {
		t.Errorf("stderr has no note that the time was not checked:\n%s", r.stderr)
	}
}

// TestPoolReleaseFromAnotherBuildsGet: as for a single lock, a release from
// files of another build's get of the same version (which Concourse may
// hand the build in place of running its own get) gives back the
// build's own hold, by the fence.
func TestPoolReleaseFromAnotherBuildsGet(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	if _, err := c.AddMember(context.Background(), "envs", "m1", nil); err != nil {
		t.Fatal(err)
	}
	a1 := newBuild(t, poolSource(s, "envs"), "smoke-a", 1, 31)
	b := newBuild(t, poolSource(s, "envs"), "smoke-b", 1, 32)
	b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "smoke-b"})
	first := a1.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "smoke-a"})
	a1.put("released", obj{"release": "env"})

	a2 := newBuild(t, poolSource(s, "envs"), "smoke-a", 2, 33)
	r := a2.startPut(obj{"claim": "m1", "key": "team-key", "locked_by": "smoke-a"}).wait()
	if r.code != 0 {
		t.Fatalf("the retried build's claim failed:\n%s", r.stderr)
	}
	if v := decodeAnswer(t, r).Version; !maps.Equal(v, first.Version) {
		t.Fatalf("the retried build's version %v differs from the first's %v: nothing here for Concourse to reuse", v, first.Version)
	}
	copyDir(t, filepath.Join(a1.dir, "env"), filepath.Join(a2.dir, "env"))

	r = a2.startPut(obj{"release": "env"}).wait()
	if r.code != 0 {
		t.Fatalf("the retried build's release failed (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "m1"); l.LockedBy["smoke-a"] != 0 || l.LockedBy["smoke-b"] != 1 {
		t.Fatalf("after the retried build's release m1 is %+v; want its hold released:\n%s", l, r.stderr)
	}
}

// TestUnlockLeavesAHoldTakenAgainBeforeTheRelease: without release_dir,
// the release names the hold the step read first, by its fence and the
// time it began: one its key and holder took again between the read and
// the release, another holder keeping the lock held (the same fence), is
// another build's, and stays.
func TestUnlockLeavesAHoldTakenAgainBeforeTheRelease(t *testing.T) {
	t.Parallel()
	ta := &takenAgain{t: t, key: "read-only", holder: "smoke-a"}
	s := startServer(t, serverOpts{wrap: ta.wrap})
	c := s.client(t, "", "")
	ta.c = c
	source := src(s, "prod")
	mustRun(t, request(source, lockParams("read-only", "smoke-a"), nil), "out", t.TempDir())
	mustRun(t, request(source, lockParams("read-only", "smoke-b"), nil), "out", t.TempDir())
	ta.armed.Store(true)
	r := mustRun(t, request(source, unlockParams("read-only", "smoke-a"), nil), "out", t.TempDir())
	if ta.armed.Load() {
		t.Fatalf("the unlock sent no release:\n%s", r.stderr)
	}
	if l := get(t, c, "prod"); l.LockedBy["smoke-a"] != 1 || l.LockedBy["smoke-b"] != 1 {
		t.Fatalf("after the unlock the lock is %+v; want the hold taken again kept:\n%s", l, r.stderr)
	}
	if !strings.Contains(r.stderr, "took the lock again at") {
		t.Errorf("stderr does not say the hold was gone:\n%s", r.stderr)
	}
}

// TestUnlockWithReleaseDirOfTheSameBuildsSecondHold: one build takes a
// lock shared under one key, unlocks it, and takes it again with the same
// key and holder while another build keeps it held: the second hold has
// the fence and version of the first, and Concourse may hand its implicit
// get the files of the first get (the same version), which this build
// wrote (the same BUILD_ID) and which show the first hold's start. The
// second unlock from that directory must release the second hold, not
// leave it held for good as "gone already".
func TestUnlockWithReleaseDirOfTheSameBuildsSecondHold(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	a := newBuild(t, src(s, "prod"), "smoke-a", 1, 41)
	b := newBuild(t, src(s, "prod"), "smoke-b", 1, 42)
	b.put("lock-b", lockParams("read-only", "smoke-b"))
	first := a.put("lock-a", lockParams("read-only", "smoke-a"))
	a.put("unlock-a", obj{"lock_op": "unlock", "key": "read-only", "locked_by": "smoke-a", "release_dir": "lock-a"})
	time.Sleep(5 * time.Millisecond) // the server's clock moves on between the holds
	r := a.startPut(lockParams("read-only", "smoke-a")).wait()
	if r.code != 0 {
		t.Fatalf("the second lock failed:\n%s", r.stderr)
	}
	if v := decodeAnswer(t, r).Version; !maps.Equal(v, first.Version) {
		t.Fatalf("the second hold's version %v differs from the first's %v: nothing here for Concourse to reuse", v, first.Version)
	}
	// lock-a keeps the first get's files: the cached get of that version.
	r = a.startPut(obj{"lock_op": "unlock", "key": "read-only", "locked_by": "smoke-a", "release_dir": "lock-a"}).wait()
	if r.code != 0 {
		t.Fatalf("the second unlock failed (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.LockedBy["smoke-a"] != 0 || l.LockedBy["smoke-b"] != 1 {
		t.Fatalf("after the build's second unlock the lock is %+v; want its second hold released:\n%s", l, r.stderr)
	}
}
