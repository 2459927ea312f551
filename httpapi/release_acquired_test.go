package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestReleaseAndRefreshWithAcquired: while another holder under the same
// key keeps a lock held, its holding period (and fence) goes on, and a
// hold that was released and taken again by the same key and holder has
// the same fence. A release or refresh that names its hold by the time
// it began (acquired, with the fence or without) applies only to that
// hold: the one taken afresh is refused (423 for a release, 404 for a
// refresh, as for a stale fence) and left as it is. A 200 says the check
// was made (Locker-Acquired-Checked), which a server that ignores the
// field does not.
func TestReleaseAndRefreshWithAcquired(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	first := s.do("PUT", "/lock/sh", `{"key":"k","lock_by":"a","ttl":"1h"}`).expect(t, 200, "a").lockOf(t)
	s.do("PUT", "/lock/sh", `{"key":"k","lock_by":"b"}`).expect(t, 200, "b joins")
	fence, old := first.Fence, first.Holds["a"].Acquired
	s.do("DELETE", fmt.Sprintf("/lock/sh?key=k&locked_by=a&fence=%d", fence), "").expect(t, 200, "a leaves")
	time.Sleep(time.Millisecond) // a clock that reads the same twice would make one hold of two
	again := s.do("PUT", "/lock/sh", `{"key":"k","lock_by":"a","ttl":"1h"}`).expect(t, 200, "a again").lockOf(t)
	if again.Fence != fence {
		t.Fatalf("a's hold taken again under fence %d, want the period's %d (b held it throughout)", again.Fence, fence)
	}
	now := again.Holds["a"]
	if now.Acquired.Equal(old) {
		t.Fatalf("a's hold taken again began at %v, as the first did", old)
	}
	history := len(s.history(t, "sh"))
	stamp := func(t time.Time) string { return t.Format(time.RFC3339Nano) }

	wantRelease := fmt.Sprintf(`lock "sh": the hold of "a" under key "k" acquired at %s is gone: "a" took the lock again at %s (holders: a x1, b x1); nothing was released`, stamp(old), stamp(now.Acquired))
	for _, c := range []struct{ what, path, body string }{
		{"the old hold's acquired, with the fence, in the body", "/lock/sh", fmt.Sprintf(`{"key":"k","locked_by":"a","fence":%d,"acquired":%q}`, fence, stamp(old))},
		{"in the query", fmt.Sprintf("/lock/sh?key=k&locked_by=a&fence=%d&acquired=%s", fence, url.QueryEscape(stamp(old))), ""},
		{"without the fence", fmt.Sprintf("/lock/sh?key=k&locked_by=a&acquired=%s", url.QueryEscape(stamp(old))), ""},
		{"the body's wins over the query's", fmt.Sprintf("/lock/sh?acquired=%s", url.QueryEscape(stamp(now.Acquired))), fmt.Sprintf(`{"key":"k","locked_by":"a","acquired":%q}`, stamp(old))},
	} {
		e := s.do("DELETE", c.path, c.body).expect(t, 423, c.what).errorOf(t)
		if e.Error != wantRelease {
			t.Errorf("%s: error %q, want %q", c.what, e.Error, wantRelease)
		}
		if e.Lock == nil || e.Lock.LockedBy["a"] != 1 || e.Lock.LockedBy["b"] != 1 {
			t.Errorf("%s: the answer's lock = %+v, want the lock as it is", c.what, e.Lock)
		}
	}
	e := s.do("POST", "/lock/sh/refresh", fmt.Sprintf(`{"key":"k","lock_by":"a","ttl":"1s","fence":%d,"acquired":%q}`, fence, stamp(old))).expect(t, 404, "refresh of the old hold").errorOf(t)
	if want := fmt.Sprintf(`lock "sh": the hold of "a" under key "k" acquired at %s is gone: "a" took the lock again at %s; nothing was renewed`, stamp(old), stamp(now.Acquired)); e.Error != want {
		t.Errorf("refresh of the old hold: error %q, want %q", e.Error, want)
	}
	for _, c := range []struct{ what, method, path, body string }{
		{"not a time", "DELETE", "/lock/sh?key=k&locked_by=a&acquired=yesterday", ""},
		{"a time without a zone", "DELETE", "/lock/sh?key=k&locked_by=a&acquired=2026-11-28T09:00:00", ""},
		{"a number", "DELETE", "/lock/sh", `{"key":"k","locked_by":"a","acquired":1764320400}`},
		{"twice", "DELETE", "/lock/sh?key=k&locked_by=a&acquired=" + url.QueryEscape(stamp(now.Acquired)) + "&acquired=" + url.QueryEscape(stamp(now.Acquired)), ""},
		{"a malformed query one under a good body one", "DELETE", "/lock/sh?acquired=x", fmt.Sprintf(`{"key":"k","locked_by":"a","acquired":%q}`, stamp(now.Acquired))},
		{"with force, which ends every hold", "DELETE", "/lock/sh?force=true&acquired=" + url.QueryEscape(stamp(now.Acquired)), ""},
		{"on a refresh, not a time", "POST", "/lock/sh/refresh?key=k&lock_by=a&ttl=1s&acquired=soon", ""},
		{"on a PUT, which takes a hold and names none", "PUT", "/lock/sh?key=k&lock_by=a&acquired=" + url.QueryEscape(stamp(now.Acquired)), ""},
	} {
		s.do(c.method, c.path, c.body).expect(t, 400, c.what)
	}
	l := s.get(t, "sh")
	if l.LockedBy["a"] != 1 || l.LockedBy["b"] != 1 || !l.Holds["a"].Expires.Equal(*now.Expires) {
		t.Fatalf("refused requests changed the lock: %+v (a's lease was %v)", l, *now.Expires)
	}
	if n := len(s.history(t, "sh")); n != history {
		t.Errorf("refused requests left %d events in history", n-history)
	}

	// The hold's own acquired (written in another zone: the same moment)
	// renews and releases it, and the answer says it was checked.
	other := now.Acquired.In(time.FixedZone("", 2*60*60)).Format(time.RFC3339Nano)
	r := s.do("POST", "/lock/sh/refresh", fmt.Sprintf(`{"key":"k","lock_by":"a","ttl":"2h","fence":%d,"acquired":%q}`, fence, other)).expect(t, 200, "refresh of the hold taken again")
	if got := r.Header.Get("Locker-Acquired-Checked"); got != stamp(now.Acquired) {
		t.Errorf("refresh: Locker-Acquired-Checked = %q, want %q", got, stamp(now.Acquired))
	}
	if l := r.lockOf(t); !l.Holds["a"].Expires.After(*now.Expires) {
		t.Errorf("refresh of the hold taken again: %+v, want its lease renewed", l)
	}
	r = s.do("DELETE", fmt.Sprintf("/lock/sh?key=k&locked_by=a&acquired=%s", url.QueryEscape(other)), "").expect(t, 200, "release of the hold taken again")
	if got := r.Header.Get("Locker-Acquired-Checked"); got != stamp(now.Acquired) {
		t.Errorf("release: Locker-Acquired-Checked = %q, want %q", got, stamp(now.Acquired))
	}
	if l := r.lockOf(t); l.LockedBy["a"] != 0 || l.LockedBy["b"] != 1 || !strings.Contains(l.Response, "unlocked") {
		t.Errorf("release of the hold taken again: %+v", l)
	}
	// A holder holding nothing has nothing to release, whatever it names.
	r = s.do("DELETE", fmt.Sprintf("/lock/sh?key=k&locked_by=a&acquired=%s", url.QueryEscape(stamp(old))), "").expect(t, 200, "a, holding nothing")
	if l := r.lockOf(t); l.LockedBy["b"] != 1 {
		t.Errorf("a release by a holder holding nothing changed the lock: %+v", l)
	}
	if _, ok := s.do("DELETE", "/lock/sh?key=k&locked_by=b", "").expect(t, 200, "b, without acquired").Header["Locker-Acquired-Checked"]; ok {
		t.Errorf("a release without acquired says Locker-Acquired-Checked")
	}
}

// TestAcquiredInTheQueryWithAPlusZone: in a query string a "+" reads as a
// space, so a time in a zone east of UTC written as it is
// (?acquired=...+02:00) arrives as "... 02:00": refused (400, nothing
// released) with the reason, which quoting the mangled time did not give.
func TestAcquiredInTheQueryWithAPlusZone(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	l := s.do("PUT", "/lock/z", `{"key":"k","lock_by":"a"}`).expect(t, 200, "a").lockOf(t)
	east := l.Holds["a"].Acquired.In(time.FixedZone("", 2*60*60)).Format(time.RFC3339Nano)
	e := s.do("DELETE", "/lock/z?key=k&locked_by=a&acquired="+east, "").expect(t, 400, "a + unescaped").errorOf(t)
	if !strings.Contains(e.Error, "%2B") {
		t.Errorf("error %q does not say to write the zone's + as %%2B", e.Error)
	}
	if l := s.get(t, "z"); l.LockedBy["a"] != 1 {
		t.Fatalf("the refused release changed the lock: %+v", l)
	}
	// The same time in the body, or escaped, is the hold's.
	s.do("DELETE", "/lock/z?key=k&locked_by=a&acquired="+url.QueryEscape(east), "").expect(t, 200, "escaped")
}
