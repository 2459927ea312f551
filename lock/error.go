package lock

import (
	"errors"
	"fmt"
)

// Error codes. Every failure the lock server reports carries one of these;
// transports map them to their own status codes in one place (see
// httpapi/errors.go).
const (
	EINVALID      = "invalid"      // bad input: the request can never succeed as sent
	ECONFLICT     = "conflict"     // the lock is held under another key
	ENOTFOUND     = "not_found"    // no such lock, or nothing held to refresh
	EINUSE        = "in_use"       // the lock belongs to something else (a pool) that must let it go first
	ETOOLARGE     = "too_large"    // a request body over the limit
	ETIMEOUT      = "timeout"      // a request that did not arrive in time
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials
	EFORBIDDEN    = "forbidden"    // these credentials may not do this
	EUNAVAILABLE  = "unavailable"  // the store cannot be reached, or a limit (waiters) is reached
	ENOSPACE      = "no_space"     // the store has no room left
	EINTERNAL     = "internal"     // anything else
)

// Error is a domain error: a code that says what kind of failure it is and a
// message written for the person who will read it.
type Error struct {
	Code    string
	Message string
	// Lock is the lock's state where the error is about a lock (a conflict
	// reports who holds it).
	Lock *Lock
	// Unsure is set by a store whose failed change may have been made all
	// the same (a database connection lost as it committed): trying it
	// again could make it twice.
	Unsure bool
	// MaybeMade says that the client cannot know whether its change was
	// made, and must read the lock before asking again: so for every
	// Unsure error, and for a store's failure whose change this process
	// has not made but the next start may find made (the file store's
	// write it could not take back). The API marks such answers
	// ("maybe_made"); see MaybeMade.
	MaybeMade bool
	// Summary, when set, is Message without what only operators should
	// read (file paths, database addresses and user names, driver
	// errors), still saying what happened and what the client should do
	// (whether the change was made): it is what the API's answers and
	// the open health checks say, and Message goes to the log. Empty
	// when Message has nothing of the kind.
	Summary string
}

// Unsure reports whether err is a failed change that may have been made.
func Unsure(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unsure
}

// MaybeMade reports whether err is a failed change that the client cannot
// know to have been made or not (Error.MaybeMade, or Unsure).
func MaybeMade(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.MaybeMade || e.Unsure)
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: its own when it is (or wraps) an *Error,
// EINTERNAL for any other non-nil error, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err: its own when it is an *Error
// (all of it, details for the log included), a generic one otherwise.
// What a client may read of a store's failure is ErrorSummary.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorSummary returns what anyone may read of err (the API's error
// answers, the open /healthz and /readyz): its Summary, else its Message,
// when it is an *Error; a generic message otherwise.
func ErrorSummary(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Summary != "" {
		return e.Summary
	}
	return ErrorMessage(err)
}
