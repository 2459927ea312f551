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
