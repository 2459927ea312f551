package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestReleaseWithFence: an ordinary DELETE (key and holder) with a fence,
// in the body or the query, gives back one hold only while the lock's
// holding period is the one the fence names. Once the lock was lost and
// taken afresh by the same key and holder (a job tried again), the old
// fence is refused as a force with a stale fence is: 423 with the lock's
// state, and nothing changes. Malformed fences are 400 and change
// nothing; without a fence, DELETE is what it always was.
func TestReleaseWithFence(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	f1 := s.do("PUT", "/lock/r", `{"key":"k","lock_by":"job"}`).expect(t, 200, "lock").lockOf(t).Fence
	s.do("PUT", "/lock/r", `{"key":"k","lock_by":"job"}`).expect(t, 200, "re-enter")
	r := s.do("DELETE", "/lock/r", fmt.Sprintf(`{"key":"k","locked_by":"job","fence":%d}`, f1)).expect(t, 200, "release with the hold's fence")
	l := r.lockOf(t)
	if l.LockedBy["job"] != 1 || l.Fence != f1 || !strings.Contains(l.Response, "unlocked") {
		t.Fatalf("release with the hold's fence: %+v, want one count given back", l)
	}
	// The answer says the fence was checked, which a server from before
	// fenced releases (that ignores the field) does not.
	if got := r.Header.Get("Locker-Fence-Checked"); got != fmt.Sprint(f1) {
		t.Errorf("Locker-Fence-Checked = %q, want %d", got, f1)
	}

	// Lost (forced here; a lease running out is the same) and taken afresh
	// by the same key and holder.
	s.do("DELETE", "/lock/r?force=true", "").expect(t, 200, "force")
	f2 := s.do("PUT", "/lock/r", `{"key":"k","lock_by":"job"}`).expect(t, 200, "taken afresh").lockOf(t).Fence
	if f2 == f1 {
		t.Fatalf("taken afresh under the same fence %d", f1)
	}
	history := len(s.history(t, "r"))
	want := fmt.Sprintf(`lock "r" was taken again since fence %d: it is held by key "k" under fence %d (holders: job x1); nothing was released`, f1, f2)
	for _, c := range []struct{ what, path, body string }{
		{"old fence in the body", "/lock/r", fmt.Sprintf(`{"key":"k","locked_by":"job","fence":%d}`, f1)},
		{"old fence in the query", fmt.Sprintf("/lock/r?key=k&locked_by=job&fence=%d", f1), ""},
		{"old fence in the body wins over the query's", fmt.Sprintf("/lock/r?fence=%d", f2), fmt.Sprintf(`{"key":"k","requestor":"job","fence":%d}`, f1)},
	} {
		e := s.do("DELETE", c.path, c.body).expect(t, 423, c.what).errorOf(t)
		if e.Error != want {
			t.Errorf("%s: error %q, want %q", c.what, e.Error, want)
		}
		if e.Lock == nil || e.Lock.Fence != f2 || e.Lock.LockedBy["job"] != 1 {
			t.Errorf("%s: the answer's lock = %+v, want the lock as it is", c.what, e.Lock)
		}
	}
	e := s.do("DELETE", fmt.Sprintf("/lock/r?key=k&locked_by=job&fence=%d", f2+1), "").expect(t, 423, "a future fence").errorOf(t)
	if want := fmt.Sprintf(`lock "r": fence %d is higher than any this lock has had: it is held by key "k" under fence %d (holders: job x1); nothing was released`, f2+1, f2); e.Error != want {
		t.Errorf("future fence: error %q, want %q", e.Error, want)
	}
	for _, c := range []struct{ what, path, body string }{
		{"a fence that is no number", "/lock/r?key=k&locked_by=job&fence=abc", ""},
		{"a negative fence", "/lock/r?key=k&locked_by=job&fence=-1", ""},
		{"a fence in a string", "/lock/r", `{"key":"k","locked_by":"job","fence":"7"}`},
		{"a fraction", "/lock/r", `{"key":"k","locked_by":"job","fence":1.5}`},
		{"a malformed query fence under a good body one", "/lock/r?fence=x", fmt.Sprintf(`{"key":"k","locked_by":"job","fence":%d}`, f2)},
		{"a fence twice", fmt.Sprintf("/lock/r?key=k&locked_by=job&fence=%d&fence=%d", f2, f2), ""},
		{"a fence without a key", fmt.Sprintf("/lock/r?locked_by=job&fence=%d", f2), ""},
	} {
		s.do("DELETE", c.path, c.body).expect(t, 400, c.what)
	}
	if l := s.get(t, "r"); l.Fence != f2 || l.LockedBy["job"] != 1 {
		t.Fatalf("refused releases changed the lock: %+v", l)
	}
	if n := len(s.history(t, "r")); n != history {
		t.Errorf("refused releases left %d events in history", n-history)
	}

	// The new hold's own fence releases it; a free lock has nothing to
	// release, whatever the fence.
	l = s.do("DELETE", fmt.Sprintf("/lock/r?key=k&locked_by=job&fence=%d", f2), "").expect(t, 200, "release with the new fence").lockOf(t)
	if l.State != "free" || !strings.Contains(l.Response, "the lock is free") {
		t.Fatalf("release with the new hold's fence: %+v", l)
	}
	l = s.do("DELETE", "/lock/r", fmt.Sprintf(`{"key":"k","locked_by":"job","fence":%d}`, f1)).expect(t, 200, "free lock, old fence").lockOf(t)
	if l.Response != `lock "r" is not held; nothing to unlock` {
		t.Errorf("free lock, old fence: %q", l.Response)
	}

	// Without a fence (or fence 0, which no hold has), as before: any hold
	// of the key and holder.
	s.do("PUT", "/lock/r", `{"key":"k","lock_by":"job"}`).expect(t, 200, "lock again")
	s.do("DELETE", "/lock/r", `{"key":"k","locked_by":"job","fence":0}`).expect(t, 200, "fence 0")
	s.do("PUT", "/lock/r", `{"key":"k","lock_by":"job"}`).expect(t, 200, "lock again")
	r = s.do("DELETE", "/lock/r", `{"key":"k","locked_by":"job"}`).expect(t, 200, "no fence")
	if l := r.lockOf(t); l.State != "free" {
		t.Errorf("release without a fence: %+v", l)
	}
	if got, ok := r.Header["Locker-Fence-Checked"]; ok {
		t.Errorf("a release without a fence says Locker-Fence-Checked: %q", got)
	}
}

