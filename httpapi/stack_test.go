package httpapi_test

// The test stack: a real file store on a temporary file, the real lock
// service over it, and the HTTP API served by httptest over loopback. Every
// request goes through net/http, the way a client's would.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// stackOptions configures a test stack. The zero value is a server without
// auth and with the production defaults.
type stackOptions struct {
	Auth, Admin httpapi.Credentials
	Service     lockservice.Config
	Store       filestore.Options
	// Logger gets the server's log lines (none when nil).
	Logger       *slog.Logger
	AllowedHosts []string
	// MaxLongRequests is the Config's.
	MaxLongRequests int
	// HTTP2 serves HTTPS with HTTP/2 (the stack's client speaks it).
	HTTP2 bool
	// SmallSendBuffers shrinks the send buffer of every accepted connection,
	// so that a client that stops reading fills it after a few kilobytes.
	SmallSendBuffers bool
	// ConnState, when set, is the server's ConnState hook.
	ConnState func(net.Conn, http.ConnState)
	// WrapConn, when set, wraps each connection as ConnContext hands it
	// to the handlers.
	WrapConn func(net.Conn) net.Conn
	// StreamWriteTimeout, when set, bounds each write of an event stream
	// instead of the server's default.
	StreamWriteTimeout time.Duration
}

// httpStack is a running server.
type httpStack struct {
	t     *testing.T
	URL   string
	Addr  string
	Srv   *httptest.Server
	Svc   *lockservice.Service
	Store *filestore.Store
	// creds are sent with every request unless a call says otherwise: the
	// Auth credentials when auth is on.
	creds *httpapi.Credentials
}

func newHTTPStack(t *testing.T, opts stackOptions) *httpStack {
	t.Helper()
	store, err := filestore.Open(filepath.Join(t.TempDir(), "locks.yml"), opts.Store)
	if err != nil {
		t.Fatalf("filestore.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	svc := lockservice.New(store, opts.Service)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatalf("svc.Start: %v", err)
	}
	t.Cleanup(svc.Close)
	api := httpapi.New(svc, httpapi.Config{Auth: opts.Auth, Admin: opts.Admin, Version: "test", Logger: opts.Logger, AllowedHosts: opts.AllowedHosts, MaxLongRequests: opts.MaxLongRequests})
	if opts.StreamWriteTimeout > 0 {
		httpapi.SetStreamWriteTimeout(api, opts.StreamWriteTimeout)
	}
	srv := httptest.NewUnstartedServer(api)
	srv.Config.ConnState = opts.ConnState
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if opts.WrapConn != nil {
			c = opts.WrapConn(c)
		}
		return httpapi.ConnContext(ctx, c)
	}
	if opts.SmallSendBuffers {
		srv.Listener = smallBufferListener{srv.Listener}
	}
	if opts.HTTP2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	s := &httpStack{t: t, URL: srv.URL, Addr: srv.Listener.Addr().String(), Srv: srv, Svc: svc, Store: store}
	if opts.Auth.Set() {
		c := opts.Auth
		s.creds = &c
	}
	return s
}

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// reqOption changes a request before it is sent.
type reqOption func(*http.Request)

// as sends these basic-auth credentials.
func as(user, pass string) reqOption {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// anonymous sends no credentials.
func anonymous() reqOption {
	return func(r *http.Request) { r.Header.Del("Authorization") }
}

// header sets a request header.
func header(k, v string) reqOption {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

// withContext sends the request under ctx.
func withContext(ctx context.Context) reqOption {
	return func(r *http.Request) { *r = *r.WithContext(ctx) }
}

// reply is a response, read in full.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error // the request failed (e.g. its context was cancelled)
}

// do sends a request (body "" means none) and checks what every answer of
// the API must be: JSON with Content-Type application/json, never a 500,
// and an {"error": "..."} object on every 4xx/5xx. It is safe to call from
// other goroutines.
func (s *httpStack) do(method, path, body string, opts ...reqOption) reply {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Errorf("%s %s: %v", method, path, err)
		return reply{Err: err}
	}
	if s.creds != nil {
		req.SetBasicAuth(s.creds.User, s.creds.Pass)
	}
	for _, o := range opts {
		o(req)
	}
	return s.send(req)
}

