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
// browser has none for evil.example (LOCKER_ADMIN_USER alone guards only
// force). A server that does not takes a change from a browser only
// when it is reached at an address, at localhost, or at a name the
// operator listed (LOCKER_ALLOWED_HOSTS), which no other site can make its
// own. Clients that are not browsers (curl, the CLI, the resource) send no
// Origin and are never refused; nor are reads.

// checkHost refuses a change sent by a browser page to a server without
// credentials under a name it was not told about.
func (s *Server) checkHost(r *http.Request) error {
	switch {
	case s.cfg.Auth.Set():
		return nil
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
