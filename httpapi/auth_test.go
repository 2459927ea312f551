package httpapi_test

// Basic auth (AUTH_USER/AUTH_PASS) and the admin account that alone may
// force a release.

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
)

var (
	userCreds  = httpapi.Credentials{User: "concourse", Pass: "s3cret"}
	adminCreds = httpapi.Credentials{User: "ops", Pass: "r00t"}
)

func TestAuthOffEverythingOpen(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("GET", "/locks", "").expect(t, 200, "list")
	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock")
	s.do("GET", "/lock/x", "").expect(t, 200, "get")
	s.do("GET", "/lock/x/history", "").expect(t, 200, "history")
	s.do("DELETE", "/lock/x", `{"key":"k"}`).expect(t, 200, "unlock")
	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock")
	s.do("DELETE", "/lock/x?force=true", "").expect(t, 200, "anyone may force without auth")
	if l := s.get(t, "x"); l.Key != "" {
		t.Fatalf("force left the lock held: %+v", l)
	}
	h := s.history(t, "x")
	if last := h[len(h)-1]; last.Type != "forced" || !strings.HasPrefix(last.By, "anonymous@") {
		t.Errorf("last history event = %+v, want forced by anonymous@<address>", last)
	}

	// A client configured with credentials (or any Authorization header)
	// still gets in: there is nothing to check them against. History does
	// not record the unchecked user name as the one who forced.
	for _, opt := range []reqOption{as("concourse", "whatever"), header("Authorization", "Bearer x"), header("Authorization", "Basic !!!")} {
		s.do("GET", "/locks", "", opt).expect(t, 200, "list with credentials, auth off")
		s.do("PUT", "/lock/x", `{"key":"k"}`, opt).expect(t, 200, "lock with credentials, auth off")
	}
	s.do("DELETE", "/lock/x?force=true", "", as("mallory", "x")).expect(t, 200, "force with unchecked credentials")
	h = s.history(t, "x")
	if last := h[len(h)-1]; last.Type != "forced" || !strings.HasPrefix(last.By, "anonymous@") {
		t.Errorf("last history event = %+v, want forced by anonymous@<address>, not the unchecked user", last)
	}
}

func authRequired(t *testing.T, s *httpStack, method, path, body string, opts ...reqOption) {
	t.Helper()
	r := s.do(method, path, body, opts...).expect(t, 401, method+" "+path)
	if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Basic ") {
		t.Errorf("%s %s: 401 with WWW-Authenticate %q, want Basic", method, path, wa)
	}
}

func TestAuthOn(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Auth: userCreds})
	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock with the right credentials")

	refusals := map[string]reqOption{
		"no credentials":                      anonymous(),
		"wrong user":                          as("someone", userCreds.Pass),
		"wrong password":                      as(userCreds.User, "guess"),
		"password as user":                    as(userCreds.Pass, userCreds.User),
		"empty password":                      as(userCreds.User, ""),
		"empty user":                          as("", userCreds.Pass),
		"user prefix":                         as(userCreds.User[:3], userCreds.Pass),
		"password prefix":                     as(userCreds.User, userCreds.Pass[:3]),
		"password suffix":                     as(userCreds.User, userCreds.Pass+"x"),
		"Basic !!!":                           header("Authorization", "Basic !!!"),
		"Bearer x":                            header("Authorization", "Bearer x"),
		"Basic without colon":                 header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("concourses3cret"))),
		"Basic empty":                         header("Authorization", "Basic "),
		"Basic only":                          header("Authorization", "Basic"),
		"Basic empty pair":                    header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(":"))),
		"Basic not base64":                    header("Authorization", "Basic Y29uY291cnNlOnMzY3JldA=!"),
		"lowercase scheme, wrong credentials": header("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("a:b"))),
		"Digest":                              header("Authorization", `Digest username="concourse"`),
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/locks", ""},
		{"PUT", "/lock/x", `{"key":"k"}`},
		{"DELETE", "/lock/x", `{"key":"k"}`},
		{"DELETE", "/lock/x?force=true", ``},
		{"GET", "/lock/x", ""},
		{"GET", "/lock/x/history", ""},
		{"POST", "/lock/x/refresh", `{"key":"k","ttl":"1m"}`},
		{"GET", "/events", ""},
	}
	for name, opt := range refusals {
		t.Run(name, func(t *testing.T) {
			for _, rt := range routes {
				authRequired(t, s, rt.method, rt.path, rt.body, opt)
			}
		})
	}
	// None of the refused requests changed anything.
	wantEntry(t, s, "x", "k", map[string]int{"k": 1})
	if h := s.history(t, "x"); len(h) != 1 {
		t.Errorf("history has %d events after refused requests, want 1", len(h))
	}

	// Health checks stay open for load balancers.
	s.do("GET", "/healthz", "", anonymous()).expect(t, 200, "healthz without credentials")
	s.do("GET", "/readyz", "", anonymous()).expect(t, 200, "readyz without credentials")
	s.do("GET", "/healthz", "", as("x", "y")).expect(t, 200, "healthz with wrong credentials")

	// The right credentials work everywhere, also as a hand-written header.
	hdr := header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(userCreds.User+":"+userCreds.Pass)))
	s.do("GET", "/locks", "", hdr).expect(t, 200, "list with a hand-written header")
	s.do("DELETE", "/lock/x", `{"key":"k"}`).expect(t, 200, "unlock")
}

