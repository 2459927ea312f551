package httpapi_test

// The web dashboard's server side: GET / for browsers (and the unchanged
// JSON 404 for everyone else), the embedded assets, auth, and GET /whoami.
// The page itself runs in a browser: e2e/dashboard_test.go drives it in
// Chromium, including how it renders hostile names.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
)

const (
	chromeAccept  = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	firefoxAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

// dashGet sends a request without do's JSON checks (the page is HTML).
func (s *httpStack) dashGet(t *testing.T, method, path string, opts ...reqOption) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.creds != nil {
		req.SetBasicAuth(s.creds.User, s.creds.Pass)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := s.Srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// checkPageHeaders checks what every dashboard file is served with.
func checkPageHeaders(t *testing.T, what string, r reply, contentType string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %.200s", what, r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("%s: Content-Type %q, want %q", what, ct, contentType)
	}
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("%s: Content-Security-Policy %q allows more than the page itself", what, csp)
	}
	if v := r.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, v)
	}
}

func TestDashboardPageOrJSONByAccept(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	tests := []struct {
		accept []string // header values; none means no Accept header
		html   bool
	}{
		{[]string{chromeAccept}, true},
		{[]string{firefoxAccept}, true},
		{[]string{"text/html"}, true},
		{[]string{"TEXT/HTML"}, true},
		{[]string{"application/json;q=0.5, text/html"}, true},
		{[]string{"application/json;q=0.5", "text/html"}, true}, // two header lines
		{nil, false},             // Go, many libraries
		{[]string{"*/*"}, false}, // curl
		{[]string{"application/json"}, false},
		{[]string{"application/json, text/html"}, false}, // a tie: the API wins
		{[]string{"text/html, application/json"}, false},
		{[]string{"text/html;q=0.5, application/json"}, false},
		{[]string{"text/html;q=0.8, */*"}, false},
		{[]string{"text/*"}, false},
		{[]string{"text/html;q=0"}, false},
		{[]string{"text/html;q=nonsense"}, false},
		{[]string{"text/plain"}, false},
	}
	for _, tc := range tests {
		opts := []reqOption{func(r *http.Request) {
			r.Header.Del("Accept")
			for _, v := range tc.accept {
				r.Header.Add("Accept", v)
			}
		}}
		what := "GET / with Accept " + strings.Join(tc.accept, " | ")
		if tc.html {
			r := s.dashGet(t, "GET", "/", opts...)
			checkPageHeaders(t, what, r, "text/html; charset=utf-8")
			if !strings.Contains(string(r.Body), "<title>Locker</title>") {
				t.Errorf("%s: not the dashboard: %.200s", what, r.Body)
			}
		} else {
			// What "/" answered before the dashboard existed.
			r := s.do("GET", "/", "", opts...).expect(t, 404, what)
			if e := r.errorOf(t); e.Error != "no such route: GET /" {
				t.Errorf("%s: error %q, want the unchanged 404", what, e.Error)
			}
		}
		if !strings.Contains(strings.Join(s.dashGet(t, "GET", "/", opts...).Header.Values("Vary"), ","), "Accept") {
			t.Errorf("%s: no Vary: Accept, so a cache could mix up the page and the JSON", what)
		}
	}

	// Other methods on "/" are unchanged too, browser or not.
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		r := s.do(m, "/", "", header("Accept", chromeAccept)).expect(t, 404, m+" / from a browser")
		if e := r.errorOf(t); e.Error != "no such route: "+m+" /" {
			t.Errorf("%s /: error %q", m, e.Error)
		}
	}
	// HEAD gets the page's headers and no body.
	r := s.dashGet(t, "HEAD", "/", header("Accept", chromeAccept))
	checkPageHeaders(t, "HEAD /", r, "text/html; charset=utf-8")
	if len(r.Body) != 0 {
		t.Errorf("HEAD / has a body of %d bytes", len(r.Body))
	}
}

