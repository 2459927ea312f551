// Package client is a Go client for Locker, the lock server for deploys and
// pipelines.
//
// A Client talks to one server. Lock takes a hold on a named lock (at once,
// or waiting up to LockOptions.Wait with servers that support blocking
// waits), Acquire waits for one until its context ends, Unlock gives it back,
// and Refresh extends its lease. Get, List and History read state; Events
// follows every change as it happens.
//
// Locks are shared by key: requests with the same key may hold a lock at
// once, each holder counting its holds; requests with another key wait or
// are refused. Use a key of your own for exclusive access.
//
// Errors from the server are *APIError values that match ErrLocked,
// ErrNotFound, ErrUnauthorized, ErrForbidden, ErrBadRequest or
// ErrUnavailable with errors.Is; a server that cannot be reached gives a
// *ConnError matching ErrUnreachable. Every method takes a context and stops
// when it ends.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Options configures a Client. Only URL is required.
type Options struct {
	// URL is the server's base URL, e.g. "https://locker.example.com:3000".
	// Without a scheme, http:// is assumed. Credentials in it
	// (https://user:pass@host) are used when User is empty.
	URL string
	// User and Pass are sent as HTTP basic auth when User is set.
	User, Pass string
	// CACert is a PEM bundle of certificate authorities to trust, in
	// addition to the system's, for an https server.
	CACert []byte
	// InsecureSkipVerify turns off verification of the server's
	// certificate. Use it only for testing.
	InsecureSkipVerify bool
	// HTTPClient, when set, sends the requests; CACert and
	// InsecureSkipVerify must then be configured on it instead. The
	// client's own transport pings an HTTP/2 connection silent for 5s,
	// and drops it when the answer takes 5s more, so that a connection the
	// network dropped without a word is not used on (a kept lease's
	// renewals among them); give HTTPClient's transport an HTTP2Config
	// with SendPingTimeout for the same.
	HTTPClient *http.Client
	// Timeout bounds each request (default 30s; negative means no limit).
	// A request that waits for a lock gets its wait on top. (Acquire's
	// and AcquireFromPool's wait as a whole is bounded by AnswerGrace.)
	Timeout time.Duration
	// AnswerGrace is how long past LockOptions.Wait Acquire and
	// AcquireFromPool give the server to answer: a wait with a Wait
	// (not zero, which waits until ctx ends) gives up Wait + AnswerGrace
	// after the call, whatever its requests were (its first read, the
	// request that waits, a read back), even against a server that takes
	// the requests and never answers; the error matches ErrNoAnswer.
	// Without it, their per-request Timeouts added up (a minute for a
	// Wait of 2s by default). Default: Timeout; negative, or a Timeout
	// with no limit and no AnswerGrace, means no such bound.
	AnswerGrace time.Duration
	// WaitChunk is the longest wait Acquire and AcquireFromPool ask of
	// the server in one request (default 5m); they ask again until they
	// get the lock, keeping their place in its queue. Behind a proxy or
	// load balancer, set it below the proxy's read (or idle) timeout
	// (nginx's proxy_read_timeout, an AWS ALB's idle timeout: 60s by
	// default), or raise that timeout above it: a request the proxy cuts
	// short ends the wait with a *WaitCutError, as its outcome is unknown
	// and it is never sent again.
	WaitChunk time.Duration
	// PollInterval is how often Acquire retries a server without blocking
	// waits (default 5s, with jitter).
	PollInterval time.Duration
	// UserAgent is sent with every request (default "locker-client").
	UserAgent string
	// EventsIdle is how long Events waits for an event or the server's
	// heartbeat (a comment every 15s) before it takes the connection for
	// dead (default 45s).
	EventsIdle time.Duration
}

// Client is a Locker client. It is safe for concurrent use.
type Client struct {
	base       string // without credentials or trailing slash
	user, pass string
	hc         *http.Client
	timeout    time.Duration
	grace      time.Duration // AnswerGrace, < 0: none
	waitChunk  time.Duration
	poll       time.Duration
	eventsIdle time.Duration
	userAgent  string
}

