package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/cloudfoundry-community/locker/lock"
)

// statusOf maps domain error codes to HTTP statuses: the one place where
// this happens.
var statusOf = map[string]int{
	lock.EINVALID:      http.StatusBadRequest,
	lock.ECONFLICT:     http.StatusLocked,
	lock.ENOTFOUND:     http.StatusNotFound,
	lock.EINUSE:        http.StatusConflict,
	lock.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	lock.ETIMEOUT:      http.StatusRequestTimeout,
	lock.EUNAUTHORIZED: http.StatusUnauthorized,
	lock.EFORBIDDEN:    http.StatusForbidden,
	lock.EUNAVAILABLE:  http.StatusServiceUnavailable,
	lock.ENOSPACE:      http.StatusInsufficientStorage,
	lock.EINTERNAL:     http.StatusInternalServerError,
}

// errorBody is every error response: {"error": "..."}, and the lock's state
// when the error is about a lock (who holds it).
type errorBody struct {
	Error string    `json:"error"`
	Lock  *lockView `json:"lock,omitempty"`
	// MaybeMade: the change may or may not have been made (lock.MaybeMade);
	// read the lock before asking again.
	MaybeMade bool `json:"maybe_made,omitempty"`
}

// writeError answers with err as JSON and the status its code maps to.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away, or only looks so: one that half-closes
		// its connection after the request (socat, nc -N) still reads.
		// Writing nothing would make net/http send an empty 200, a "you
		// hold it" for a change that was given up. Close the connection
		// without an answer instead.
		panic(http.ErrAbortHandler)
	}
	code := lock.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	// The answer says what happened and what to do, in the store's
	// summary: never the database's address, name and user, the
	// driver's error or a file's path, which anyone who may read locks
	// could read (everyone, without AUTH_USER). The log has them.
	msg := lock.ErrorSummary(err)
	switch {
	case code == lock.EINTERNAL:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, s.remote(r))
	case msg != lock.ErrorMessage(err):
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", lock.ErrorMessage(err), s.remote(r))
	}
	body := errorBody{Error: msg, MaybeMade: lock.MaybeMade(err)}
	var e *lock.Error
	if errors.As(err, &e) && e.Lock != nil {
		v := s.view(*e.Lock)
		body.Lock = &v
	}
	writeJSON(w, status, body)
}

// noRoute is the 404 of a path no route serves.
func noRoute(method, path string) error {
	return lock.Errorf(lock.ENOTFOUND, "no such route: %s %s", method, path)
}

// errorf answers with a JSON error of the given status, for the answers no
// domain error stands for: 405 (another method), 429 (too many failed
// logins) and the 500 of a handler that panicked. Every other error goes
// through writeError and statusOf.
func errorf(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}
