package resource_test

import "testing"

// TestPoolUpdateUsesTheDirectorysKey: an update: of the get of an
// acquisition taken with params.key, without params.key itself, keeps
// showing that hold (the key of the directory's hold, not the build's), so
// that a release from the update's directory gives the member back.
func TestPoolUpdateUsesTheDirectorysKey(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	setup := newBuild(t, poolSource(s, "upd"), "setup", 1, 1)
	setup.task("m", map[string]string{"name": "m1", "metadata": ""})
	setup.put("m", obj{"add": "m"})
	b := newBuild(t, poolSource(s, "upd"), "deploy", 1, 11)
	a := b.put("env", obj{"acquire": true, "key": "team-key"})
	u := b.put("upd", obj{"update": "env"})
	if u.Version["held"] != a.Version["fence"] || u.Version["holder"] != a.Version["holder"] {
		t.Errorf("update's version %v: want held %s and holder %q (the acquisition's)", u.Version, a.Version["fence"], a.Version["holder"])
	}
	r := b.startPut(obj{"release": "upd"}).wait()
	if m := member(t, c, "upd", "m1"); r.code != 0 || !m.Free() {
		t.Fatalf("after the release from the update's directory (exit %d), m1 is %+v:\n%s", r.code, m, r.stderr)
	}

	// Taken again under that key since (another build sharing it): an
	// update of the old directory does not show the newer hold as its
	// own, so a release from it leaves that hold alone.
	other := newBuild(t, poolSource(s, "upd"), "other", 1, 12)
	other.put("env", obj{"acquire": true, "key": "team-key"})
	if u := b.put("upd2", obj{"update": "env"}); u.Version["held"] != "" || u.Version["holder"] != "" {
		t.Errorf("update of a directory whose hold was given back: version %v, want no held, no holder", u.Version)
	}
	b.put("rel2", obj{"release": "upd2"})
	if m := member(t, c, "upd", "m1"); m.Key != "team-key" || len(m.LockedBy) != 1 {
		t.Fatalf("after the release from the second update's directory, m1 is %+v: the other build's hold must stay", m)
	}
}
