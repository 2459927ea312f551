package resource_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// The unlock step's params.release_dir: the directory of the lock step
// (its implicit get wrote the fence the lock was granted under), whose
// fence goes with the release, so that a late unlock leaves alone a hold
// that the same key and holder took afresh since — as builds of a job
// that is not serial do.

// leaseRunsOutAndIsTakenAfresh takes lock name in build b with a put named
// step (the server gives it a lease of lease), waits until the lease has
// run out, and has another build with the same key and holder take the
// lock afresh (for an hour). It returns the fences of both holds.
func leaseRunsOutAndIsTakenAfresh(t *testing.T, b *build, c *client.Client, name, step, key, holder string, lease time.Duration) (first, afresh uint64) {
	t.Helper()
	a := b.put(step, lockParams(key, holder))
	if b.file(step, "locked") != "true" || b.file(step, "fence") != a.Version["fence"] {
		t.Fatalf("the get after the lock (within its lease of %s) shows locked %q, fence %q; the put's version %v", lease, b.file(step, "locked"), b.file(step, "fence"), a.Version)
	}
	first = get(t, c, name).Fence
	for deadline := time.Now().Add(10 * lease); get(t, c, name).State != "free"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not run out: %+v", get(t, c, name))
		}
	}
	l, err := c.Lock(context.Background(), name, client.LockOptions{Key: key, Holder: holder, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if l.Fence <= first {
		t.Fatalf("taken afresh under fence %d, not above %d", l.Fence, first)
	}
	return first, l.Fence
}

// TestUnlockWithReleaseDirLeavesAHoldTakenAfresh: the lock step's lease
// runs out, another build with the same key and holder takes the lock
// afresh; the first build's late unlock, with release_dir naming its lock
// step, releases nothing, says so, and succeeds.
func TestUnlockWithReleaseDirLeavesAHoldTakenAfresh(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	s := startServer(t, serverOpts{defaultTTL: lease})
	c := s.client(t, "", "")
	b := newBuild(t, src(s, "prod"), "deploy", 1, 11)
	first, afresh := leaseRunsOutAndIsTakenAfresh(t, b, c, "prod", "prod-lock", "deploy-prod", "deploy", lease)

	r := b.startPut(obj{"lock_op": "unlock", "key": "deploy-prod", "locked_by": "deploy", "release_dir": "prod-lock"}).wait()
	if r.code != 0 {
		t.Fatalf("the late unlock failed (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.Fence != afresh || l.LockedBy["deploy"] != 1 {
		t.Fatalf("after the late unlock the lock is %+v; want the hold taken afresh (fence %d) kept:\n%s", l, afresh, r.stderr)
	}
	for _, want := range []string{
		"fence " + itoa(first) + " from prod-lock",
		"was released and taken again since fence " + itoa(first),
		"nothing is released",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if a := decodeAnswer(t, r); !strings.Contains(a.meta("response"), "was gone already") {
		t.Errorf("response %q", a.meta("response"))
	}
}

// TestUnlockWithoutReleaseDirReleasesAHoldTakenAfresh: without
// release_dir, the unlock is today's: it releases the hold of its key and
// holder that it finds, the one taken afresh included.
func TestUnlockWithoutReleaseDirReleasesAHoldTakenAfresh(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	s := startServer(t, serverOpts{defaultTTL: lease})
	c := s.client(t, "", "")
	b := newBuild(t, src(s, "prod"), "deploy", 1, 11)
	leaseRunsOutAndIsTakenAfresh(t, b, c, "prod", "prod-lock", "deploy-prod", "deploy", lease)

	r := b.startPut(unlockParams("deploy-prod", "deploy")).wait()
	if r.code != 0 {
		t.Fatalf("the unlock failed (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.State != "free" {
		t.Fatalf("after the unlock without release_dir the lock is %+v; want it released, as before", l)
	}
}

// TestUnlockWithReleaseDir: the ordinary case: the lock step's hold is
// released by its fence; and a shared key's holds, one period's, are each
// released with the period's fence.
func TestUnlockWithReleaseDir(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	b := newBuild(t, src(s, "prod"), "deploy", 1, 11)
	b.put("lock-1", lockParams("shared", "one"))
	b.put("lock-2", lockParams("shared", "two"))
	fence := get(t, c, "prod").Fence

	r := b.startPut(obj{"lock_op": "unlock", "key": "shared", "locked_by": "one", "release_dir": "lock-1"}).wait()
	if r.code != 0 || !strings.Contains(r.stderr, "fence "+itoa(fence)+" from lock-1") {
		t.Fatalf("unlock (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.LockedBy["one"] != 0 || l.LockedBy["two"] != 1 {
		t.Fatalf("after the first unlock: %+v", l)
	}
	b.put("unlock-2", obj{"lock_op": "unlock", "key": "shared", "locked_by": "two", "release_dir": "lock-2"})
	if l := get(t, c, "prod"); l.State != "free" {
		t.Fatalf("after both unlocks: %+v", l)
	}
}

// TestUnlockWithReleaseDirChecksTheDirectory: a directory of another lock,
// of another key's hold or another holder's fails with what to do and
// releases nothing; one that shows the lock free releases nothing; one
// without a fence (the original server's get writes none) falls back to
// the release by key and holder, with a note.
func TestUnlockWithReleaseDirChecksTheDirectory(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	b := newBuild(t, src(s, "prod"), "deploy", 1, 11)
	other := &build{t: t, dir: b.dir, env: b.env, source: src(s, "staging")}
	other.put("staging-lock", lockParams("deploy-prod", "deploy"))
	vs := decodeVersions(t, mustRun(t, request(src(s, "prod"), nil, nil), "check"))
	b.get("before", vs[len(vs)-1]) // the lock free
	b.put("prod-lock", lockParams("deploy-prod", "deploy"))
	held := get(t, c, "prod")
	unlock := func(dir string) obj {
		return obj{"lock_op": "unlock", "key": "deploy-prod", "locked_by": "deploy", "release_dir": dir}
	}
	unchanged := func(what string) {
		t.Helper()
		if l := get(t, c, "prod"); l.Fence != held.Fence || l.LockedBy["deploy"] != 1 {
			t.Fatalf("%s: the lock is %+v", what, l)
		}
	}

	r := b.putFails(unlock("staging-lock"))
	for _, want := range []string{`params.release_dir is "staging-lock", but its name file names lock "staging", not this resource's lock "prod"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("another lock's directory: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	unchanged("after another lock's directory")

	r = b.putFails(obj{"lock_op": "unlock", "key": "other-key", "locked_by": "deploy", "release_dir": "prod-lock"})
	if want := `params.release_dir is "prod-lock", but it shows lock "prod" held under key "deploy-prod", not params.key "other-key"`; !strings.Contains(r.stderr, want) {
		t.Errorf("another key: stderr lacks %q:\n%s", want, r.stderr)
	}
	unchanged("after another key")

	r = b.putFails(obj{"lock_op": "unlock", "key": "deploy-prod", "locked_by": "someone", "release_dir": "prod-lock"})
	if want := `params.release_dir is "prod-lock", but it shows no hold of holder "someone" on lock "prod" (holders: deploy)`; !strings.Contains(r.stderr, want) {
		t.Errorf("another holder: stderr lacks %q:\n%s", want, r.stderr)
	}
	unchanged("after another holder")

	r = b.startPut(unlock("before")).wait()
	if r.code != 0 || !strings.Contains(r.stderr, `before shows lock "prod" free: it holds no hold to release, and nothing is released`) {
		t.Errorf("a directory of the free lock (exit %d):\n%s", r.code, r.stderr)
	}
	unchanged("after a directory of the free lock")

	b.task("no-fence", map[string]string{"name": "prod\n", "fence": ""})
	r = b.startPut(unlock("no-fence")).wait()
	if r.code != 0 || !strings.Contains(r.stderr, "note: no-fence has no fence (a get from the original server writes none)") {
		t.Errorf("a directory without a fence (exit %d):\n%s", r.code, r.stderr)
	}
	if l := get(t, c, "prod"); l.State != "free" {
		t.Fatalf("after an unlock from a directory without a fence: %+v; want it released by key and holder", l)
	}
}

func itoa(n uint64) string { return fmt.Sprint(n) }

// TestGetAfterALockTakenAfreshShowsTheVersionsHold: the lock step's lease
// runs out, and the same key and holder take the lock afresh, all before
// the get that follows the put runs. The get must not hand the build the
// fence of that newer hold (the build would pass it to what the lock
// protects, and a late unlock with release_dir would release the newer
// hold): it writes the lock as the put's version has it, and says so.
func TestGetAfterALockTakenAfreshShowsTheVersionsHold(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	s := startServer(t, serverOpts{defaultTTL: lease})
	c := s.client(t, "", "")
	b := newBuild(t, src(s, "prod"), "deploy", 1, 11)
	r := b.startPut(lockParams("deploy-prod", "deploy")).wait()
	if r.code != 0 {
		t.Fatalf("lock (exit %d):\n%s", r.code, r.stderr)
	}
	put := decodeAnswer(t, r)
	first := put.Version["fence"]
	for deadline := time.Now().Add(10 * lease); get(t, c, "prod").State != "free"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not run out: %+v", get(t, c, "prod"))
		}
	}
	afresh, err := c.Lock(context.Background(), "prod", client.LockOptions{Key: "deploy-prod", Holder: "deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	g := startEnv(t, binary, request(b.source, nil, put.Version), b.env, "in", b.dir+"/prod-lock").wait()
	if g.code != 0 {
		t.Fatalf("get (exit %d):\n%s", g.code, g.stderr)
	}
	if f := b.file("prod-lock", "fence"); f != first {
		t.Errorf("the get's fence file holds %q, the hold taken afresh's (%d); want the put's %s:\n%s", f, afresh.Fence, first, g.stderr)
	}
	if !strings.Contains(g.stderr, "released and taken again since this version") || !strings.Contains(g.stderr, "fence "+itoa(afresh.Fence)) {
		t.Errorf("the get does not say the lock was taken again since:\n%s", g.stderr)
	}
	if a := decodeAnswer(t, g); !maps.Equal(a.Version, put.Version) {
		t.Errorf("get answered %v, want the put's %v", a.Version, put.Version)
	}

	u := b.startPut(obj{"lock_op": "unlock", "key": "deploy-prod", "locked_by": "deploy", "release_dir": "prod-lock"}).wait()
	if u.code != 0 {
		t.Fatalf("unlock (exit %d):\n%s", u.code, u.stderr)
	}
	if l := get(t, c, "prod"); l.Fence != afresh.Fence || l.LockedBy["deploy"] != 1 {
		t.Fatalf("after the late unlock the lock is %+v; want the hold taken afresh (fence %d) kept:\n%s", l, afresh.Fence, u.stderr)
	}
}
