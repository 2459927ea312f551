package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// role is what a request's credentials allow.
type role int

const (
	roleAnonymous role = iota // no auth configured and none sent
	roleReadOnly              // the read-only credentials: may look, not change
	roleUser                  // the AUTH_USER credentials
	roleAdmin                 // the admin credentials
)

type roleKey struct{}

// account is one configured user, as digests: every check compares
// fixed-length digests, so not even the lengths of the secrets show in the
// time a check takes.
type account struct {
	role       role
	user, pass [sha256.Size]byte
}

// guard holds what authentication needs: the accounts, the limit on failed
// logins, and the comparison (a seam that tests count calls through).
type guard struct {
	accounts []account
	limiter  *failureLimiter // nil: no limit
	compare  func(x, y []byte) int
}

func newGuard(cfg Config) *guard {
	g := &guard{limiter: newFailureLimiter(cfg.AuthLimit), compare: subtle.ConstantTimeCompare}
	for _, a := range []struct {
		c Credentials
		r role
	}{{cfg.Auth, roleUser}, {cfg.Admin, roleAdmin}, {cfg.ReadOnly, roleReadOnly}} {
		if a.c.Set() {
			g.accounts = append(g.accounts, account{role: a.r, user: sha256.Sum256([]byte(a.c.User)), pass: sha256.Sum256([]byte(a.c.Pass))})
		}
	}
	return g
}

// authenticate checks basic auth. With Auth set, every request needs valid
// credentials; without it, requests may come without any. Credentials that
// are sent must be right either way, unless no account is configured at all:
// then the API is open and an Authorization header (a client configured with
// credentials for a server without any) is ignored. Every check compares
// both the user and the password of every configured account in constant
// time, so a failure takes as long whichever part was wrong.
//
// Wrong credentials count against the client's address, unless it sent the
// same wrong ones lately (a stale password retried guesses nothing); once it
// has used up its allowance (AuthLimit), it is answered 429 with
// Retry-After, before its credentials are looked at, until the allowance
// comes back. Requests without
// credentials are not counted: they guess nothing. Read-only credentials may
// only read: any other method is a 403.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl := roleAnonymous
		user, pass, sent := r.BasicAuth()
		switch {
		case len(s.guard.accounts) == 0:
			// Auth is off: everything is open.
		case sent:
			at, refused := s.admit(w, r)
			if refused {
				return
			}
			var ok bool
			if rl, ok = s.checkAdmitted(r, at, user, pass); !ok {
				s.unauthorized(w, r, "wrong user name or password")
				return
			}
		case r.Header.Get("Authorization") != "":
			at, refused := s.admit(w, r)
			if refused {
				return
			}
			s.failed(r, at, "\x00malformed", r.Header.Get("Authorization"))
			s.unauthorized(w, r, "malformed Authorization header: use HTTP basic auth")
			return
		case s.cfg.Auth.Set() || s.cfg.ReadOnly.Set():
			s.unauthorized(w, r, "authentication required: use HTTP basic auth")
			return
		}
		if rl == roleReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.writeError(w, r, lock.Errorf(lock.EFORBIDDEN, "%q has read-only access: it may list and watch locks and pools, not change them (lock, unlock, refresh, force, forget or pool changes)", user))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), roleKey{}, rl)))
	})
}

// check returns the role of the credentials, comparing them with every
// account, user and password both, whatever matches or not.
func (s *Server) check(user, pass string) (role, bool) {
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	rl := roleAnonymous
	for _, a := range s.guard.accounts {
		// & evaluates both sides: no short cut when the user is wrong.
		if s.guard.compare(u[:], a.user[:])&s.guard.compare(p[:], a.pass[:]) == 1 && a.role > rl {
			rl = a.role
		}
	}
	return rl, rl != roleAnonymous
}

// checkAdmitted is check for a login the limit admitted (at), which it
// ends whatever happens, a panic included: a token held for ever would
// have the address's next logins wait for ever.
func (s *Server) checkAdmitted(r *http.Request, at attempt, user, pass string) (rl role, ok bool) {
	ended := false
	defer func() {
		if !ended && at.b != nil {
			s.guard.limiter.succeeded(at.b)
		}
	}()
	rl, ok = s.check(user, pass)
	ended = true
	switch {
	case !ok:
		s.failed(r, at, user, pass)
	case at.b != nil:
		s.guard.limiter.succeeded(at.b)
	}
	return rl, ok
}

// attempt is a login admitted by the limit on failed logins: the client's
// key, and the bucket it holds a token of while it is checked (nil: no
// limit).
type attempt struct {
	key string
	b   *bucket
}

