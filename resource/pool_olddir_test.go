package resource_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// A directory from an older resource has no holder file: which hold under
// its key is its own, it knows only from its holders file (the holders at
// its get) when that names one holder. With several names there, the
// member's one holder now is not its own by that alone: the directory's
// hold may have been given back, and the one left another build's that
// shares the key (or one that joined since the get). Its release and
// remove must not take that hold for their own.

// oldSharedDir claims m1 under team-key as special-job, besides other-job,
// and writes an older resource's get directory of that claim (no holder
// file; extra files as given): the one to release from.
func oldSharedDir(t *testing.T, files map[string]string) (*server, *client.Client, *build, string) {
	t.Helper()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	cl := b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})
	dir := map[string]string{"name": "m1\n", "key": "team-key", "fence": cl.Version["fence"], "locked": "true"}
	for f, v := range files {
		dir[f] = v
	}
	b.task("old-dir", dir)
	return s, c, b, cl.Version["fence"]
}

// TestPoolReleaseOldDirOneHolderLeft: the directory's own hold
// (special-job) was given back; other-job, in its holders file too, holds
// the member alone. The release must not give back other-job's hold: it
// is refused, naming the command that releases a hold by hand. The same
// with the holders only in the lock file (locked_by).
func TestPoolReleaseOldDirOneHolderLeft(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"holders file": {"holders": "other-job\nspecial-job"},
		"lock file":    {"lock": `{"key":"team-key","locked_by":{"other-job":1,"special-job":1}}`},
	} {
		t.Run(name, func(t *testing.T) {
			_, c, b, fence := oldSharedDir(t, files)
			if _, err := c.Unlock(context.Background(), "m1", "team-key", "special-job"); err != nil {
				t.Fatal(err)
			}
			r := b.putFails(obj{"release": "old-dir"})
			if m := member(t, c, "shared", "m1"); m.Key != "team-key" || m.LockedBy["other-job"] != 1 {
				t.Fatalf("after the release from an older directory, m1 is %+v: other-job's hold was taken for the directory's own:\n%s", m, r.stderr)
			}
			for _, want := range []string{
				`cannot release "m1"`,
				`held under key "team-key" by "other-job" x1 alone`,
				"params.locked_by",
				"locker unlock m1 --key team-key --holder other-job --fence " + fence,
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// TestPoolReleaseOldDirHolderJoinedSince: the one holder left is not in the
// directory's holders file (it took its hold after the get): not the
// directory's. Nothing is released, and the step says why.
func TestPoolReleaseOldDirHolderJoinedSince(t *testing.T) {
	_, c, b, _ := oldSharedDir(t, map[string]string{"holders": "special-job\nthird-job"})
	if _, err := c.Unlock(context.Background(), "m1", "team-key", "special-job"); err != nil {
		t.Fatal(err)
	}
	r := b.startPut(obj{"release": "old-dir"}).wait()
	if m := member(t, c, "shared", "m1"); m.Key != "team-key" || m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the release from an older directory, m1 is %+v:\n%s", m, r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stderr, `"other-job" is not in`) {
		t.Errorf("exit %d:\n%s", r.code, r.stderr)
	}
}

// TestPoolRemoveOldDirOneHolderLeft: a remove from the older directory,
// other-job holding the member alone, is refused rather than forcing
// other-job's hold away with the member.
func TestPoolRemoveOldDirOneHolderLeft(t *testing.T) {
	_, c, b, _ := oldSharedDir(t, map[string]string{"holders": "other-job\nspecial-job"})
	if _, err := c.Unlock(context.Background(), "m1", "team-key", "special-job"); err != nil {
		t.Fatal(err)
	}
	r := b.putFails(obj{"remove": "old-dir"})
	if p := getPool(t, c, "shared"); p.Total != 1 {
		t.Fatalf("after the remove from an older directory, the pool is %+v:\n%s", p, r.stderr)
	}
	if m := member(t, c, "shared", "m1"); m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the remove, m1 is %+v:\n%s", m, r.stderr)
	}
	if !strings.Contains(r.stderr, "old-dir does not say which of these holds is its own") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