// The page is static: lock data reaches it only as JSON, which the page's
// script renders as text (see e2e/dashboard_test.go). No name, key or
// holder can change the HTML the server sends.
func TestDashboardPageHasNoServerSideData(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	before := s.dashGet(t, "GET", "/", header("Accept", chromeAccept)).Body
	s.do("PUT", "/lock/"+url.PathEscape("<script>alert(1)</script>"), jsonBody(map[string]string{"key": `"><svg onload=alert(3)>`, "lock_by": "<img src=x onerror=alert(2)>"})).expect(t, 200, "hostile lock")
	after := s.dashGet(t, "GET", "/", header("Accept", chromeAccept)).Body
	if string(before) != string(after) {
		t.Error("the page's HTML changed when a lock was taken")
	}
	for _, bad := range []string{"alert(", "onerror", "onload"} {
		if strings.Contains(string(after), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	// The JSON the page reads escapes markup characters.
	list := string(s.do("GET", "/locks", "").expect(t, 200, "list").Body)
	if strings.ContainsAny(list, "<>") {
		t.Errorf("GET /locks has raw < or >: %s", list)
	}
}

func TestDashboardAssets(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	page := string(s.dashGet(t, "GET", "/", header("Accept", chromeAccept)).Body)

	// Everything the page loads is its own, embedded, with the right type.
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	seen := map[string]bool{}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "//") || !strings.HasPrefix(ref, "ui/") {
			t.Errorf("the page loads %q: only its own files under ui/ are allowed", ref)
			continue
		}
		ext := ref[strings.LastIndex(ref, "."):]
		r := s.dashGet(t, "GET", "/"+ref)
		checkPageHeaders(t, "GET /"+ref, r, types[ext])
		// 72 KiB: app.js grew past 64 KiB with the check of a stream
		// that hangs (ping events); a bound, so that it does not grow
		// unnoticed.
		if len(r.Body) == 0 || len(r.Body) > 72<<10 {
			t.Errorf("GET /%s: %d bytes, want a small file", ref, len(r.Body))
		}
		seen[ext] = true

		// Browsers revalidate and get a 304 while the binary is the same.
		etag := r.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET /%s: no ETag", ref)
			continue
		}
		if r := s.dashGet(t, "GET", "/"+ref, header("If-None-Match", etag)); r.Status != http.StatusNotModified {
			t.Errorf("GET /%s with If-None-Match: %d, want 304", ref, r.Status)
		}
	}
	for _, ext := range []string{".js", ".css", ".svg"} {
		if !seen[ext] {
			t.Errorf("the page does not load a %s file: %v", ext, refs)
		}
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || strings.Contains(page, "style=") || strings.Contains(page, "<style") {
		t.Error("the page has inline script or style, which its Content-Security-Policy forbids")
	}

	// The script never puts data into the page as HTML.
	script := string(s.dashGet(t, "GET", "/ui/app.js").Body)
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(script, sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}

	// Unknown files are JSON 404s, like every unknown route.
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/index.html", "/ui/web/app.js", "/ui/app.js/x"} {
		r := s.do("GET", path, "").expect(t, 404, "GET "+path)
		if e := r.errorOf(t); !strings.Contains(e.Error, path) {
			t.Errorf("GET %s: error %q does not name the path", path, e.Error)
		}
	}
	s.do("POST", "/ui/app.js", "").expect(t, 405, "POST an asset")
}

func TestDashboardBehindAuth(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Auth: userCreds, Admin: adminCreds})
	for _, path := range []string{"/", "/ui/app.js", "/ui/style.css", "/whoami"} {
		// A browser without credentials is asked for them.
		authRequired(t, s, "GET", path, "", anonymous(), header("Accept", chromeAccept))
		authRequired(t, s, "GET", path, "", as("concourse", "wrong"), header("Accept", chromeAccept))
		for _, c := range []httpapi.Credentials{userCreds, adminCreds} {
			if r := s.dashGet(t, "GET", path, as(c.User, c.Pass), header("Accept", chromeAccept)); r.Status != 200 {
				t.Errorf("GET %s as %s: %d", path, c.User, r.Status)
			}
		}
	}
	// API clients asking "/" for JSON get the 404 they always got: "/" was
	// the unauthenticated catch-all, as every unknown route still is.
	s.do("GET", "/", "", anonymous()).expect(t, 404, "GET / as JSON without credentials")
	s.do("GET", "/", "", anonymous(), header("Accept", "application/json")).expect(t, 404, "GET / as JSON without credentials")
}

