package httpapi_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
)

// TestForget: POST /lock/{name}/forget removes a free lock from GET /locks
// with its history; a held lock (423, who holds it), a pool member (409,
// the pool's route), a name never seen (404) and bad input (400) are
// refused and change nothing; taken again, the lock gets a higher fence.
func TestForget(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	first := s.do("PUT", "/lock/pr-1", `{"key":"k","lock_by":"ci"}`).expect(t, 200, "lock").lockOf(t)
	s.do("DELETE", "/lock/pr-1", `{"key":"k","locked_by":"ci"}`).expect(t, 200, "unlock")
	s.do("PUT", "/lock/held", `{"key":"k","lock_by":"ci"}`).expect(t, 200, "lock held")

	for _, bad := range []struct{ path, body string }{
		{"/lock/pr-1/forget", `[1]`},
		{"/lock/pr-1/forget", `{"key":`},
		{"/lock/pr-1/forget", `key=k`},
		{"/lock/pr-1/forget?ttl=1s;x", ``},
		{"/lock/" + strings.Repeat("x", 2000) + "/forget", ``},
		{"/lock/a%01b/forget", ``},
	} {
		e := s.do("POST", bad.path, bad.body).expect(t, 400, "bad input "+bad.body).errorOf(t)
		if e.Error == "" {
			t.Errorf("400 for %s %s without an error message", bad.path, bad.body)
		}
	}
	wantEntry(t, s, "pr-1", "", map[string]int{})

	e := s.do("POST", "/lock/held/forget", "").expect(t, 423, "forget a held lock").errorOf(t)
	if e.Lock == nil || e.Lock.Key != "k" || e.Lock.LockedBy["ci"] != 1 || !strings.Contains(e.Error, "only a free lock") {
		t.Errorf("423 body %+v: want who holds it, and why", e)
	}
	wantEntry(t, s, "held", "k", map[string]int{"ci": 1})

	s.do("PUT", "/pool/workers/w1", "").expect(t, 200, "add a member")
	e = s.do("POST", "/lock/w1/forget", "").expect(t, 409, "forget a pool member").errorOf(t)
	if !strings.Contains(e.Error, "DELETE /pool/{pool}/{member}") {
		t.Errorf("409 error %q does not point at the pool's route", e.Error)
	}
	s.do("POST", "/lock/never/forget", "").expect(t, 404, "forget a name never seen")

	l := s.do("POST", "/lock/pr-1/forget", "").expect(t, 200, "forget").lockOf(t)
	if l.Name != "pr-1" || l.Key != "" || !strings.Contains(l.Response, "forgot") {
		t.Errorf("forget answer %+v", l)
	}
	if _, ok := s.list(t)["pr-1"]; ok {
		t.Fatal("GET /locks still lists the forgotten lock")
	}
	s.do("GET", "/lock/pr-1", "").expect(t, 404, "GET a forgotten lock")
	s.do("GET", "/lock/pr-1/history", "").expect(t, 404, "history of a forgotten lock")
	s.do("POST", "/lock/pr-1/forget", "").expect(t, 404, "forget it again")
	wantEntry(t, s, "held", "k", map[string]int{"ci": 1})

	again := s.do("PUT", "/lock/pr-1", `{"key":"k"}`).expect(t, 200, "lock again").lockOf(t)
	if again.Fence <= first.Fence {
		t.Errorf("taken again after its forget: fence %d, had %d", again.Fence, first.Fence)
	}
}

// TestForgetNeedsAdminWhenConfigured: with an admin user set, only the
// admin may forget, as only the admin may force a release; read-only
// credentials never may.
func TestForgetNeedsAdminWhenConfigured(t *testing.T) {
	s, _ := newHardenedStack(t, httpapi.Config{Auth: userCreds, Admin: adminCreds, ReadOnly: readOnlyCreds})
	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock")
	s.do("DELETE", "/lock/x", `{"key":"k"}`).expect(t, 200, "unlock")
	e := s.do("POST", "/lock/x/forget", "").expect(t, 403, "forget by the user").errorOf(t)
	if !strings.Contains(e.Error, "admin") {
		t.Errorf("403 error %q does not say who may forget", e.Error)
	}
	s.do("POST", "/lock/x/forget", "", as(readOnlyCreds.User, readOnlyCreds.Pass)).expect(t, 403, "forget read-only")
	wantEntry(t, s, "x", "", map[string]int{})
	s.do("POST", "/lock/x/forget", "", as(adminCreds.User, adminCreds.Pass)).expect(t, 200, "forget by the admin")
	if _, ok := s.list(t)["x"]; ok {
		t.Fatal("GET /locks still lists the forgotten lock")
	}
}

// TestDashboardListensToEveryEventType: the dashboard's event stream
// listens to each type of event by name (EventSource drops the others
// unread), and reloads the locks on each: a type it missed (forgotten, at
// first) left a forgotten lock in its table until its next poll.
func TestDashboardListensToEveryEventType(t *testing.T) {
	b, err := os.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const eventTypes = \[([^\]]*)\];`).FindSubmatch(b)
	if m == nil {
		t.Fatal("web/app.js has no eventTypes list")
	}
	for _, typ := range lock.EventTypes {
		if !strings.Contains(string(m[1]), `"`+string(typ)+`"`) {
			t.Errorf("the dashboard does not listen to %s events: its eventTypes are [%s]", typ, m[1])
		}
	}
}
