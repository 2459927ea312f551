package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// host sends the request with this Host header.
func host(h string) reqOption { return func(r *http.Request) { r.Host = h } }

// TestRebindingPagesCannotChangeLocks: a server without credentials takes
// changes from browser pages only at an address, at localhost, or at a
// listed name, so that a page of another site whose name it made resolve
// to the server (DNS rebinding: same origin, as far as the browser knows)
// cannot take or release locks. Reads, and clients that are not browsers,
// are never refused.
func TestRebindingPagesCannotChangeLocks(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	page := func(h string) []reqOption {
		return []reqOption{host(h), header("Origin", "http://"+h), header("Sec-Fetch-Site", "same-origin")}
	}
	e := s.do("PUT", "/lock/prod", `{"key":"evil"}`, page("evil.example:3000")...).expect(t, 403, "a change from a page reached by a name").errorOf(t)
	if !strings.Contains(e.Error, `reached it as "evil.example"`) || !strings.Contains(e.Error, "LOCKER_ALLOWED_HOSTS=evil.example") {
		t.Errorf("error %q", e.Error)
	}
	for _, opts := range [][]reqOption{
		{host("evil.example:3000"), header("Origin", "http://evil.example:3000")}, // no Sec-Fetch-Site: an older browser
		{host("evil.example:3000"), header("Sec-Fetch-Site", "same-origin")},
		{host("EVIL.example.:3000"), header("Origin", "http://evil.example.:3000")},
	} {
		s.do("DELETE", "/lock/prod?force=true", "", opts...).expect(t, 403, "a force from a page reached by a name")
	}
	s.do("GET", "/lock/prod", "").expect(t, 404, "the lock the refused requests asked for")
	// Where no other site can be: an address, localhost.
	for _, h := range []string{"127.0.0.1:3000", "[::1]:3000", "10.1.2.3", "localhost:3000", "locker.localhost"} {
		s.do("PUT", "/lock/prod", `{"key":"ok"}`, page(h)...).expect(t, 200, "a change from a page at "+h)
	}
	// Reads, and clients that send no Origin (curl, the CLI, the
	// resource), whatever the name.
	s.do("GET", "/locks", "", page("evil.example")...).expect(t, 200, "a read from a page reached by a name")
	s.do("PUT", "/lock/prod", `{"key":"ok"}`, host("locker.example.com")).expect(t, 200, "curl at a name")

	// A listed name, or any.
	listed := newHTTPStack(t, stackOptions{AllowedHosts: []string{"locker.example.com", "*.ops.example"}})
	listed.do("PUT", "/lock/prod", `{"key":"k"}`, page("locker.example.com:3000")...).expect(t, 200, "a page at a listed name")
	listed.do("PUT", "/lock/prod", `{"key":"k"}`, page("locker.eu.ops.example")...).expect(t, 200, "a page at a name under a listed *.domain")
	listed.do("PUT", "/lock/prod", `{"key":"k"}`, page("evilops.example")...).expect(t, 403, "a page at a name that only ends like a listed *.domain")
	listed.do("PUT", "/lock/prod", `{"key":"k"}`, page("evil.example:3000")...).expect(t, 403, "a page at a name not listed")
	any := newHTTPStack(t, stackOptions{AllowedHosts: []string{"*"}})
	any.do("PUT", "/lock/prod", `{"key":"k"}`, page("evil.example:3000")...).expect(t, 200, "any name")

	// With credentials the browser has none for the other site's name.
	authed := newHTTPStack(t, stackOptions{Auth: userCreds})
	authed.do("PUT", "/lock/prod", `{"key":"k"}`, page("locker.example.com")...).expect(t, 200, "a page of a server with credentials")
	authed.do("PUT", "/lock/prod", `{"key":"k"}`, append(page("locker.example.com"), anonymous())...).expect(t, 401, "without them")
}

// TestRebindingAdminSignedIn: with only LOCKER_ADMIN_USER set, changes
// need no credentials, so a browser page at an unlisted name is refused
// as on an open server; but a change that carries credentials is checked
// as on a server with AUTH_USER, and the other site's page has none. The
// admin, signed in to the dashboard at the server's name, forced and
// forgot nothing: 403 "this server has no credentials". A header is not
// enough: wrong credentials are a 401, and a server with no account at
// all, which ignores the header, still refuses.
func TestRebindingAdminSignedIn(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Admin: adminCreds})
	page := func(h string) []reqOption {
		return []reqOption{host(h), header("Origin", "http://"+h)}
	}
	at := page("locker.example.com:3000")
	s.do("PUT", "/lock/prod", `{"key":"k"}`).expect(t, 200, "lock, without a browser")
	s.do("PUT", "/lock/prod", `{"key":"evil"}`, at...).expect(t, 403, "a change from a page at an unlisted name, without credentials")
	wantEntry(t, s, "prod", "k", map[string]int{"k": 1})
	s.do("DELETE", "/lock/prod?force=true", "", append(at, as(adminCreds.User, adminCreds.Pass))...).expect(t, 200, "the admin forces from the dashboard at the server's name")
	s.do("POST", "/lock/prod/forget", "", append(at, as(adminCreds.User, adminCreds.Pass))...).expect(t, 200, "the admin forgets from the dashboard at the server's name")
	s.do("GET", "/lock/prod", "").expect(t, 404, "the forgotten lock")

	s.do("PUT", "/lock/prod", `{"key":"k"}`).expect(t, 200, "lock again, without a browser")
	s.do("DELETE", "/lock/prod?force=true", "", append(at, as(adminCreds.User, "guess"))...).expect(t, 401, "a force with the wrong admin password")
	s.do("DELETE", "/lock/prod?force=true", "", append(at, header("Authorization", "Bearer x"))...).expect(t, 401, "a force with a header that is not basic auth")
	s.do("PUT", "/lock/other", `{"key":"evil"}`, append(at, as("anyone", "anything"))...).expect(t, 401, "a change with credentials of no account")
	wantEntry(t, s, "prod", "k", map[string]int{"k": 1})
	s.do("GET", "/lock/other", "").expect(t, 404, "the lock the refused request asked for")

	open := newHTTPStack(t, stackOptions{})
	open.do("PUT", "/lock/prod", `{"key":"evil"}`, append(page("evil.example:3000"), as("anyone", "anything"))...).expect(t, 403, "a page at an unlisted name with a header a server without accounts ignores")
	open.do("GET", "/lock/prod", "").expect(t, 404, "the lock the refused request asked for")
}