func TestDashboardWhoami(t *testing.T) {
	type who struct {
		User      string `json:"user"`
		MayForce  bool   `json:"may_force"`
		MayForget bool   `json:"may_forget"`
		SignIn    bool   `json:"sign_in"`
	}
	tests := []struct {
		name        string
		auth, admin httpapi.Credentials
		as          *httpapi.Credentials // nil: no credentials
		want        who
	}{
		{"no auth configured", httpapi.Credentials{}, httpapi.Credentials{}, nil, who{"", true, true, false}},
		{"auth, no admin: the user may force and forget", userCreds, httpapi.Credentials{}, &userCreds, who{"concourse", true, true, false}},
		{"auth and admin: the user may not, the admin may", userCreds, adminCreds, &userCreds, who{"concourse", false, false, true}},
		{"auth and admin: the admin may", userCreds, adminCreds, &adminCreds, who{"ops", true, true, false}},
		{"admin only: anonymous may not, the admin may", httpapi.Credentials{}, adminCreds, nil, who{"", false, false, true}},
		{"admin only: the admin may", httpapi.Credentials{}, adminCreds, &adminCreds, who{"ops", true, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newHTTPStack(t, stackOptions{Auth: tc.auth, Admin: tc.admin})
			opt := anonymous()
			if tc.as != nil {
				opt = as(tc.as.User, tc.as.Pass)
			}
			r := s.do("GET", "/whoami", "", opt).expect(t, 200, "whoami")
			var got who
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatalf("whoami: %v: %s", err, r.Body)
			}
			if got != tc.want {
				t.Errorf("whoami = %+v, want %+v", got, tc.want)
			}
			// may_force says what a force release would do.
			s.do("PUT", "/lock/x", `{"key":"k"}`, opt).expect(t, 200, "lock")
			status := s.do("DELETE", "/lock/x?force=true", "", opt).Status
			if (status == 200) != got.MayForce {
				t.Errorf("may_force is %v but a force release answers %d", got.MayForce, status)
			}
			// may_forget says what a forget would do: 403 where it may not;
			// a free lock in no pool is forgotten where it may.
			s.do("PUT", "/lock/y", `{"key":"k"}`, opt).expect(t, 200, "lock")
			s.do("DELETE", "/lock/y", `{"key":"k"}`, opt).expect(t, 200, "unlock")
			status = s.do("POST", "/lock/y/forget", "", opt).Status
			if want := map[bool]int{true: 200, false: 403}[got.MayForget]; status != want {
				t.Errorf("may_forget is %v but a forget answers %d", got.MayForget, status)
			}
		})
	}
}

