package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// pageCall sends a request as a browser page at pageHost would (Host and
// Origin its own), with the basic-auth login user:pass when user is set
// or the Authorization header auth when that is: its status and body.
func pageCall(t *testing.T, s *server, pageHost, method, path, user, pass, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = pageHost
	req.Header.Set("Origin", "http://"+pageHost)
	switch {
	case user != "":
		req.SetBasicAuth(user, pass)
	case auth != "":
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAuthzAdminSignedInAtAName: a server with only LOCKER_ADMIN_USER
// (changes open, force and forget the admin's) reached by the dashboard
// at its DNS name. Changes without credentials from a page at that name
// are refused (DNS rebinding: another site's page could be there), but
// the admin, signed in, may force and forget: the other site's page has
// no credentials, and wrong ones are a 401. A server without accounts,
// which ignores credentials, refuses the page whatever it sends.
func TestAuthzAdminSignedInAtAName(t *testing.T) {
	s := startServer(t, []string{"LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=root"})
	const name = "locker.example.com:3000"
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/prod", "", "", `{"key":"k"}`); st != 200 {
		t.Fatalf("lock: %d %s", st, b)
	}
	for _, c := range []struct {
		what, method, path, user, pass, auth, body string
		want                                       int
	}{
		{"a change without credentials", "PUT", "/lock/prod", "", "", "", `{"key":"evil"}`, 403},
		{"a force with the wrong password", "DELETE", "/lock/prod?force=true", "ops", "guess", "", "", 401},
		{"a force with a header that is not basic auth", "DELETE", "/lock/prod?force=true", "", "", "Bearer x", "", 401},
		{"a change as no account", "PUT", "/lock/prod", "mallory", "x", "", `{"key":"evil"}`, 401},
	} {
		if st, b := pageCall(t, s, name, c.method, c.path, c.user, c.pass, c.auth, c.body); st != c.want {
			t.Errorf("%s: %d %s, want %d", c.what, st, b, c.want)
		}
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/lock/prod", "", "", ""); st != 200 || !strings.Contains(b, `"locked_by":{"k":1}`) {
		t.Fatalf("after the refused requests: %d %s", st, b)
	}
	if st, b := pageCall(t, s, name, "DELETE", "/lock/prod?force=true", "ops", "root", "", ""); st != 200 || !strings.Contains(b, "force-released") {
		t.Fatalf("the admin forces from the dashboard at %s: %d %s", name, st, b)
	}
	if st, b := pageCall(t, s, name, "POST", "/lock/prod/forget", "ops", "root", "", ""); st != 200 {
		t.Fatalf("the admin forgets from the dashboard at %s: %d %s", name, st, b)
	}

	open := startServer(t, nil)
	if st, b := pageCall(t, open, "evil.example:3000", "PUT", "/lock/prod", "anyone", "anything", "", `{"key":"evil"}`); st != 403 || !strings.Contains(b, "LOCKER_ALLOWED_HOSTS") {
		t.Errorf("open server, page at an unlisted name with credentials it ignores: %d %s, want 403", st, b)
	}
	if st, _, b := hcall(t, nil, "GET", open.URL+"/lock/prod", "", "", ""); st != 404 {
		t.Errorf("open server, the lock the refused request asked for: %d %s", st, b)
	}
}
