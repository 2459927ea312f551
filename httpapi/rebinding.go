package httpapi

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/cloudfoundry-community/locker/lock"
)

// DNS rebinding: a page of evil.example can have its own name resolve to a
// Locker server on the user's network, and its scripts then talk to the
// server as a page of the same origin, which the cross-origin check lets
// through. A server that asks for credentials (AUTH_USER) is safe: the
// browser has none for evil.example. So is a change that carries
// credentials to a server with an account (LOCKER_ADMIN_USER alone, which
// guards only force and forget): authenticate checks them, a wrong or
// malformed Authorization header is a 401, and only right ones get
// through; without that, the admin signed in to the dashboard at the
// server's name could force nothing. A change without credentials to a
// server that takes such changes is taken from a browser only when it is
// reached at an address, at localhost, or at a name the operator listed
// (LOCKER_ALLOWED_HOSTS), which no other site can make its own. Clients
// that are not browsers (curl, the CLI, the resource) send no Origin and
// are never refused; nor are reads.

// checkHost refuses a change sent by a browser page without credentials
// to a server that asks for none, under a name it was not told about.
// Every route that changes anything is behind authenticate.
func (s *Server) checkHost(r *http.Request) error {
	switch {
	case s.cfg.Auth.Set():
		return nil
	case len(s.guard.accounts) > 0 && r.Header.Get("Authorization") != "":
		return nil // checked by authenticate: wrong ones are a 401
	case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions:
		return nil
	case r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") == "":
		return nil // not a browser page
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		slices.ContainsFunc(s.cfg.AllowedHosts, func(a string) bool {
			return a == "*" || a == host || strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:])
		}) {
		return nil
	}
	return lock.Errorf(lock.EFORBIDDEN, "this server has no credentials, and this page reached it as %q: a change from a browser is taken only at the server's address, at localhost, or at a name LOCKER_ALLOWED_HOSTS lists (else any web site could make its own name lead here, DNS rebinding). Set LOCKER_ALLOWED_HOSTS=%s on the server, or AUTH_USER and AUTH_PASS", host, host)
}