// New returns a Client for the server at opts.URL.
func New(opts Options) (*Client, error) {
	raw := strings.TrimSpace(opts.URL)
	if raw == "" {
		return nil, errors.New("locker client: no server URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	shown := RedactURL(opts.URL) // messages never carry the password
	u, err := url.Parse(raw)
	if err != nil {
		reason := "it is not a URL"
		var ue *url.Error
		if errors.As(err, &ue) && !strings.Contains(raw, "@") {
			reason = ue.Err.Error() // which may quote a part of the password
		}
		return nil, fmt.Errorf("locker client: bad server URL %q: %s", shown, reason)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("locker client: bad server URL %q: use http:// or https://", shown)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("locker client: bad server URL %q: no host", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("locker client: bad server URL %q: it must not have a query or fragment", shown)
	}
	if strings.Contains(u.Host+u.Path, "@") {
		// A user part that did not parse as one (http:/u:pass@host):
		// the password would be in every message naming the server.
		return nil, fmt.Errorf("locker client: bad server URL %q: an \"@\" outside a user part; give it as http://user:pass@host", shown)
	}
	c := &Client{user: opts.User, pass: opts.Pass, timeout: opts.Timeout, waitChunk: opts.WaitChunk, poll: opts.PollInterval, eventsIdle: opts.EventsIdle, userAgent: opts.UserAgent}
	if u.User != nil {
		if c.user == "" {
			c.user = u.User.Username()
			c.pass, _ = u.User.Password()
		}
		u.User = nil
	}
	c.base = strings.TrimRight(u.String(), "/")
	if c.timeout == 0 {
		c.timeout = 30 * time.Second
	}
	if c.grace = opts.AnswerGrace; c.grace == 0 {
		c.grace = c.timeout
	}
	if c.waitChunk <= 0 {
		c.waitChunk = 5 * time.Minute
	}
	if c.poll <= 0 {
		c.poll = 5 * time.Second
	}
	if c.eventsIdle <= 0 {
		c.eventsIdle = 45 * time.Second
	}
	if c.userAgent == "" {
		c.userAgent = "locker-client"
	}
	if opts.HTTPClient != nil {
		if len(opts.CACert) > 0 || opts.InsecureSkipVerify {
			return nil, errors.New("locker client: set CACert and InsecureSkipVerify on Options.HTTPClient's transport, not in Options, when you pass an HTTPClient")
		}
		c.hc = opts.HTTPClient
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(opts.CACert) > 0 || opts.InsecureSkipVerify {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify}
		if len(opts.CACert) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(opts.CACert) {
				return nil, errors.New("locker client: the CA certificate has no PEM certificate in it")
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	// Over HTTP/2 every request shares one connection, which net/http
	// goes on using after a request on it got no answer: one the network
	// dropped without a word (a cut, a lost NAT entry, a load balancer's
	// failover) would take every later request, each renewal of a kept
	// lease included, until the system gives up on it (many minutes).
	// A ping after a silence finds it dead, and it is closed.
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: h2PingAfter, PingTimeout: h2PingTimeout}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// h2PingAfter and h2PingTimeout are how long an HTTP/2 connection of the
// client's own transport may be silent before it is pinged, and how long
// the ping's answer may take before the connection is taken for dead and
// closed.
var h2PingAfter, h2PingTimeout = 5 * time.Second, 5 * time.Second

// URL returns the server's base URL (without credentials).
func (c *Client) URL() string { return c.base }

// LockOptions describe a hold: who asks for it and for how long.
type LockOptions struct {
	// Key is the lock's key: holders with the same key share the lock.
	// Required.
	Key string
	// Holder names who holds the lock (the seed API's lock_by); the server
	// uses Key when it is empty.
	Holder string
	// Wait is how long to wait for a lock held under another key. For
	// Lock, zero means not at all: the server answers at once (ErrLocked if
	// held), and it caps longer waits (10 minutes unless configured). For
	// Acquire, zero means until the context ends. Below zero (a time.Until
	// of a moment past) is not at all, for both.
	Wait time.Duration
	// TTL is the hold's lease: it ends after TTL unless refreshed. Zero
	// asks for none (the server may apply a default).
	TTL time.Duration
	// OwnKey tells Acquire and AcquireFromPool that no other call uses this
	// key and holder at the same time (a key made for this call, unique
	// to it): then a hold of theirs taken as a cancelled wait ended can
	// only be this call's, and is released rather than reported with
	// ErrMaybeHeld: by its fence (UnlockFence), so that a hold taken
	// afresh since under the same key and holder is left alone. Lock
	// ignores it.
	OwnKey bool
	// Retrying, when set, is called by Acquire and AcquireFromPool each
	// time the server refuses for now (ErrUnavailable: restarting, its
	// store failing, too many waiters) and the wait goes on after pause:
	// so that a caller can say why a wait takes long. Lock ignores it.
	Retrying func(err error, pause time.Duration)
}

// Lock takes one hold on the named lock. If the lock is held under another
// key, it waits up to o.Wait (as the server allows) and then fails with
// ErrLocked; the *APIError's Lock says who holds it. The returned Lock has
// the new state, including its fencing token.
func (c *Client) Lock(ctx context.Context, name string, o LockOptions) (*Lock, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	q, body := o.request()
	var w wireLock
	if err := c.do(ctx, http.MethodPut, lockPath(name), q, body, o.Wait, &w); err != nil {
		return nil, err
	}
	return w.lock(name), nil
}

// check refuses options that cannot be sent as they are meant: a negative
// TTL (a time.Until in the past, say) would be sent as none, a hold that
// never expires.
func (o LockOptions) check() error {
	if o.TTL < 0 {
		return fmt.Errorf("locker client: %w: LockOptions.TTL is negative (%s): give a lease greater than zero, or zero for none", ErrBadRequest, o.TTL)
	}
	return nil
}

// request is the query and body of a PUT that takes a hold as o says.
func (o LockOptions) request() (url.Values, map[string]string) {
	q := url.Values{}
	if o.Wait > 0 {
		q.Set("wait", o.Wait.String())
	}
	if o.TTL > 0 {
		q.Set("ttl", o.TTL.String())
	}
	body := map[string]string{"key": o.Key}
	if o.Holder != "" {
		body["lock_by"] = o.Holder
	}
	return q, body
}

// Unlock gives back one hold of holder (the key when holder is "") under
// key. Unlocking a free lock, or a holder that holds nothing, changes nothing
// and is no error (the result's Message says so); another key is ErrLocked.
func (c *Client) Unlock(ctx context.Context, name, key, holder string) (*Lock, error) {
	return c.UnlockFence(ctx, name, key, holder, 0)
}

// UnlockFence is Unlock of the hold taken under the fence token fence
// only (the Fence of the Lock that Lock or Acquire returned for it): when
// the lock was released, expired or forced and taken again since
// (another token, even by the same key and holder, such as a job tried
// again), ErrLocked, whose *APIError's Lock is the lock as it is, and
// nothing is released. A free lock has nothing to give back (no error,
// as Unlock). The token names a holding period, not one hold in it:
// holders sharing the key share it, and a re-entered hold gives back one
// count, as Unlock. 0 is any hold, as Unlock. UnlockHold names the hold
// itself.
//
// A server that predates fenced releases (the original locker, and Locker
// before them) ignores the token and releases whatever hold the key and
// holder have. Its answer does not say the check was made, so UnlockFence
// then returns the lock as the server answered it together with an error
// matching ErrFenceNotChecked: the release was made, unchecked.
func (c *Client) UnlockFence(ctx context.Context, name, key, holder string, fence uint64) (*Lock, error) {
	return c.UnlockHold(ctx, name, key, holder, HoldRef{Fence: fence})
}

// UnlockHold is Unlock of the hold h names only (l.Ref(holder) of the Lock
// that Lock or Acquire returned for it): as UnlockFence, and besides, when
// the holder's hold began at another time than h.Acquired (it was released
// or ran out and the same key and holder took the lock again, while
// another holder under the key kept it held, so under the same fence),
// ErrLocked, and nothing is released. A holder holding nothing has
// nothing to give back (no error).
//
// A server that predates the condition ignores h.Acquired, and perhaps
// h.Fence (ErrFenceNotChecked, as UnlockFence), and releases whatever hold
// the key and holder have: UnlockHold then returns the lock as answered
// with an error matching ErrAcquiredNotChecked.
func (c *Client) UnlockHold(ctx context.Context, name, key, holder string, h HoldRef) (*Lock, error) {
	body := map[string]any{"key": key}
	if holder != "" {
		body["locked_by"] = holder
	}
	if h.Fence != 0 {
		body["fence"] = h.Fence
	}
	if !h.Acquired.IsZero() {
		body["acquired"] = h.Acquired.Format(time.RFC3339Nano)
	}
	var w wireLock
	if err := c.do(ctx, http.MethodDelete, lockPath(name), nil, body, 0, &w); err != nil {
		return nil, err
	}
	l := w.lock(name)
	if holder == "" {
		holder = key
	}
	if h.Fence != 0 && w.fenceChecked != h.Fence {
		return l, fmt.Errorf("locker client: %w: it released a hold of key %q and holder %q on %q whatever its fence, not only one taken under fence %d (%s)", ErrFenceNotChecked, key, holder, name, h.Fence, l.Message)
	}
	if !h.Acquired.IsZero() && !w.acquiredChecked.Equal(h.Acquired) {
		return l, fmt.Errorf("locker client: %w: it released a hold of key %q and holder %q on %q whenever it began, not only the one acquired at %s (%s)", ErrAcquiredNotChecked, key, holder, name, h.Acquired.Format(time.RFC3339Nano), l.Message)
	}
	return l, nil
}

// ForceUnlock releases every hold on the lock whatever its key. When the
// server has an admin user, only the admin may (others get ErrForbidden).
// The server records who did it in the lock's history.
func (c *Client) ForceUnlock(ctx context.Context, name string) (*Lock, error) {
	return c.ForceUnlockFence(ctx, name, 0)
}

// ForceUnlockFence is ForceUnlock of the holds taken under the fence token
// fence only: when the lock was released and taken again since (another
// token), ErrLocked, whose *APIError's Lock is the lock as it is, and
// nothing is forced. 0 is any, as ForceUnlock. A server that predates the
// token ignores it and forces whatever holds the lock: read the lock first
// (as locker unlock --force --fence does) to narrow that window.
func (c *Client) ForceUnlockFence(ctx context.Context, name string, fence uint64) (*Lock, error) {
	q := url.Values{"force": {"true"}}
	body := map[string]any{"force": true}
	if fence != 0 {
		q.Set("fence", strconv.FormatUint(fence, 10))
		body["fence"] = fence
	}
	var w wireLock
	if err := c.do(ctx, http.MethodDelete, lockPath(name), q, body, 0, &w); err != nil {
		return nil, err
	}
	return w.lock(name), nil
}

// Refresh extends the lease of holder's hold (the key when holder is "") to
// ttl from now, without adding to its count. Nothing held: ErrNotFound;
// another key holds the lock: ErrLocked. To keep one hold alive, use
// RefreshFence with its token: Refresh renews whatever hold the key and
// holder have, one taken afresh after this one ran out included.
func (c *Client) Refresh(ctx context.Context, name, key, holder string, ttl time.Duration) (*Lock, error) {
	return c.RefreshFence(ctx, name, key, holder, ttl, 0)
}

// RefreshFence is Refresh of the hold taken under the fence token fence
// only: when the lock was taken afresh since (lost, then taken by another
// with the same key and holder), ErrNotFound, and the other's hold is left
// as it is. 0 is any hold, as Refresh. A server that predates it ignores
// the token. RefreshHold names the hold itself.
func (c *Client) RefreshFence(ctx context.Context, name, key, holder string, ttl time.Duration, fence uint64) (*Lock, error) {
	return c.RefreshHold(ctx, name, key, holder, ttl, HoldRef{Fence: fence})
}

// RefreshHold is Refresh of the hold h names only (l.Ref(holder) of the
// Lock that Lock or Acquire returned for it): as RefreshFence, and
// besides, when the holder's hold began at another time than h.Acquired
// (taken again by the same key and holder within the holding period, a
// shared key keeping the lock held), ErrNotFound, and that hold's lease is
// left as it is. A server that predates the condition ignores h.Acquired:
// when its answer shows the holder's hold began at another time, the
// renewal was of that hold, and RefreshHold returns the lock with an error
// matching ErrAcquiredNotChecked.
func (c *Client) RefreshHold(ctx context.Context, name, key, holder string, ttl time.Duration, h HoldRef) (*Lock, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("locker client: %w: Refresh needs a ttl greater than zero (%s)", ErrBadRequest, ttl)
	}
	body := map[string]any{"key": key, "ttl": ttl.String()}
	if holder != "" {
		body["lock_by"] = holder
	}
	if h.Fence != 0 {
		body["fence"] = h.Fence
	}
	if !h.Acquired.IsZero() {
		body["acquired"] = h.Acquired.Format(time.RFC3339Nano)
	}
	var w wireLock
	if err := c.do(ctx, http.MethodPost, lockPath(name)+"/refresh", nil, body, 0, &w); err != nil {
		return nil, err
	}
	l := w.lock(name)
	if holder == "" {
		holder = key
	}
	if !w.acquiredChecked.Equal(h.Acquired) && l.TakenAgainWithin(holder, h.Acquired) {
		return l, fmt.Errorf("locker client: %w: it renewed the hold of key %q and holder %q on %q that began at %s, not the one acquired at %s (%s)", ErrAcquiredNotChecked, key, holder, name, l.Holds[holder].Acquired.Format(time.RFC3339Nano), h.Acquired.Format(time.RFC3339Nano), l.Message)
	}
	return l, nil
}

// Get returns the named lock's state; ErrNotFound for a name the server has
// never seen.
func (c *Client) Get(ctx context.Context, name string) (*Lock, error) {
	var w wireLock
	if err := c.do(ctx, http.MethodGet, lockPath(name), nil, nil, 0, &w); err != nil {
		return nil, err
	}
	return w.lock(name), nil
}

// List returns every lock the server knows, sorted by name.
func (c *Client) List(ctx context.Context) ([]Lock, error) {
	var m servedMap[wireLock]
	if err := c.do(ctx, http.MethodGet, "/locks", nil, nil, 0, &m); err != nil {
		return nil, err
	}
	locks := make([]Lock, 0, len(m.m))
	for name, w := range m.m {
		w.serverAhead = m.serverAhead
		locks = append(locks, *w.lock(name))
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].Name < locks[j].Name })
	return locks, nil
}

// History returns the named lock's recent events, oldest first; ErrNotFound
// for a name the server has never seen.
func (c *Client) History(ctx context.Context, name string) ([]Event, error) {
	var h struct {
		Events []Event `json:"events"`
	}
	if err := c.do(ctx, http.MethodGet, lockPath(name)+"/history", nil, nil, 0, &h); err != nil {
		return nil, err
	}
	return h.Events, nil
}

// RedactURL returns a server URL fit for a message: whatever lies before
// the last "@" (a user and password, https://user:pass@host) is shown as
// "***", after the scheme and slashes that start it — the last "@"
// anywhere, for a password with an unescaped "/" or "?" in it, and also
// in a URL mistyped without "://" (http:/u:pass@host, //u:pass@host).
func RedactURL(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 && i < at {
		start = i + 3
	} else {
		if i := strings.IndexByte(raw, ':'); i >= 0 && i < at && !strings.ContainsAny(raw[:i], "/@") {
			start = i + 1 // a scheme
		}
		for start < at && raw[start] == '/' {
			start++
		}
	}
	return raw[:start] + "***" + raw[at:]
}

func lockPath(name string) string { return "/lock/" + segment(name) }

// segment escapes a name as one path segment. url.PathEscape leaves "."
// and ".." as they are, and a path with them in it means another path
// ("/lock/.." is "/"): their dots are sent escaped.
func segment(name string) string {
	e := url.PathEscape(name)
	if e == "." || e == ".." {
		return strings.ReplaceAll(e, ".", "%2E")
	}
	return e
}

// invalidUTF8 names the first string in body that is not valid UTF-8
// (encoding/json would send U+FFFD in place of its bad bytes), and gives it.
func invalidUTF8(body any) (field, value string) {
	name := func(k string) string {
		if k == "lock_by" || k == "locked_by" {
			return "holder"
		}
		return k
	}
	switch b := body.(type) {
	case map[string]string:
		for k, v := range b {
			if !utf8.ValidString(v) {
				return name(k), v
			}
		}
	case map[string]any:
		for k, v := range b {
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				return name(k), s
			}
		}
	}
	return "", ""
}

// maxTarget is the longest path and query the client sends. A longer one is
// refused before it is sent: servers cap a request's head (Locker at 64 KiB,
// nginx at 8 KiB a line), and one that stops reading a head too long and
// closes its connection makes the client see a reset, whose outcome it
// cannot tell; a lock name that long is refused by Locker anyway.
const maxTarget = 16 << 10

// newRequest builds a request to the server.
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if len(target)-len(c.base) > maxTarget {
		return nil, fmt.Errorf("locker client: %w: the request's path is %d bytes long; servers refuse one over %d KiB (Locker's own limit on a lock name is 512 bytes), some by cutting the connection before they answer: not sent", ErrBadRequest, len(target)-len(c.base), maxTarget>>10)
	}
	var rd io.Reader
	if field, v := invalidUTF8(body); field != "" {
		return nil, fmt.Errorf("locker client: %w: the %s %q is not valid UTF-8: it would be sent with U+FFFD in place of its bad bytes, as another %s (two such would be the same)", ErrBadRequest, field, v, field)
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("locker client: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	return req, nil
}

// do sends one request and decodes a 2xx answer into out; any other answer
// becomes an *APIError. wait is added to the request's time limit.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, wait time.Duration, out any) error {
	rctx := ctx
	// A negative wait (a moment past) is no wait; one too long to add
	// Options.Timeout to, no limit.
	limit := c.timeout
	if wait = max(wait, 0); c.timeout > 0 && wait > math.MaxInt64-c.timeout {
		limit = -1
	} else if c.timeout > 0 {
		limit += wait
	}
	if limit > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	req, err := c.newRequest(rctx, method, path, q, body)
	if err != nil {
		return err
	}
	// Whether the request went out: until its headers are written, a
	// failure (no connection, a TLS handshake refused) sent nothing.
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}))
	sent := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		cerr := c.connError(ctx, err, limit)
		switch e := cerr.(type) {
		case *ConnError:
			e.unsent = !wrote.Load()
		case *endedError:
			e.sent = wrote.Load()
		}
		return cerr
	}
	answered := time.Now()
	defer resp.Body.Close()
	if err := methodChanged(req, resp, c.base); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		cerr := c.connError(ctx, err, limit)
		if e, ok := cerr.(*endedError); ok {
			e.sent = true
		}
		return cerr
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(req, resp, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return &notLockerError{fmt.Sprintf("locker client: %s %s: the server's answer is not the JSON expected (%v); is %s a locker server?", method, path, err, c.base)}
		}
		if a, ok := out.(interface {
			answeredAt(lease time.Duration, sent, answered time.Time)
		}); ok {
			if d, err := time.ParseDuration(resp.Header.Get("Locker-Lease")); err == nil && d > 0 {
				a.answeredAt(d, sent, answered)
			}
		}
		if w, ok := out.(*wireLock); ok {
			w.checks(resp.Header)
		}
		if a, ok := out.(interface {
			servedAt(h http.Header, answered time.Time)
		}); ok {
			a.servedAt(resp.Header, answered)
		}
	}
	return nil
}

