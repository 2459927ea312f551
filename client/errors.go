package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors. Every error a Client returns for an answer from the server
// is an *APIError, which matches one of these with errors.Is according to its
// HTTP status; errors from the network match ErrUnreachable.
var (
	// ErrLocked: the lock is held under another key (HTTP 423). The
	// *APIError's Lock says who holds it, when the server tells.
	ErrLocked = errors.New("lock is held under another key")
	// ErrNotFound: no such lock, or nothing held to refresh (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: missing or wrong credentials (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: these credentials may not do this, e.g. force a release
	// when only the admin may (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrBadRequest: the request can never succeed as sent (HTTP 400, 405,
	// 413 and other 4xx statuses not listed here; 501 and 505, from a
	// server that is not Locker; a change redirected with 301, 302 or 303,
	// which would turn it into a GET).
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: the server cannot serve the request now, e.g. too many
	// waiters, shutting down or its store failing (HTTP 503 and other 5xx
	// but 501 and 505, and 429). Trying again later may succeed.
	ErrUnavailable = errors.New("server unavailable")
	// ErrUnreachable: no answer from the server at all (connection refused,
	// unknown host, TLS failure, timeout). The error is a *ConnError.
	ErrUnreachable = errors.New("server unreachable")
	// ErrNotLocker: a 2xx answer whose body is not the JSON a Locker
	// server sends: something between client and server answered in its
	// place (a proxy's or firewall's page), perhaps after passing the
	// request on, or the URL is not a Locker server's. Ambiguous.
	ErrNotLocker = errors.New("the answer is not a locker server's")
	// ErrStreamDropped: the server ended an event stream: it fell behind,
	// it may have missed changes (a PostgreSQL replica that made its LISTEN
	// connection again), the server is stopping, or the stream simply
	// ended. Reconnect and re-read the locks of interest. The error's
	// message gives the server's reason.
	ErrStreamDropped = errors.New("the event stream was dropped by the server")
)

// ErrFenceNotChecked: UnlockFence was answered by a server that does not
// check the fence token of a release (the original locker, or Locker from
// before fenced releases): it released a hold of the key and holder
// whatever its token, perhaps one taken afresh after the one meant was
// lost. The release was made; the error comes with the lock's state.
var ErrFenceNotChecked = errors.New("the server does not check the fence token of a release")

// ErrAcquiredNotChecked: UnlockHold or RefreshHold named its hold by the
// time it began (HoldRef.Acquired) and was answered by a server that does
// not check it (Locker from before that condition): within the holding
// period its fence names (another holder under the same key kept the lock
// held), it may have released or renewed a hold the same key and holder
// took again, not the one meant. UnlockHold returns it whenever the server
// did not say it checked; RefreshHold only when the answer shows the
// holder's hold began at another time (it renewed another's). The change
// was made; the error comes with the lock's state.
var ErrAcquiredNotChecked = errors.New("the server does not check the time a hold began")

// ErrHolderNotChecked: RemoveMemberWith, forced and naming a holder or a
// key, was answered by a server that does not check them (Locker from
// before that condition): it removed the member and ended every hold on
// it, whoever's, perhaps a holder's that joined under the same key since
// the member was read. The removal was made; the error comes with the
// member's state.
var ErrHolderNotChecked = errors.New("the server does not check the holder of a forced pool removal")

// droppedError is an ErrStreamDropped with the server's reason.
type droppedError struct{ reason string }

func (e *droppedError) Error() string {
	return "locker client: the server dropped the event stream: " + e.reason
}

func (e *droppedError) Is(target error) bool { return target == ErrStreamDropped }

// APIError is an error answer from the server.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's explanation ("error" in its JSON body), or the
	// status text when the body has none.
	Message string
	// Lock is the lock's state when the server reports it (who holds a lock
	// that refused a request); nil otherwise. Servers that predate waits and
	// leases send none.
	Lock *Lock
	// Method and URL are the request's (the URL without credentials).
	Method, URL string
	// MaybeMade is the server's mark ("maybe_made") that the change may or
	// may not have been made; see the function MaybeMade, which also
	// knows the words of servers that predate the mark.
	MaybeMade bool
	// fromLocker is true when the answer is a Locker server's own JSON
	// error, not a proxy's page.
	fromLocker bool
}