func TestPasswordWithColon(t *testing.T) {
	creds := httpapi.Credentials{User: "u", Pass: "a:b:c"}
	s := newHTTPStack(t, stackOptions{Auth: creds})
	s.do("GET", "/locks", "").expect(t, 200, "password with colons")
	authRequired(t, s, "GET", "/locks", "", as("u", "a:b"))
}

func TestForceNeedsAdminWhenConfigured(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Auth: userCreds, Admin: adminCreds})
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"job-1"}`).expect(t, 200, "lock")

	for _, path := range []string{"/lock/x?force=true", "/lock/x?force=1"} {
		e := s.do("DELETE", path, "").expect(t, 403, "force by the user").errorOf(t)
		if !strings.Contains(e.Error, "admin") {
			t.Errorf("403 error %q does not say who may force", e.Error)
		}
	}
	s.do("DELETE", "/lock/x", `{"force":true}`).expect(t, 403, "force by the user, in the body")
	authRequired(t, s, "DELETE", "/lock/x?force=true", "", as(adminCreds.User, "wrong"))
	authRequired(t, s, "DELETE", "/lock/x?force=true", "", anonymous())
	wantEntry(t, s, "x", "k", map[string]int{"job-1": 1})

	// force=false is an ordinary release, which the user may do.
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"job-1"}`).expect(t, 200, "lock again")
	s.do("DELETE", "/lock/x?force=false", `{"key":"k","locked_by":"job-1"}`).expect(t, 200, "force=false release")
	wantEntry(t, s, "x", "k", map[string]int{"job-1": 1})

	admin := as(adminCreds.User, adminCreds.Pass)
	r := s.do("DELETE", "/lock/x?force=true", "", admin).expect(t, 200, "force by the admin")
	if l := r.lockOf(t); l.Key != "" || len(l.LockedBy) != 0 || !strings.Contains(l.Response, "job-1") {
		t.Fatalf("force answer = %s, want the lock free and job-1 named", r.Body)
	}
	wantEntry(t, s, "x", "", map[string]int{})
	h := s.history(t, "x")
	last := h[len(h)-1]
	if last.Type != "forced" || last.By != adminCreds.User || last.Holder != "job-1" || last.Key != "k" || last.Count != 0 {
		t.Errorf("last history event = %+v, want forced job-1 under k by %q", last, adminCreds.User)
	}

	// The admin may use the rest of the API too.
	s.do("GET", "/locks", "", admin).expect(t, 200, "admin lists")
	s.do("PUT", "/lock/y", `{"key":"k"}`, admin).expect(t, 200, "admin locks")
	// Forcing a free or unknown lock is fine.
	s.do("DELETE", "/lock/x?force=true", "", admin).expect(t, 200, "force a free lock")
	s.do("DELETE", "/lock/unknown?force=true", "", admin).expect(t, 200, "force an unknown lock")
}

func TestForceByUserWithoutAdmin(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Auth: userCreds})
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"a"}`).expect(t, 200, "lock a")
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"b"}`).expect(t, 200, "lock b")
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"b"}`).expect(t, 200, "lock b again")
	s.do("DELETE", "/lock/x", `{"force":true}`).expect(t, 200, "force by the user")
	wantEntry(t, s, "x", "", map[string]int{})
	h := s.history(t, "x")
	forced := map[string]string{}
	for _, ev := range h {
		if ev.Type == "forced" {
			forced[ev.Holder] = ev.By
		}
	}
	if forced["a"] != userCreds.User || forced["b"] != userCreds.User || len(forced) != 2 {
		t.Errorf("forced events = %v, want a and b by %q", forced, userCreds.User)
	}
	// A force with a wrong key in the body still forces: the key does not matter.
	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock again")
	s.do("DELETE", "/lock/x?force=true", `{"key":"not-the-key"}`).expect(t, 200, "force with another key")
	wantEntry(t, s, "x", "", map[string]int{})
}

func TestAdminOnlyWithoutAuth(t *testing.T) {
	// Admin set, no AUTH_USER: the API is open, but only the admin may force.
	s := newHTTPStack(t, stackOptions{Admin: adminCreds})
	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "anonymous lock")
	s.do("DELETE", "/lock/x?force=true", "").expect(t, 403, "anonymous force")
	authRequired(t, s, "DELETE", "/lock/x?force=true", "", as(adminCreds.User, "wrong"))
	s.do("DELETE", "/lock/x?force=true", "", as(adminCreds.User, adminCreds.Pass)).expect(t, 200, "admin force")
	wantEntry(t, s, "x", "", map[string]int{})
}