// methodChanged refuses the answer to a change that a redirect turned into
// something else: net/http follows 301, 302 and 303 with a GET, whose 200
// (the lock's state) would pass for a granted PUT or DELETE. Nothing was
// changed; the server's URL should be the address redirected to, which it
// names: the request's target with the route (/lock/NAME and the query)
// taken off, when the redirect kept it. (307 and 308 keep the method and
// the body, and are followed.)
func methodChanged(req *http.Request, resp *http.Response, base string) error {
	if resp.Request == nil || resp.Request.Method == req.Method {
		return nil
	}
	code, to := 0, *resp.Request.URL
	to.User = nil
	if r := resp.Request.Response; r != nil {
		code = r.StatusCode
	}
	from := *req.URL
	from.User = nil
	use := "the address it redirects to as the server's URL"
	if b, err := url.Parse(base); err == nil {
		route := strings.TrimPrefix(req.URL.EscapedPath(), b.EscapedPath())
		if p := to.EscapedPath(); route != "" && strings.HasSuffix(p, route) {
			if path, err := url.PathUnescape(strings.TrimSuffix(p, route)); err == nil {
				server := to
				server.Path, server.RawPath, server.RawQuery, server.Fragment = path, "", "", ""
				use += ": " + server.String()
			}
		}
	}
	return &APIError{StatusCode: code, Method: req.Method, URL: from.String(),
		Message: fmt.Sprintf("the server answered %s %s with a redirect (HTTP %d) to %s, which would send it as a %s: nothing was changed; use %s",
			req.Method, from.String(), code, to.String(), resp.Request.Method, use)}
}

