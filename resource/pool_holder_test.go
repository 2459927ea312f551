package resource_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// A member may be held under one key by several holders (a key shared on
// purpose, or a build's key): the get of a put that took it then has
// several names in its holders file. A release from that directory, with
// no params.locked_by (pool-resource's release: has none), must give back
// the put's own hold, and only it, rather than warn and leave the member
// held with no step left to release it (found by a review). The get
// writes the put's holder to the file holder.

// sharedMember adds member m1 to pool "shared" and has another holder hold
// it under key, as a `locker lock m1 --key KEY --holder other-job` does.
func sharedMember(t *testing.T, s *server, c *client.Client, key string) *build {
	t.Helper()
	setup := newBuild(t, poolSource(s, "shared"), "setup", 1, 1)
	setup.task("m", map[string]string{"name": "m1", "metadata": ""})
	setup.put("m", obj{"add": "m"})
	if _, err := c.Lock(context.Background(), "m1", client.LockOptions{Key: key, Holder: "other-job"}); err != nil {
		t.Fatal(err)
	}
	return setup
}

// TestPoolReleaseSharedKeyClaim: a claim with a key another holder holds
// the member under, and locked_by; a release from the claim's directory
// without locked_by gives back the claim's hold and leaves the other
// holder's; so does a release from a later job's get of the claim's
// version (passed:).
func TestPoolReleaseSharedKeyClaim(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)

	b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})
	if m := member(t, c, "shared", "m1"); m.Key != "team-key" || m.LockedBy["special-job"] != 1 || m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the claim, m1 is %+v", m)
	}
	if got := b.file("env", "holders"); got != "other-job\nspecial-job" {
		t.Fatalf("holders file %q", got)
	}
	r := b.startPut(obj{"release": "env"}).wait()
	if r.code != 0 {
		t.Fatalf("release: exit %d\n%s", r.code, r.stderr)
	}
	m := member(t, c, "shared", "m1")
	if m.LockedBy["special-job"] != 0 {
		t.Fatalf("after the release from the claim's directory, m1 is %+v: the claim's hold stays, with no step left to release it:\n%s", m, r.stderr)
	}
	if m.Key != "team-key" || m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the release, m1 is %+v: the other holder's hold must stay:\n%s", m, r.stderr)
	}
	if strings.Contains(r.stderr, "holds nothing") {
		t.Errorf("the release warns that it holds nothing:\n%s", r.stderr)
	}
	if got := b.file("env", "holder"); got != "special-job" {
		t.Errorf("holder file %q, want the claim's holder", got)
	}

	// Again, released from a later job's get of the claim's version.
	cl2 := b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})
	if cl2.Version["holder"] != "special-job" {
		t.Errorf("claim's version %v: want holder special-job", cl2.Version)
	}
	test := newBuild(t, poolSource(s, "shared"), "test", 1, 402)
	test.get("env", cl2.Version)
	test.put("release", obj{"release": "env"})
	if m := member(t, c, "shared", "m1"); m.LockedBy["special-job"] != 0 || m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the release from the later job's get, m1 is %+v", m)
	}
}

// TestPoolReleaseSharedKeyAcquire: an acquire (holder of the step's own)
// whose member another holder joins under the same key before the get:
// the release from the get's directory gives back the acquire's hold only.
func TestPoolReleaseSharedKeyAcquire(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	setup := newBuild(t, poolSource(s, "shared"), "setup", 1, 1)
	setup.task("m", map[string]string{"name": "m1", "metadata": ""})
	setup.put("m", obj{"add": "m"})
	b := newBuild(t, poolSource(s, "shared"), "deploy", 1, 11)

	r := b.startPut(obj{"acquire": true, "key": "team-key"}).wait()
	if r.code != 0 {
		t.Fatalf("acquire: exit %d\n%s", r.code, r.stderr)
	}
	a := decodeAnswer(t, r)
	own := member(t, c, "shared", "m1").Holders()
	if len(own) != 1 {
		t.Fatalf("after the acquire, holders on the server %v", own)
	}
	if _, err := c.Lock(context.Background(), "m1", client.LockOptions{Key: "team-key", Holder: "other-job"}); err != nil {
		t.Fatal(err)
	}
	b.get("env", a.Version)
	b.put("release", obj{"release": "env"})
	if m := member(t, c, "shared", "m1"); m.LockedBy[own[0]] != 0 || m.LockedBy["other-job"] != 1 || m.Key != "team-key" {
		t.Fatalf("after the release, m1 is %+v: want the acquire's hold (%q) given back and other-job's kept", m, own[0])
	}
	if a.Version["holder"] != own[0] {
		t.Errorf("the acquire's version %v: want holder %q", a.Version, own[0])
	}
}