// FromLocker reports whether the answer is a Locker server's own JSON
// error, not a page from a proxy or from a server that is not Locker.
func (e *APIError) FromLocker() bool { return e.fromLocker }

// lockerSaid reports whether err is a Locker server's own answer (its JSON
// error, not a proxy's page) with one of statuses.
func lockerSaid(err error, statuses ...int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.fromLocker && slices.Contains(statuses, ae.StatusCode)
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

// Is makes errors.Is(err, ErrLocked) and the like work, by status.
func (e *APIError) Is(target error) bool { return target == sentinelFor(e.StatusCode) }

func sentinelFor(status int) error {
	switch {
	case status == http.StatusLocked:
		return ErrLocked
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotImplemented || status == http.StatusHTTPVersionNotSupported:
		// Not for now but for good: a server that is not Locker (or is
		// not one this client can talk to).
		return ErrBadRequest
	case status == http.StatusTooManyRequests || status >= 500:
		return ErrUnavailable
	case status >= 400, status >= 300 && status < 400: // a redirect the client would not follow
		return ErrBadRequest
	}
	return nil
}

// ErrMaybeHeld: a wait ended (its context did), or a request's answer was
// lost (Ambiguous), and the lock shows a hold of the caller's key and
// holder taken since the wait began (or could not be read): the server may
// have granted the request, and the answer was lost. Unless
// LockOptions.OwnKey says no other call shares the key and holder, the
// client neither claims nor releases it, since it may as well be the hold
// of another call that shares them. If none does, it is the caller's: use
// it or release it (the error names the lock and its fence:
// ForceUnlockFence ends exactly that acquisition).
var ErrMaybeHeld = errors.New("the server may have granted the hold without the answer reaching the caller")

// ErrNoAnswer: Acquire or AcquireFromPool, with a LockOptions.Wait, gave
// up because the server had not answered within the wait and
// Options.AnswerGrace (a server, or a proxy, that takes requests and never
// answers). A request that had gone out may have been granted: as when
// ctx ends, the client read the lock back. The error matches ErrMaybeHeld
// too (a *MaybeHeldError naming the hold, when it found one) unless the
// read back showed that nothing was taken, or, with LockOptions.OwnKey,
// the hold was given back; with the original locker, which cannot be read
// back, a request that had gone out is ErrMaybeHeld. It matches
// context.DeadlineExceeded as well, as a request's own Options.Timeout
// does; the caller's ctx has not ended.
var ErrNoAnswer = errors.New("no answer from the server within the wait and its grace")

// noAnswerError is the ErrNoAnswer of a wait: err is its error, ended as
// when ctx ends.
type noAnswerError struct {
	url         string
	wait, grace time.Duration
	err         error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("no answer from locker at %s within %s (the wait, %s, and %s for its answer): %v", e.url, e.wait+e.grace, e.wait, e.grace, e.err)
}

func (e *noAnswerError) Unwrap() []error { return []error{ErrNoAnswer, e.err} }

// MaybeHeldError is the ErrMaybeHeld of a wait that found a hold of the
// caller's key and holder taken since it began: Lock is that lock (or
// pool member) as read back, with its fence token. It matches
// ErrMaybeHeld and the wait's own error (ctx's).
type MaybeHeldError struct {
	Lock *Lock
	err  error
}

func (e *MaybeHeldError) Error() string { return e.err.Error() }
func (e *MaybeHeldError) Unwrap() error { return e.err }

// Ambiguous reports whether err leaves it unknown whether the server made
// the change asked for: no answer came (ErrUnreachable, unless no
// connection was made at all: refused, no such host; or the call's
// context ended after the request had gone out, the error matching
// ctx's), or something
// between client and server answered in its place, perhaps after the
// request had reached the server (a gateway's 502 or 504, an Envoy 503
// "upstream reset"; any 5xx that is not a Locker server's own JSON
// refusal; a 2xx whose body is not Locker's JSON, ErrNotLocker). A PUT or
// DELETE with such an outcome must not be sent again
// blindly, since holds are counted: read the lock back to see what
// happened. Locker's own 503 and 507 (waiter limits, shutting down, store
// failing, disk full) and 429 say the change was not made, but for the 503
// that says it "may or may not have been made" (a write to PostgreSQL cut
// off in flight; a failed fsync the file store could not take back), which
// is ambiguous too.
func Ambiguous(err error) bool {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		ended  *endedError
	)
	if errors.As(err, &ended) {
		return ended.sent
	}
	if errors.Is(err, ErrUnreachable) && (errors.As(err, &dnsErr) || errors.As(err, &opErr) && opErr.Op == "dial" || unsent(err)) {
		return false // no connection was made: the request never left
	}
	if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNotLocker) {
		return true
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode < 500 {
		return false
	}
	switch ae.StatusCode {
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false // refused as sent, never passed on
	case http.StatusServiceUnavailable, http.StatusInsufficientStorage:
		return !ae.fromLocker || lockerMaybeMade(err)
	}
	return true
}