// connError turns a failed exchange into ctx's error when ctx ended (an
// *endedError), and a *ConnError otherwise.
func (c *Client) connError(ctx context.Context, err error, limit time.Duration) error {
	if ctx.Err() != nil {
		return &endedError{err: ctx.Err()}
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, context.DeadlineExceeded) {
		err = timeoutError{limit}
	}
	return &ConnError{URL: c.base, Err: err}
}

func (c *Client) apiError(req *http.Request, resp *http.Response, b []byte) error {
	u := *req.URL
	u.User = nil
	e := &APIError{StatusCode: resp.StatusCode, Method: req.Method, URL: u.String()}
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		e.Message, e.fromLocker, e.MaybeMade = eb.Error, true, eb.MaybeMade
		if len(eb.Lock) > 0 && string(eb.Lock) != "null" {
			var w wireLock
			if json.Unmarshal(eb.Lock, &w) == nil {
				e.Lock = w.lock("")
			}
		}
	} else if text := strings.TrimSpace(string(b)); len(text) > 0 && len(text) < 200 && !strings.ContainsAny(text, "<>{}\n") {
		e.Message = text
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(text, "HTTP request to an HTTPS server") {
			// Go's answer to plain HTTP on a TLS port.
			e.Message += " (the server speaks HTTPS: use an https:// URL)"
		}
	} else {
		e.Message = http.StatusText(resp.StatusCode)
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e
}

// endedError is a request given up because its context ended: it matches
// ctx's error. sent: it had gone out (its headers were written), and the
// server may have made the change (Ambiguous).
type endedError struct {
	err  error
	sent bool
}

func (e *endedError) Error() string { return "locker client: " + e.err.Error() }
func (e *endedError) Unwrap() error { return e.err }

// timeoutError is a request that ran past Options.Timeout.
type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string   { return fmt.Sprintf("no answer within %s", e.d) }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
func (e timeoutError) Unwrap() error   { return context.DeadlineExceeded }