// TestPoolReleaseSharedKeyOldDirectory: a directory written by an older
// resource (no holder file), or a get of a version from an older put (no
// holder in it), keeps today's behaviour: with several holders, a release
// without locked_by releases the key's own holder's hold only, and warns
// when there is none; the other holders' stay.
func TestPoolReleaseSharedKeyOldDirectory(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	cl := b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})

	// The get of an older put's version: an empty holder file.
	old := maps.Clone(cl.Version)
	delete(old, "holder")
	b.get("old-get", old)
	if got, _ := os.ReadFile(filepath.Join(b.dir, "old-get", "holder")); len(got) != 0 {
		t.Errorf("holder file of a version without holder: %q, want empty", got)
	}
	// An older resource's get: no holder file at all.
	b.task("old-dir", map[string]string{"name": "m1\n", "key": "team-key", "fence": cl.Version["fence"], "holders": "other-job\nspecial-job", "locked": "true"})
	for _, dir := range []string{"old-get", "old-dir"} {
		r := b.startPut(obj{"release": dir}).wait()
		if r.code != 0 {
			t.Fatalf("release %s: exit %d\n%s", dir, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, `warning: "team-key" holds nothing on lock "m1" under key "team-key"`) {
			t.Errorf("release %s: no warning:\n%s", dir, r.stderr)
		}
		if m := member(t, c, "shared", "m1"); m.LockedBy["special-job"] != 1 || m.LockedBy["other-job"] != 1 {
			t.Fatalf("after release %s, m1 is %+v", dir, m)
		}
	}
	// A holder file that names no holder the server could have is
	// refused before anything is sent.
	b.task("bad-holder", map[string]string{"name": "m1\n", "key": "team-key", "fence": cl.Version["fence"], "holder": "special\x01job"})
	if r := b.putFails(obj{"release": "bad-holder"}); !strings.Contains(r.stderr, "the holder in "+filepath.Join(b.dir, "bad-holder", "holder")+" must not contain control characters") {
		t.Errorf("release from a directory with a bad holder file:\n%s", r.stderr)
	}
	// With locked_by, as before.
	b.put("rel", obj{"release": "old-dir", "locked_by": "special-job"})
	if m := member(t, c, "shared", "m1"); m.LockedBy["special-job"] != 0 || m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the release with locked_by, m1 is %+v", m)
	}
}

// TestPoolReleaseAfterUpdateSharedKey: an update (or add) of a member the
// build holds under a key others hold it under too leaves a directory that
// shows the hold (held); its version carries the put's own holder, so
// that a release from it gives back that hold only, rather than warn and
// leave it held. The holder comes from the directory the update reads
// (the claim's get, with its holder file) or from params.locked_by; with
// neither and several holders, the version has none and the release
// keeps the older rule.
func TestPoolReleaseAfterUpdateSharedKey(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	claim := func() {
		t.Helper()
		b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})
		if m := member(t, c, "shared", "m1"); m.LockedBy["special-job"] != 1 || m.LockedBy["other-job"] != 1 {
			t.Fatalf("after the claim, m1 is %+v", m)
		}
	}
	released := func(how string, r result) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: release: exit %d\n%s", how, r.code, r.stderr)
		}
		m := member(t, c, "shared", "m1")
		if m.LockedBy["special-job"] != 0 {
			t.Errorf("%s: after the release from the update's directory, m1 is %+v: the claim's hold stays, with no step left to release it:\n%s", how, m, r.stderr)
		}
		if m.Key != "team-key" || m.LockedBy["other-job"] != 1 {
			t.Fatalf("%s: after the release, m1 is %+v: the other holder's hold must stay", how, m)
		}
		if strings.Contains(r.stderr, "holds nothing") {
			t.Errorf("%s: the release warns that it holds nothing:\n%s", how, r.stderr)
		}
	}

	// The update reads the claim's get directory (with its holder file).
	claim()
	u := b.put("upd", obj{"update": "env", "key": "team-key"})
	if u.Version["held"] == "" || u.Version["holder"] != "special-job" {
		t.Errorf("update's version %v: want held, and holder special-job", u.Version)
	}
	if got := b.file("upd", "holder"); got != "special-job" {
		t.Errorf("the update's get wrote holder %q, want special-job", got)
	}
	released("update from the claim's directory", b.startPut(obj{"release": "upd"}).wait())

	// An add from a task's output (no holder file), with locked_by; the
	// release from a later job's get of its version.
	claim()
	b.task("out", map[string]string{"name": "m1\n", "metadata": "v: 2\n"})
	a := b.put("added", obj{"add": "out", "key": "team-key", "locked_by": "special-job"})
	if a.Version["holder"] != "special-job" {
		t.Errorf("add's version %v: want holder special-job", a.Version)
	}
	later := newBuild(t, poolSource(s, "shared"), "later", 1, 402)
	later.get("added", a.Version)
	released("add with locked_by, later get", later.startPut(obj{"release": "added"}).wait())

	// Neither: the version names no holder; the release keeps the older
	// rule (it warns, and releases nothing of anyone's).
	claim()
	n := b.put("plain", obj{"update": "out", "key": "team-key"})
	if n.Version["held"] == "" || n.Version["holder"] != "" {
		t.Errorf("update's version %v: want held, and no holder", n.Version)
	}
	r := b.startPut(obj{"release": "plain"}).wait()
	if r.code != 0 || !strings.Contains(r.stderr, `warning: "team-key" holds nothing on lock "m1"`) {
		t.Errorf("release from an update without a holder: exit %d\n%s", r.code, r.stderr)
	}
	if m := member(t, c, "shared", "m1"); m.LockedBy["special-job"] != 1 || m.LockedBy["other-job"] != 1 {
		t.Fatalf("after that release, m1 is %+v", m)
	}
	// A locked_by that holds nothing names no holder either.
	if v := b.put("nobody", obj{"update": "out", "key": "team-key", "locked_by": "nobody"}).Version; v["holder"] != "" {
		t.Errorf("update with locked_by nobody: version %v", v)
	}
}