// TestReleaseWithFenceSharedKey: holders that share a key share the
// holding period's fence: each releases its own hold with it, and after
// the lock went free and was taken again, none can with the old one.
func TestReleaseWithFenceSharedKey(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	f := s.do("PUT", "/lock/sh", `{"key":"k","lock_by":"a"}`).expect(t, 200, "a").lockOf(t).Fence
	if g := s.do("PUT", "/lock/sh", `{"key":"k","lock_by":"b"}`).expect(t, 200, "b").lockOf(t).Fence; g != f {
		t.Fatalf("b joined under fence %d, a took %d", g, f)
	}
	l := s.do("DELETE", fmt.Sprintf("/lock/sh?key=k&locked_by=a&fence=%d", f), "").expect(t, 200, "a leaves").lockOf(t)
	if _, ok := l.LockedBy["a"]; ok || l.LockedBy["b"] != 1 {
		t.Fatalf("after a left: %+v", l)
	}
	s.do("DELETE", fmt.Sprintf("/lock/sh?key=k&locked_by=b&fence=%d", f), "").expect(t, 200, "b leaves")
	s.do("PUT", "/lock/sh", `{"key":"k","lock_by":"a"}`).expect(t, 200, "a again")
	s.do("DELETE", fmt.Sprintf("/lock/sh?key=k&locked_by=a&fence=%d", f), "").expect(t, 423, "a, old period")
}