// ConnError is a request that got no answer from the server. Its message
// says which server and why, in words: "cannot reach locker at
// http://127.0.0.1:3000 (connection refused)".
type ConnError struct {
	// URL is the server's base URL, without credentials.
	URL string
	// Err is the underlying error.
	Err error
	// unsent: the request failed before its headers were written.
	unsent bool
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("cannot reach locker at %s (%s)", e.URL, Reason(e.Err))
}

func (e *ConnError) Unwrap() error { return e.Err }

// unsent reports whether err is a request that failed before its headers
// were written (a TLS handshake refused, say): nothing reached the server.
func unsent(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce) && ce.unsent
}

// Is makes errors.Is(err, ErrUnreachable) work.
func (e *ConnError) Is(target error) bool { return target == ErrUnreachable }

// Reason describes a network error briefly: "connection refused", "timed
// out", "TLS: certificate signed by unknown authority".
func Reason(err error) string {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		dnsErr     *net.DNSError
		errno      syscall.Errno
		netErr     net.Error
		tlsPlainOK = "server gave HTTP response to HTTPS client"
	)
	var timeout timeoutError
	switch {
	case errors.As(err, &timeout):
		return timeout.Error()
	case errors.As(err, &unknownCA):
		return "TLS: the server's certificate is signed by an unknown authority"
	case errors.As(err, &hostname):
		return "TLS: " + hostname.Error()
	case errors.As(err, &invalid):
		return "TLS: " + invalid.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Sprintf("no such host %q", dnsErr.Name)
		}
		return fmt.Sprintf("cannot resolve %q: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &errno):
		return errno.Error()
	case strings.Contains(err.Error(), tlsPlainOK):
		return "it speaks plain HTTP, not HTTPS: use an http:// URL"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return "it does not speak HTTPS: use an http:// URL"
	}
	msg := err.Error()
	// Drop the url.Error prefix (`Put "http://...": `): the URL is said
	// already.
	if i := strings.LastIndex(msg, `": `); i >= 0 && strings.Contains(msg[:i], `"http`) {
		msg = msg[i+3:]
	}
	return msg
}

// notLockerError is a 2xx answer that is not the JSON expected; it matches
// ErrNotLocker.
type notLockerError struct{ msg string }

func (e *notLockerError) Error() string        { return e.msg }
func (e *notLockerError) Is(target error) bool { return target == ErrNotLocker }

// WaitCutError is a waiting request (one part of Acquire's or
// AcquireFromPool's wait, Options.WaitChunk at most) that something between
// client and server cut short: a gateway's error (a 504, a 502) or a
// dropped connection, after it had waited After of the Asked it asked the
// server to wait. That is what a proxy or load balancer does whose read or
// idle timeout is shorter than the wait asked in one request (nginx's
// proxy_read_timeout and an AWS ALB's idle timeout are 60s by default).
// The lock was read back and showed that the request took nothing; it was
// not sent again, since a proxy may still pass it on. The remedies: raise
// the proxy's timeout above Options.WaitChunk, or set WaitChunk below the
// proxy's timeout. It matches what Err matches (ErrUnavailable or
// ErrUnreachable), and Ambiguous reports true for it.
type WaitCutError struct {
	// Asked is the wait the request asked of the server; After is how
	// long it had waited when it was cut.
	Asked, After time.Duration
	// Err is the gateway's error or the connection's failure.
	Err error
}

