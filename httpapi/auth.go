package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"

	"github.com/cloudfoundry-community/locker/lock"
)

// role is what a request's credentials allow.
type role int

const (
	roleAnonymous role = iota // no auth configured and none sent
	roleUser                  // the AUTH_USER credentials
	roleAdmin                 // the admin credentials
)

type roleKey struct{}

// authenticate checks basic auth. With Auth set, every request needs valid
// credentials; without it, requests may come without any. Credentials that
// are sent must be right either way, unless no account is configured at all:
// then the API is open and an Authorization header (a client configured with
// credentials for a server without any) is ignored. Every check compares
// both the user and the password of every configured account in constant
// time, so a failure takes as long whichever part was wrong.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl := roleAnonymous
		user, pass, sent := r.BasicAuth()
		switch {
		case !s.cfg.Auth.Set() && !s.cfg.Admin.Set():
			// Auth is off: everything is open.
		case sent:
			var ok bool
			if rl, ok = s.check(user, pass); !ok {
				s.unauthorized(w, r, "wrong user name or password")
				return
			}
		case r.Header.Get("Authorization") != "":
			s.unauthorized(w, r, "malformed Authorization header: use HTTP basic auth")
			return
		case s.cfg.Auth.Set():
			s.unauthorized(w, r, "authentication required: use HTTP basic auth")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), roleKey{}, rl)))
	})
}

func (s *Server) check(user, pass string) (role, bool) {
	isUser := s.cfg.Auth.Set() && match(s.cfg.Auth, user, pass)
	isAdmin := s.cfg.Admin.Set() && match(s.cfg.Admin, user, pass)
	switch {
	case isAdmin:
		return roleAdmin, true
	case isUser:
		return roleUser, true
	}
	return roleAnonymous, false
}

func match(c Credentials, user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(c.User))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(c.Pass))
	return u&p == 1
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="locker", charset="UTF-8"`)
	s.writeError(w, r, lock.Errorf(lock.EUNAUTHORIZED, "%s", msg))
}

// mayForce reports whether the request may force a release: only the admin
// when one is configured, otherwise whoever may use the API.
func (s *Server) mayForce(r *http.Request) error {
	rl, _ := r.Context().Value(roleKey{}).(role)
	if s.cfg.Admin.Set() && rl != roleAdmin {
		return lock.Errorf(lock.EFORBIDDEN, "only the admin user (LOCKER_ADMIN_USER) may force a release")
	}
	return nil
}

// actor names who made a request, for logs and history: the authenticated
// user, never a name nobody checked.
func actor(r *http.Request) string {
	if rl, _ := r.Context().Value(roleKey{}).(role); rl != roleAnonymous {
		if user, _, ok := r.BasicAuth(); ok {
			return user
		}
	}
	return "anonymous@" + r.RemoteAddr
}
