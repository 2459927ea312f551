package httpapi_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestPoolRemoveHeldBy: a forced removal naming a holder (any of the
// holder's spellings, in the query or the body, with or without the key)
// is refused with 423 while another holder shares the member's key and
// fence, naming it, and changes nothing; a malformed holder is 400 and
// changes nothing; once the other released, it removes the member,
// forcing the named holder's hold alone.
func TestPoolRemoveHeldBy(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.addMember(t, "p", "m", `{"m":true}`)
	m := s.take(t, "p", "build", "build-1")
	s.do("PUT", "/lock/m?key=build&lock_by=other-job", "").expect(t, 200, "other-job joins under the same key")
	before := s.pool(t, "p")
	history := len(s.poolHistory(t, "m"))
	unchanged := func(what string) {
		t.Helper()
		if after := s.pool(t, "p"); !reflect.DeepEqual(after, before) {
			t.Fatalf("%s changed the pool:\n%s\nwas\n%s", what, mustJSON(after), mustJSON(before))
		}
		if h := s.poolHistory(t, "m"); len(h) != history {
			t.Fatalf("%s recorded %s", what, mustJSON(h[history:]))
		}
	}
	for _, c := range []struct{ what, query, body string }{
		{"query, key and locked_by", fmt.Sprintf("?force=true&fence=%d&key=build&locked_by=build-1", m.Fence), ""},
		{"query, lock_by only", "?force=true&lock_by=build-1", ""},
		{"query, requestor only", fmt.Sprintf("?force=true&fence=%d&requestor=build-1", m.Fence), ""},
		{"body", "", fmt.Sprintf(`{"force":true,"fence":%d,"key":"build","locked_by":"build-1"}`, m.Fence)},
		{"body holder, query force", "?force=true", `{"locked_by":"build-1"}`},
	} {
		e := s.do("DELETE", "/pool/p/m"+c.query, c.body).expect(t, 423, c.what).errorOf(t)
		want := `pool "p": member "m" is held under key "build" by others besides "build-1": "other-job" x1 (holders: build-1 x1, other-job x1); nothing was forced or removed`
		if e.Error != want || e.Lock == nil || e.Lock.LockedBy["other-job"] != 1 || e.Lock.LockedBy["build-1"] != 1 {
			t.Errorf("%s: 423 answered %s; want %s", c.what, mustJSON(e), want)
		}
		unchanged(c.what)
	}
	// The key alone: the holder is the key, as on every route.
	e := s.do("DELETE", "/pool/p/m?force=true&key=build", "").expect(t, 423, "key alone").errorOf(t)
	if !strings.Contains(e.Error, `by "build-1" x1, "other-job" x1, not by "build"`) {
		t.Errorf("key alone: %s", e.Error)
	}
	unchanged("key alone")
	// Another key.
	e = s.do("DELETE", "/pool/p/m?force=true&key=other&locked_by=build-1", "").expect(t, 423, "another key").errorOf(t)
	if !strings.Contains(e.Error, `is held by key "build", not "other"`) {
		t.Errorf("another key: %s", e.Error)
	}
	unchanged("another key")
	// Bad input: 400, nothing changed.
	for _, c := range []struct{ what, query, body, want string }{
		{"a holder that is not UTF-8", "?force=true&locked_by=%ff", "", "holder is not valid UTF-8"},
		{"a key that is not UTF-8", "?force=true&key=%ff&locked_by=build-1", "", "key is not valid UTF-8"},
		{"the holder twice", "?force=true&locked_by=a&locked_by=b", "", `query string has "locked_by" twice; send each parameter once`},
		{"a holder of the wrong type", "", `{"force":true,"locked_by":7}`, `request body is not a JSON object: field "locked_by" has the wrong type (number)`},
	} {
		e := s.do("DELETE", "/pool/p/m"+c.query, c.body).expect(t, 400, c.what).errorOf(t)
		if e.Error != c.want {
			t.Errorf("%s: 400 answered %q; want %q", c.what, e.Error, c.want)
		}
		unchanged(c.what)
	}
	// Once other-job released: build-1's hold alone is forced, and the
	// member removed.
	s.release(t, "m", "build", "other-job")
	history = len(s.poolHistory(t, "m"))
	r := s.do("DELETE", fmt.Sprintf("/pool/p/m?force=true&fence=%d&key=build&locked_by=build-1", m.Fence), "").expect(t, 200, "removal held by build-1 alone").memberOf(t)
	if r.State != "free" || r.Pools != nil {
		t.Errorf("removal answered %s", mustJSON(r))
	}
	h := s.poolHistory(t, "m")[history:]
	if len(h) != 2 || h[0].Type != "forced" || h[0].Holder != "build-1" || h[1].Type != "removed" {
		t.Errorf("history of the removal: %s", mustJSON(h))
	}
}
