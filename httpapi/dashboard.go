package httpapi

// The web dashboard: one page (web/index.html) with its script and style,
// embedded in the binary; GET /whoami, which tells the page who the user is
// and whether they may force a release and forget a lock; and GET /signin, which asks the
// browser for a login that may. The page renders every lock
// client-side from GET /locks (pool members with their metadata) and every
// pool (members, free/total, waiters) from GET /pools, follows GET /events,
// and reads one lock's history from GET /lock/{name}/history: it uses the
// API, nothing else.

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed web/index.html web/app.js web/style.css web/favicon.svg web/signin.html
var webFS embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets are the page's files by URL path. The page itself is "/", the
// answer of a successful sign-in "/signin"; the rest are under /ui/.
var assets = func() map[string]asset {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".svg":  "image/svg+xml",
	}
	m := map[string]asset{}
	for _, name := range []string{"index.html", "app.js", "style.css", "favicon.svg", "signin.html"} {
		b, err := webFS.ReadFile("web/" + name)
		if err != nil {
			panic(err) // cannot happen: the files are embedded above
		}
		sum := sha256.Sum256(b)
		a := asset{body: b, contentType: types[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		switch name {
		case "index.html":
			m["/"] = a
		case "signin.html":
			m["/signin"] = a
		default:
			m["/ui/"+name] = a
		}
	}
	return m
}()

// dashboardCSP allows the page its own script, style, icon and API calls,
// and nothing else: no inline script or style, no other origin, no plugins,
// no framing, no form posts.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handleRoot answers "/" exactly. Browsers get the dashboard; every other
// client gets what it always got, the JSON 404 of an unknown route.
//
// The rule: the page is served to a GET or HEAD whose Accept header names
// text/html itself (not only through text/* or */*) with a quality above the
// one it gives application/json (directly, through application/*, or
// through */*). Browsers send "text/html,...,*/*;q=0.8" and get the page.
// No Accept header, "*/*" (curl, Go, most HTTP libraries), "application/json",
// and a tie such as "text/html, application/json" all get JSON: when in
// doubt, the API wins, so no existing client sees a change.
//
// The JSON answer stays outside authentication, as it was when "/" was only
// the catch-all 404; the page itself is behind the same basic auth as the API.
func (s *Server) handleRoot() http.Handler {
	page := s.authenticate(serveAsset(assets["/"]))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && wantsHTML(r.Header.Values("Accept")) {
			page.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, noRoute(r.Method, r.URL.Path))
	})
}

// handleAsset serves the page's script, style and icon from /ui/.
func (s *Server) handleAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok || !strings.HasPrefix(r.URL.Path, "/ui/") {
			s.writeError(w, r, noRoute(r.Method, r.URL.Path))
			return
		}
		serveAsset(a).ServeHTTP(w, r)
	})
}

// serveAsset serves an embedded file with its type, the page's security
// headers, and an ETag: browsers revalidate each time (no-cache) and get a
// 304 while the binary is the same.
func serveAsset(a asset) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		armWrite(w)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(a.body)))
	})
}

// whoamiResponse tells the dashboard who is using it and what they may do.
type whoamiResponse struct {
	// User is the authenticated user name; "" when no auth is configured.
	User string `json:"user"`
	// MayForce says whether this user may force a release (DELETE
	// /lock/{name}?force=true), by the same rule the release applies.
	MayForce bool `json:"may_force"`
	// MayForget says whether this user may forget a lock (POST
	// /lock/{name}/forget), by the same rule the forget applies.
	MayForget bool `json:"may_forget"`
	// SignIn says that this user may not force a release but another user
	// may: GET /signin asks the browser for that user's login.
	SignIn bool `json:"sign_in"`
}

func (s *Server) handleWhoami() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp whoamiResponse
		if rl, _ := r.Context().Value(roleKey{}).(role); rl != roleAnonymous {
			resp.User, _, _ = r.BasicAuth()
		}
		resp.MayForce = s.mayForce(r) == nil
		resp.MayForget = s.mayForget(r) == nil
		resp.SignIn = !resp.MayForce && (s.cfg.Admin.Set() || s.cfg.Auth.Set())
		writeJSON(w, http.StatusOK, resp)
	})
}

// handleSignIn is where the dashboard's "Sign in" link leads. A browser
// sends basic-auth credentials only once a server has asked for them (a
// 401 with WWW-Authenticate), also when the page's address carries them
// (http://user:pass@host/). With only LOCKER_ADMIN_USER set, no route asks:
// reads are open, so the admin's browser would never send the admin's login
// and the page could never offer to force. This route asks, answering 401
// until the credentials sent may force a release (the admin's, or any user
// who may change locks when no admin is configured); then it answers a page
// that takes the browser back to the dashboard, which now sends that login
// with its requests. Wrong credentials are refused and counted by
// authenticate, as on every route.
//
// It is a GET that changes nothing on the server, and it goes back to the
// dashboard only ("./", next to /signin, so also behind a proxy's path
// prefix): it takes no address to go to, so it cannot send anyone
// elsewhere. It must stay at the top level: a browser sends a login it was
// asked for preemptively only to paths under the one that asked (RFC 7617
// section 2.2), and the dashboard's are all at the top.
func (s *Server) handleSignIn() http.Handler {
	page := serveAsset(assets["/signin"])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.mayForce(r); err != nil {
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("X-Frame-Options", "DENY")
			s.unauthorized(w, r, "sign in with the login of a user who may force a release: "+err.Error())
			return
		}
		page.ServeHTTP(w, r)
	})
}

// wantsHTML applies handleRoot's rule to a request's Accept header values.
func wantsHTML(accept []string) bool {
	html, explicit := 0.0, false
	// Quality of application/json by the most specific range matching it.
	jsonQ, jsonSpec := 0.0, -1
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, q := parseMediaRange(part)
			if mt == "text/html" {
				explicit = true
				html = max(html, q)
			}
			spec := -1
			switch mt {
			case "application/json":
				spec = 2
			case "application/*":
				spec = 1
			case "*/*":
				spec = 0
			}
			if spec > jsonSpec || (spec == jsonSpec && spec >= 0 && q > jsonQ) {
				jsonQ, jsonSpec = q, spec
			}
		}
	}
	return explicit && html > 0 && html > jsonQ
}

// parseMediaRange returns one Accept element's media range, lower case, and
// its quality (1 when absent, 0 when malformed).
func parseMediaRange(s string) (string, float64) {
	params := strings.Split(s, ";")
	mt := strings.ToLower(strings.TrimSpace(params[0]))
	q := 1.0
	for _, p := range params[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || strings.ToLower(strings.TrimSpace(k)) != "q" {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			f = 0
		}
		q = f
	}
	return mt, q
}