// TestDashboardSignIn: GET /signin, where the dashboard's "Sign in" link
// leads. A browser sends a login only once a 401 asked for it; with only
// LOCKER_ADMIN_USER set nothing else asks, so the admin could never force
// from the page. /signin asks (401 with WWW-Authenticate) until the login
// sent may force, then answers a page that goes back to the dashboard, and
// nowhere else.
func TestDashboardSignIn(t *testing.T) {
	none := httpapi.Credentials{}
	tests := []struct {
		name        string
		auth, admin httpapi.Credentials
		asked       []*httpapi.Credentials // answered 401 (nil: no credentials)
		signedIn    []*httpapi.Credentials // answered the page
	}{
		{"admin only", none, adminCreds, []*httpapi.Credentials{nil}, []*httpapi.Credentials{&adminCreds}},
		{"auth and admin", userCreds, adminCreds, []*httpapi.Credentials{nil, &userCreds}, []*httpapi.Credentials{&adminCreds}},
		{"auth, no admin", userCreds, none, []*httpapi.Credentials{nil}, []*httpapi.Credentials{&userCreds}},
		{"no auth configured", none, none, nil, []*httpapi.Credentials{nil}},
	}
	login := func(c *httpapi.Credentials) reqOption {
		if c == nil {
			return anonymous()
		}
		return as(c.User, c.Pass)
	}
	name := func(c *httpapi.Credentials) string {
		if c == nil {
			return "nobody"
		}
		return c.User
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newHTTPStack(t, stackOptions{Auth: tc.auth, Admin: tc.admin})
			for _, c := range tc.asked {
				what := "GET /signin as " + name(c)
				authRequired(t, s, "GET", "/signin", "", login(c), header("Accept", chromeAccept))
				if c == nil && tc.auth.Set() {
					continue // refused by authentication itself, as everywhere
				}
				r := s.dashGet(t, "GET", "/signin", login(c), header("Accept", chromeAccept))
				if r.Header.Get("Location") != "" || r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s: Location %q, Cache-Control %q; want none and no-store", what, r.Header.Get("Location"), r.Header.Get("Cache-Control"))
				}
				if !strings.Contains(string(r.Body), "may force a release") {
					t.Errorf("%s: the 401 says %s, not what login it wants", what, r.Body)
				}
			}
			// A wrong login is refused too.
			if tc.auth.Set() || tc.admin.Set() {
				authRequired(t, s, "GET", "/signin", "", as("ops", "guess"))
			}
			for _, c := range tc.signedIn {
				// The page goes back to the dashboard, next to /signin,
				// whatever the query asks: no open redirect.
				for _, q := range []string{"", "?next=https://evil.example/", "?url=//evil.example"} {
					what := "GET /signin" + q + " as " + name(c)
					r := s.dashGet(t, "GET", "/signin"+q, login(c), header("Accept", chromeAccept))
					checkPageHeaders(t, what, r, "text/html; charset=utf-8")
					body := string(r.Body)
					if !strings.Contains(body, `<meta http-equiv="refresh" content="0; url=./">`) || !strings.Contains(body, `<a href="./">`) {
						t.Errorf("%s: the page does not lead back to the dashboard: %s", what, body)
					}
					if strings.Contains(body, "evil") || strings.Contains(body, "//") || r.Header.Get("Location") != "" {
						t.Errorf("%s: the page leads elsewhere: Location %q, %s", what, r.Header.Get("Location"), body)
					}
					if r.Header.Get("X-Frame-Options") != "DENY" {
						t.Errorf("%s: X-Frame-Options %q, want DENY", what, r.Header.Get("X-Frame-Options"))
					}
				}
			}
			// Only GET (and HEAD).
			s.do("POST", "/signin", "", login(tc.signedIn[0])).expect(t, 405, "POST /signin")
		})
	}
}

// TestDashboardSignInIsNoFailedLogin: a browser signed in as a user who may
// not force, asked for another login by /signin, sends its valid login
// first. That is no guess: it must not use up the failed-login allowance,
// so that the admin can still sign in from the same address.
func TestDashboardSignInIsNoFailedLogin(t *testing.T) {
	s, _ := newHardenedStack(t, httpapi.Config{Auth: userCreds, Admin: adminCreds, AuthLimit: httpapi.AuthLimit{PerMinute: 2}})
	for i := range 10 {
		s.do("GET", "/signin", "", as(userCreds.User, userCreds.Pass)).expect(t, 401, fmt.Sprintf("GET /signin as the user, %d", i+1))
	}
	if r := s.dashGet(t, "GET", "/signin", as(adminCreds.User, adminCreds.Pass)); r.Status != 200 {
		t.Errorf("GET /signin as the admin after the user's tries: %d %s, want 200", r.Status, r.Body)
	}
}