func (e *WaitCutError) Error() string {
	return e.Explain("the client", "set Options.WaitChunk below it, e.g. %s") + " (the lock, read back, shows that the request took nothing; it was not sent again)"
}

// MinWaitChunk is the shortest wait in one request worth setting to get
// through a proxy (Options.WaitChunk, the CLI's --wait-chunk, the
// resource's wait_chunk): proxies' timeouts are longer, and a cut is only
// told from a failure after that long.
const MinWaitChunk = minCut

// Explain says what cut the wait short and what to do, for a user of
// program ("locker", "the resource") whose setting of the wait in one
// request remedy names: a format given the wait to suggest (below the
// proxy's timeout), e.g. "set --wait-chunk below it, e.g. --wait-chunk %s".
func (e *WaitCutError) Explain(program, remedy string) string {
	got := "closed the connection"
	var ae *APIError
	if errors.As(e.Err, &ae) {
		msg := ae.Message
		if t := http.StatusText(ae.StatusCode); t != "" && (msg == "" || strings.Contains(msg, "<")) {
			msg = t // a proxy's HTML page
		}
		got = fmt.Sprintf("answered HTTP %d (%s)", ae.StatusCode, msg)
	}
	after, asked := e.After.Round(time.Second), e.Asked.Round(time.Second)
	suggest := max((e.After * 3 / 4).Truncate(time.Second), MinWaitChunk)
	cause := fmt.Sprintf("most likely a proxy or load balancer whose read (or idle) timeout, about %s, is shorter than that", after)
	if !e.GatewayTimeout() {
		// A 502 or a closed connection: also what a server that failed
		// or restarted gives.
		cause = fmt.Sprintf("the server may have failed or restarted; or, if this happens each time after about %s, a proxy or load balancer whose read (or idle) timeout is shorter than that", after)
	}
	return fmt.Sprintf("something between %s and the server %s after the request had waited %s of the %s it asked the server to wait: %s. Either raise the proxy's read timeout above %s (nginx: proxy_read_timeout; AWS ALB: the idle timeout), or %s",
		program, got, after, asked, cause, asked, fmt.Sprintf(remedy, suggest))
}

// GatewayTimeout reports whether the request was cut by a gateway's
// answer that it timed out (HTTP 504; Cloudflare's 524), rather than by
// another gateway error or a closed connection, which a server that failed
// or restarted gives too.
func (e *WaitCutError) GatewayTimeout() bool {
	var ae *APIError
	return errors.As(e.Err, &ae) && (ae.StatusCode == http.StatusGatewayTimeout || ae.StatusCode == 524)
}

func (e *WaitCutError) Unwrap() error { return e.Err }

// minCut is how long a waiting request must have waited before a gateway's
// error or a dropped connection is taken for a proxy's timeout: a proxy
// whose upstream is down answers at once.
const minCut = time.Second

// cutShort returns err, the unknown outcome of a request that asked the
// server to wait asked and failed after waited, as a *WaitCutError when it
// looks like a proxy's timeout: a gateway's error or a dropped connection
// (not the client's own time limit), after a second at least and before
// the wait would have ended.
func cutShort(err error, asked, waited time.Duration) error {
	var timeout timeoutError
	if asked <= 0 || waited < minCut || waited >= asked || errors.Is(err, ErrNotLocker) || errors.As(err, &timeout) {
		return err
	}
	return &WaitCutError{Asked: asked, After: waited, Err: err}
}

// MaybeMade reports whether err is a refusal that says the change "may
// or may not have been made": the server's store cannot tell (a write to
// PostgreSQL cut off in flight; a failed fsync the file store could not
// take back; docs/api.md, "Errors"). Read the lock before asking again.
// The server marks it ("maybe_made": true, APIError.MaybeMade); servers
// that predate the mark say it in words only, which are matched too.
func MaybeMade(err error) bool {
	var ae *APIError
	return errors.Is(err, ErrUnavailable) && errors.As(err, &ae) &&
		(ae.MaybeMade || strings.Contains(ae.Message, "may or may not have been made"))
}

// lockerMaybeMade is MaybeMade for a Locker server's own 503.
func lockerMaybeMade(err error) bool {
	var ae *APIError
	return MaybeMade(err) && errors.As(err, &ae) && ae.fromLocker && ae.StatusCode == http.StatusServiceUnavailable
}