// send sends a prepared request with the checks of do.
func (s *httpStack) send(req *http.Request) reply {
	s.t.Helper()
	what := req.Method + " " + req.URL.RequestURI()
	resp, err := s.Srv.Client().Do(req)
	if err != nil {
		if req.Context().Err() == nil {
			s.t.Errorf("%s: %v", what, err)
		}
		return reply{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Errorf("%s: reading the body: %v", what, err)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	checkJSONReply(s.t, what, r)
	return r
}

func checkJSONReply(t *testing.T, what string, r reply) {
	t.Helper()
	if r.Status == http.StatusInternalServerError {
		t.Errorf("%s: 500: %s", what, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: %d with Content-Type %q, want application/json; body %q", what, r.Status, ct, r.Body)
	}
	// A browser must not take a JSON answer (which may carry a lock's
	// name, key and holder as given) for HTML or a script.
	if v := r.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("%s: %d with X-Content-Type-Options %q, want nosniff", what, r.Status, v)
	}
	if strings.HasPrefix(what, "HEAD ") {
		return // no body
	}
	if !json.Valid(r.Body) {
		t.Errorf("%s: %d with a body that is not JSON: %q", what, r.Status, r.Body)
		return
	}
	if r.Status >= 400 {
		var e struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == nil || *e.Error == "" {
			t.Errorf("%s: %d without a non-empty \"error\" string: %s", what, r.Status, r.Body)
		}
	}
}

// expect fails the test unless the reply has the given status.
func (r reply) expect(t *testing.T, status int, what string) reply {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v", what, r.Err)
	}
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
	return r
}

// lockOf decodes a lock (the answer to PUT, DELETE, refresh, GET /lock/x).
func (r reply) lockOf(t *testing.T) lockJSON {
	t.Helper()
	var l lockJSON
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("decoding a lock from %s: %v", r.Body, err)
	}
	return l
}

// errorOf decodes an error answer.
func (r reply) errorOf(t *testing.T) errorJSON {
	t.Helper()
	var e errorJSON
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("decoding an error from %s: %v", r.Body, err)
	}
	return e
}

type holdJSON struct {
	Count    int        `json:"count"`
	Acquired time.Time  `json:"acquired"`
	Expires  *time.Time `json:"expires"`
}

type lockJSON struct {
	Response string              `json:"response"`
	Name     string              `json:"name"`
	Key      string              `json:"key"`
	LockedBy map[string]int      `json:"locked_by"`
	State    string              `json:"state"`
	Fence    uint64              `json:"fence"`
	Expires  *time.Time          `json:"expires"`
	Holds    map[string]holdJSON `json:"holds"`
	Waiters  int                 `json:"waiters"`
}

type errorJSON struct {
	Error string    `json:"error"`
	Lock  *lockJSON `json:"lock"`
}

type eventJSON struct {
	Type    string     `json:"type"`
	Lock    string     `json:"lock"`
	Key     string     `json:"key"`
	Holder  string     `json:"holder"`
	Count   int        `json:"count"`
	Fence   uint64     `json:"fence"`
	Time    time.Time  `json:"time"`
	Expires *time.Time `json:"expires"`
	By      string     `json:"by"`
}

// get returns one lock's state (GET /lock/<escaped name>).
func (s *httpStack) get(t *testing.T, escaped string) lockJSON {
	t.Helper()
	return s.do("GET", "/lock/"+escaped, "").expect(t, 200, "GET /lock/"+escaped).lockOf(t)
}

// list returns GET /locks, each entry raw.
func (s *httpStack) list(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	r := s.do("GET", "/locks", "").expect(t, 200, "GET /locks")
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("GET /locks is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// history returns a lock's events.
func (s *httpStack) history(t *testing.T, escaped string) []eventJSON {
	t.Helper()
	r := s.do("GET", "/lock/"+escaped+"/history", "").expect(t, 200, "history of "+escaped)
	var h struct {
		Name   string      `json:"name"`
		Events []eventJSON `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &h); err != nil {
		t.Fatalf("decoding history %s: %v", r.Body, err)
	}
	return h.Events
}

// eventually polls cond every 10ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jsonBody marshals v for a request body.
func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
