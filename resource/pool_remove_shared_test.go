package resource_test

import (
	"context"
	"strings"
	"testing"
)

// A remove: of a member that the directory's hold shares with other
// holders under the same key (a key shared on purpose, or `locker lock
// NAME --key KEY --holder other-job`) must not take their holds away: the
// forced removal ends every hold, and the member would vanish from the
// pool under a build still using it. It is refused, saying who else holds
// it and what to do; once only the directory's hold is left, the remove
// releases it and removes the member in one step, as before.

// TestPoolRemoveSharedKeyRefused: the claim's directory (holder file) and
// an older resource's directory (no holder file, several holders) are
// refused while another holder holds the member under their key; the
// member stays in the pool with every hold.
func TestPoolRemoveSharedKeyRefused(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	cl := b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})

	b.task("old-dir", map[string]string{"name": "m1\n", "key": "team-key", "fence": cl.Version["fence"], "holders": "other-job\nspecial-job", "locked": "true"})
	for dir, wants := range map[string][]string{
		"env": {
			`cannot remove "m1" from pool "shared": it is also held under key "team-key" by "other-job" x1, besides this directory's hold ("special-job")`,
			"release this directory's hold (a put with release: env)",
		},
		// Which hold is its own, an older directory does not say.
		"old-dir": {
			`cannot remove "m1" from pool "shared": it is held under key "team-key" by "other-job" x1, "special-job" x1, and old-dir does not say which of these holds is its own`,
			"release: old-dir and params.locked_by",
		},
	} {
		r := b.putFails(obj{"remove": dir})
		for _, want := range append(wants,
			"removing it would release their hold too",
			"locker pool rm shared m1 --force --fence "+cl.Version["fence"],
		) {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("remove %s: stderr lacks %q:\n%s", dir, want, r.stderr)
			}
		}
		m := member(t, c, "shared", "m1")
		if m.Key != "team-key" || m.LockedBy["other-job"] != 1 || m.LockedBy["special-job"] != 1 {
			t.Fatalf("after the refused remove %s, m1 is %+v: the other holder's hold (and the claim's) must stay", dir, m)
		}
	}

	// The other holder gives its hold back: the remove from the claim's
	// directory releases the claim's hold and removes the member.
	if _, err := c.Unlock(context.Background(), "m1", "team-key", "other-job"); err != nil {
		t.Fatal(err)
	}
	b.put("rm", obj{"remove": "env"})
	if p := getPool(t, c, "shared"); p.Total != 0 {
		t.Fatalf("after the remove, the pool is %+v", p)
	}
	if l := get(t, c, "m1"); !l.Free() {
		t.Fatalf("after the remove, m1 is %+v", l)
	}
}

// TestPoolRemoveOwnHoldGone: the directory's own hold was given back, but
// another holder under the same key holds the member (same acquisition,
// same fence): the remove is refused rather than forcing that holder away.
func TestPoolRemoveOwnHoldGone(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})
	if _, err := c.Unlock(context.Background(), "m1", "team-key", "special-job"); err != nil {
		t.Fatal(err)
	}
	r := b.putFails(obj{"remove": "env"})
	if !strings.Contains(r.stderr, `cannot remove "m1" from pool "shared": it is held under key "team-key" by "other-job" x1`) || !strings.Contains(r.stderr, `this directory's hold ("special-job") is not among them any more`) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if m := member(t, c, "shared", "m1"); m.LockedBy["other-job"] != 1 {
		t.Fatalf("after the refused remove, m1 is %+v", m)
	}
}