// admit lets a login be checked, or answers 429 when the client has failed
// to log in too often lately (refused), and logs it: an address's first
// refusal at once, then at most once a minute for it, with the refusals
// since. A login let in holds a token of its address until failed, or the
// limiter's succeeded, ends it (checkAdmitted does either).
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (at attempt, refused bool) {
	if s.guard.limiter == nil {
		return attempt{}, false
	}
	key := s.guard.limiter.clientKey(r)
	b, wait, unlogged := s.guard.limiter.admit(key)
	if wait <= 0 {
		return attempt{key: key, b: b}, false
	}
	secs := int(math.Ceil(wait.Seconds()))
	if unlogged > 0 {
		s.log.Warn("login refused: too many failed logins from this address", "method", r.Method, "path", r.URL.Path, s.remote(r), "client", key,
			"refused_since_last_message", unlogged, "retry_after", time.Duration(secs)*time.Second)
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	closeAfter(w, r)
	errorf(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins from this address; try again in %s", time.Duration(secs)*time.Second))
	return attempt{}, true
}

// failed counts a failed login with the credentials sent against the
// client's address and logs it, with neither the credentials nor the
// header: a new guess each time, the same wrong credentials again (which
// nothing slows) the first time, then at most once a minute for the
// address, with the repeats since.
func (s *Server) failed(r *http.Request, at attempt, sent ...string) {
	if at.b == nil {
		s.log.Warn("authentication failed", "method", r.Method, "path", r.URL.Path, s.remote(r))
		return
	}
	log, repeats := s.guard.limiter.failed(at.b, s.guard.limiter.guess(sent...))
	switch {
	case !log:
	case repeats > 0:
		s.log.Warn("authentication failed", "method", r.Method, "path", r.URL.Path, s.remote(r), "client", at.key,
			"repeated_since_last_message", repeats)
	default:
		s.log.Warn("authentication failed", "method", r.Method, "path", r.URL.Path, s.remote(r), "client", at.key)
	}
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="locker", charset="UTF-8"`)
	closeAfter(w, r)
	s.writeError(w, r, lock.Errorf(lock.EUNAUTHORIZED, "%s", msg))
}

// closeAfter has an HTTP/1.x connection closed once a refused request
// (401, 429) is answered, rather than kept for the client's next one; and
// within a second, not LOCKER_READ_TIMEOUT, when the client declared a
// body it does not send (net/http reads what is left of it before
// closing). A client without credentials then holds a place under
// LOCKER_MAX_CONNECTIONS for no longer than its request. (Over HTTP/2 the
// stream ends, the connection's other streams go on.)
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
	}
}

// closeUnread is closeAfter for a request answered without its body being
// read, when it declared one: an open route (/healthz, /readyz, a public
// /metrics), an unknown path, or a change refused before it reached its
// route (cross-origin, DNS rebinding). net/http reads what is left of such
// a body before it answers, for the connection's next request: from a
// client that never sends it, until LOCKER_READ_TIMEOUT (30s) ran out, so
// that a client without credentials held a place under
// LOCKER_MAX_CONNECTIONS that long with one request. A request without a
// body keeps its connection.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		closeAfter(w, r)
	}
}

// closingUnread is h with closeUnread before it.
func closingUnread(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		closeUnread(w, r)
		h.ServeHTTP(w, r)
	})
}

// mayForce reports whether the request may force a release: only the admin
// when one is configured, otherwise whoever may change locks.
func (s *Server) mayForce(r *http.Request) error { return s.mayAdmin(r, "force a release") }

// mayForget reports whether the request may forget a lock (POST
// /lock/{name}/forget), by the rule handleForget applies and GET /whoami
// reports as may_forget: today the same as mayForce's.
func (s *Server) mayForget(r *http.Request) error { return s.mayAdmin(r, "forget a lock") }

// mayAdmin refuses what only the admin may do (what: "force a release"),
// when an admin user is set, and read-only credentials always.
func (s *Server) mayAdmin(r *http.Request, what string) error {
	rl, _ := r.Context().Value(roleKey{}).(role)
	if rl == roleReadOnly {
		return lock.Errorf(lock.EFORBIDDEN, "read-only credentials may not %s", what)
	}
	if s.cfg.Admin.Set() && rl != roleAdmin {
		return lock.Errorf(lock.EFORBIDDEN, "only the admin user (LOCKER_ADMIN_USER) may %s", what)
	}
	return nil
}

// actor names who made a request, for logs and history: the authenticated
// user, never a name nobody checked; else anonymous@ the client's address
// and port (remoteAddr).
func (s *Server) actor(r *http.Request) string {
	if rl, _ := r.Context().Value(roleKey{}).(role); rl != roleAnonymous {
		if user, _, ok := r.BasicAuth(); ok {
			return user
		}
	}
	return "anonymous@" + s.remoteAddr(r)
}
