package client_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func newServer(t *testing.T, cfg serverConfig) *realServer {
	t.Helper()
	srv, err := startServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return srv
}

func newClient(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func apiError(t *testing.T, err error) *client.APIError {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return ae
}

// sentinels lists every typed error, to check that an error matches exactly
// one.
var sentinels = map[string]error{
	"ErrLocked": client.ErrLocked, "ErrNotFound": client.ErrNotFound, "ErrUnauthorized": client.ErrUnauthorized,
	"ErrForbidden": client.ErrForbidden, "ErrBadRequest": client.ErrBadRequest, "ErrUnavailable": client.ErrUnavailable,
	"ErrUnreachable": client.ErrUnreachable, "ErrStreamDropped": client.ErrStreamDropped,
}

func wantOnly(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	for name, s := range sentinels {
		if got := errors.Is(err, s); got != (name == want) {
			t.Errorf("errors.Is(%v, %s) = %v", err, name, got)
		}
	}
}

func TestEveryMethod(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()

	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k1", Holder: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "prod" || l.Key != "k1" || l.State != "held" || l.LockedBy["a"] != 1 || l.Fence == 0 || l.Legacy {
		t.Fatalf("Lock: %+v", l)
	}
	if l.Since.IsZero() || l.Holds["a"].Expires.IsZero() || l.Expires.IsZero() || !strings.Contains(l.Message, "locked") {
		t.Fatalf("Lock: times or message missing: %+v", l)
	}
	fence := l.Fence

	// Shared key, holder defaults to the key.
	l, err = c.Lock(ctx, "prod", client.LockOptions{Key: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if l.State != "shared" || l.LockedBy["k1"] != 1 || l.Fence != fence {
		t.Fatalf("shared Lock: %+v", l)
	}

	g, err := c.Get(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if g.Key != "k1" || len(g.Holds) != 2 || g.Fence != fence || g.Message != "" {
		t.Fatalf("Get: %+v", g)
	}

	before := g.Holds["a"].Expires
	r, err := c.Refresh(ctx, "prod", "k1", "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Holds["a"].Expires.After(before) || r.LockedBy["a"] != 1 {
		t.Fatalf("Refresh did not extend the lease without counting: %+v", r)
	}

	if _, err := c.Lock(ctx, "staging", client.LockOptions{Key: "k2"}); err != nil {
		t.Fatal(err)
	}
	locks, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 2 || locks[0].Name != "prod" || locks[1].Name != "staging" || locks[1].Fence <= fence {
		t.Fatalf("List: %+v", locks)
	}

	u, err := c.Unlock(ctx, "prod", "k1", "a")
	if err != nil {
		t.Fatal(err)
	}
	if u.State != "held" || u.Holders()[0] != "k1" {
		t.Fatalf("Unlock: %+v", u)
	}
	u, err = c.Unlock(ctx, "prod", "k1", "")
	if err != nil || !u.Free() || u.State != "free" {
		t.Fatalf("Unlock: %+v, %v", u, err)
	}
	u, err = c.Unlock(ctx, "prod", "k1", "")
	if err != nil || !strings.Contains(u.Message, "nothing to unlock") {
		t.Fatalf("Unlock of a free lock: %+v, %v", u, err)
	}

	f, err := c.ForceUnlock(ctx, "staging")
	if err != nil || !f.Free() || !strings.Contains(f.Message, "force-released") {
		t.Fatalf("ForceUnlock: %+v, %v", f, err)
	}

	h, err := c.History(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range h {
		types = append(types, ev.Type+":"+ev.Holder)
	}
	if got, want := strings.Join(types, " "), "acquired:a acquired:k1 refreshed:a released:a released:k1"; got != want {
		t.Fatalf("History: %s, want %s", got, want)
	}
	h, err = c.History(ctx, "staging")
	if err != nil || len(h) != 2 || h[1].Type != "forced" || h[1].By == "" {
		t.Fatalf("History after force: %+v, %v", h, err)
	}
}

func TestNamesAreEscaped(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL + "/"})
	ctx := context.Background()
	// "." and ".." are names too: sent as they are, they would name
	// another path ("/lock/.." is "/").
	for _, name := range []string{"team/prod env", "a?b#c", "100%", "ünïcode", ".", "..", "...", "a/..", "%2E"} {
		if _, err := c.Lock(ctx, name, client.LockOptions{Key: "k"}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		l, err := c.Get(ctx, name)
		if err != nil || l.Name != name {
			t.Fatalf("Get(%q) = %+v, %v", name, l, err)
		}
		if _, err := c.History(ctx, name); err != nil {
			t.Fatalf("History(%q): %v", name, err)
		}
		if _, err := c.Refresh(ctx, name, "k", "", time.Minute); err != nil {
			t.Fatalf("Refresh(%q): %v", name, err)
		}
		if l, err := c.Unlock(ctx, name, "k", ""); err != nil || !l.Free() {
			t.Fatalf("Unlock(%q) = %+v, %v", name, l, err)
		}
		if _, err := c.Lock(ctx, name, client.LockOptions{Key: "k"}); err != nil {
			t.Fatalf("%q again: %v", name, err)
		}
		if l, err := c.ForceUnlock(ctx, name); err != nil || !l.Free() {
			t.Fatalf("ForceUnlock(%q) = %+v, %v", name, l, err)
		}
	}
}

func TestErrLockedCarriesState(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	held, err := c.Lock(ctx, "prod", client.LockOptions{Key: "x", Holder: "deploy-a"})
	if err != nil {
		t.Fatal(err)
	}
	c.Lock(ctx, "prod", client.LockOptions{Key: "x", Holder: "deploy-a"})

	for name, call := range map[string]func() error{
		"Lock":    func() error { _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "y"}); return err },
		"Unlock":  func() error { _, err := c.Unlock(ctx, "prod", "y", ""); return err },
		"Refresh": func() error { _, err := c.Refresh(ctx, "prod", "y", "", time.Minute); return err },
	} {
		err := call()
		wantOnly(t, err, "ErrLocked")
		ae := apiError(t, err)
		if ae.StatusCode != 423 || ae.Lock == nil {
			t.Fatalf("%s: %+v", name, ae)
		}
		if ae.Lock.Name != "prod" || ae.Lock.Key != "x" || ae.Lock.LockedBy["deploy-a"] != 2 || !ae.Lock.Since.Equal(held.Since) || ae.Lock.Fence != held.Fence {
			t.Fatalf("%s: lock state in the error: %+v", name, ae.Lock)
		}
		if !strings.Contains(ae.Message, `"x"`) || !strings.Contains(err.Error(), "(HTTP 423)") {
			t.Fatalf("%s: message %q", name, err)
		}
	}
}

func TestTypedErrors(t *testing.T) {
	ctx := context.Background()
	auth := httpapi.Credentials{User: "ci", Pass: "secret"}
	admin := httpapi.Credentials{User: "root", Pass: "toor"}
	srv := newServer(t, serverConfig{api: httpapi.Config{Auth: auth, Admin: admin}})
	user := newClient(t, client.Options{URL: srv.URL, User: "ci", Pass: "secret"})
	if _, err := user.Lock(ctx, "prod", client.LockOptions{Key: "k"}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		call   func() error
		want   string
		status int
		msg    string
	}{
		{"no credentials", func() error { _, err := newClient(t, client.Options{URL: srv.URL}).List(ctx); return err }, "ErrUnauthorized", 401, "authentication required"},
		{"wrong password", func() error {
			_, err := newClient(t, client.Options{URL: srv.URL, User: "ci", Pass: "nope"}).Get(ctx, "prod")
			return err
		}, "ErrUnauthorized", 401, "wrong user name or password"},
		{"force as user", func() error { _, err := user.ForceUnlock(ctx, "prod"); return err }, "ErrForbidden", 403, "admin"},
		{"get unknown", func() error { _, err := user.Get(ctx, "nope"); return err }, "ErrNotFound", 404, `no lock named "nope"`},
		{"history unknown", func() error { _, err := user.History(ctx, "nope"); return err }, "ErrNotFound", 404, "nope"},
		{"refresh nothing held", func() error { _, err := user.Refresh(ctx, "prod", "k", "other", time.Minute); return err }, "ErrNotFound", 404, "holds nothing"},
		{"empty key", func() error { _, err := user.Lock(ctx, "prod", client.LockOptions{}); return err }, "ErrBadRequest", 400, `missing "key"`},
		{"control character", func() error { _, err := user.Lock(ctx, "a\x01b", client.LockOptions{Key: "k"}); return err }, "ErrBadRequest", 400, "control characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantOnly(t, err, tc.want)
			ae := apiError(t, err)
			if ae.StatusCode != tc.status || !strings.Contains(ae.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", ae.StatusCode, ae.Message, tc.status, tc.msg)
			}
		})
	}

	// The admin may force.
	adminC := newClient(t, client.Options{URL: srv.URL, User: "root", Pass: "toor"})
	if l, err := adminC.ForceUnlock(ctx, "prod"); err != nil || !l.Free() {
		t.Fatalf("admin ForceUnlock: %+v, %v", l, err)
	}
	// Credentials in the URL work too.
	inURL := newClient(t, client.Options{URL: strings.Replace(srv.URL, "http://", "http://ci:secret@", 1)})
	if _, err := inURL.List(ctx); err != nil {
		t.Fatalf("credentials in the URL: %v", err)
	}
	if strings.Contains(inURL.URL(), "secret") {
		t.Fatalf("URL() shows the password: %s", inURL.URL())
	}
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, serverConfig{svc: lockservice.Config{MaxWaitersPerLock: 1}})
	c := newClient(t, client.Options{URL: srv.URL})
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Lock(waitCtx, "prod", client.LockOptions{Key: "b", Wait: time.Minute})
		done <- err
	}()
	waitFor(t, func() bool { l, err := c.Get(ctx, "prod"); return err == nil && l.Waiters == 1 })

	_, err := c.Lock(ctx, "prod", client.LockOptions{Key: "c", Wait: time.Minute})
	wantOnly(t, err, "ErrUnavailable")
	if ae := apiError(t, err); ae.StatusCode != 503 || !strings.Contains(ae.Message, "too many requests waiting") {
		t.Fatalf("%+v", ae)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	// The cancelled waiter left the queue and never took the lock.
	waitFor(t, func() bool { l, err := c.Get(ctx, "prod"); return err == nil && l.Waiters == 0 })
	if l, _ := c.Get(ctx, "prod"); l.Key != "a" {
		t.Fatalf("lock after a cancelled wait: %+v", l)
	}

	// Other 5xx, and answers that are not JSON (a proxy's), are
	// ErrUnavailable with a readable message.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = newClient(t, client.Options{URL: proxy.URL}).List(ctx)
	wantOnly(t, err, "ErrUnavailable")
	if ae := apiError(t, err); ae.StatusCode != 502 || ae.Message != "upstream connect error" {
		t.Fatalf("%+v", ae)
	}
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<html><body>oops</body></html>"))
	}))
	defer html.Close()
	_, err = newClient(t, client.Options{URL: html.URL}).List(ctx)
	wantOnly(t, err, "ErrUnavailable")
	if ae := apiError(t, err); ae.Message != "Internal Server Error" {
		t.Fatalf("%+v", ae)
	}
}

func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, client.Options{URL: addr})
	_, err = c.List(ctx)
	wantOnly(t, err, "ErrUnreachable")
	if want := "cannot reach locker at http://" + addr + " (connection refused)"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	var ce *client.ConnError
	if !errors.As(err, &ce) || ce.URL != "http://"+addr {
		t.Fatalf("not a *ConnError: %#v", err)
	}

	// A server that does not answer in time.
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stuck.Close()
	defer stuck.CloseClientConnections()
	_, err = newClient(t, client.Options{URL: stuck.URL, Timeout: 50 * time.Millisecond}).Get(ctx, "x")
	wantOnly(t, err, "ErrUnreachable")
	if !strings.HasSuffix(err.Error(), "(no answer within 50ms)") {
		t.Fatalf("got %q", err)
	}

	// The caller's context ending is not the server's fault.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = newClient(t, client.Options{URL: stuck.URL}).Get(cctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("got %v", err)
	}
}

func TestTLS(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, serverConfig{tls: true, api: httpapi.Config{Auth: httpapi.Credentials{User: "u", Pass: "p"}}})
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	c := newClient(t, client.Options{URL: srv.URL, CACert: caPEM, User: "u", Pass: "p"})
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k"}); err != nil {
		t.Fatalf("with the CA: %v", err)
	}

	_, err := newClient(t, client.Options{URL: srv.URL, User: "u", Pass: "p"}).List(ctx)
	wantOnly(t, err, "ErrUnreachable")
	if !strings.Contains(err.Error(), "certificate is signed by an unknown authority") {
		t.Fatalf("without the CA: %v", err)
	}

	insecure := newClient(t, client.Options{URL: srv.URL, InsecureSkipVerify: true, User: "u", Pass: "p"})
	if l, err := insecure.Get(ctx, "prod"); err != nil || l.Key != "k" {
		t.Fatalf("skip-verify: %+v, %v", l, err)
	}

	// http:// to the TLS server: Go's 400, and what to do about it.
	_, err = newClient(t, client.Options{URL: strings.Replace(srv.URL, "https://", "http://", 1)}).List(ctx)
	if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "the server speaks HTTPS: use an https:// URL") {
		t.Fatalf("http:// to an HTTPS server: %v", err)
	}

	// TLS and auth: a trusted server still wants the credentials.
	_, err = newClient(t, client.Options{URL: srv.URL, CACert: caPEM}).List(ctx)
	wantOnly(t, err, "ErrUnauthorized")

	if _, err := client.New(client.Options{URL: srv.URL, CACert: []byte("not a PEM")}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad CA: %v", err)
	}
	if _, err := client.New(client.Options{URL: srv.URL, CACert: caPEM, HTTPClient: srv.Client()}); err == nil {
		t.Fatal("CACert with an HTTPClient: no error")
	}
	// A caller's own HTTP client.
	own := newClient(t, client.Options{URL: srv.URL, HTTPClient: srv.Client(), User: "u", Pass: "p"})
	if _, err := own.List(ctx); err != nil {
		t.Fatalf("own HTTP client: %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "http://x/?a=b"} {
		if _, err := client.New(client.Options{URL: u}); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
	// The message names the URL, never its password.
	for _, u := range []string{"ftp://u:Pw-SECRET@host", "http://u:Pw%SECRET@host", "http://u:Pw-SECRET@host/?a", "http://u:Pw/SECRET@", "https://u:Pw%zzSECRET@h:99999",
		"//u:Pw-SECRET@host", "/u:Pw-SECRET@host", "http:/u:Pw-SECRET@host", "u:Pw-SECRET@host/x@y", "http://host/u:Pw-SECRET@x"} {
		_, err := client.New(client.Options{URL: u})
		if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "Pw") || !strings.Contains(err.Error(), "***@") {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	for raw, want := range map[string]string{
		"https://u:p@host/x":  "https://***@host/x",
		"u:p@host":            "u:***@host", // "u:" read as a scheme; the password is hidden all the same
		"//u:p@host":          "//***@host",
		"http:/u:p@host":      "http:/***@host",
		"http://u:p/q@r@host": "http://***@host",
		"http://host/base":    "http://host/base",
	} {
		if got := client.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
	// A user part still works.
	if c := newClient(t, client.Options{URL: "http://u:p@locker.example.com"}); c.URL() != "http://locker.example.com" {
		t.Errorf("URL() = %q", c.URL())
	}
	c := newClient(t, client.Options{URL: "locker.example.com:3000/base/"})
	if c.URL() != "http://locker.example.com:3000/base" {
		t.Fatalf("URL() = %q", c.URL())
	}
}

func TestAcquireWaitsForRelease(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	first, err := c.Lock(ctx, "prod", client.LockOptions{Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *client.Lock, 1)
	errc := make(chan error, 1)
	go func() {
		l, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "b", Holder: "job-2"})
		got <- l
		errc <- err
	}()
	waitFor(t, func() bool { l, err := c.Get(ctx, "prod"); return err == nil && l.Waiters == 1 })
	select {
	case <-got:
		t.Fatal("Acquire returned while the lock was held")
	default:
	}
	if _, err := c.Unlock(ctx, "prod", "a", ""); err != nil {
		t.Fatal(err)
	}
	l := <-got
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if l.Key != "b" || l.LockedBy["job-2"] != 1 || l.Fence <= first.Fence {
		t.Fatalf("Acquire: %+v", l)
	}
}

func TestAcquireAsksAgainInChunks(t *testing.T) {
	// The server caps waits at 100ms and the client asks for 50ms at a time:
	// Acquire must keep asking until the lock is free.
	srv := newServer(t, serverConfig{svc: lockservice.Config{MaxWait: 100 * time.Millisecond}})
	var puts atomic.Int32
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			puts.Add(1)
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer counting.Close()
	c := newClient(t, client.Options{URL: counting.URL, WaitChunk: 50 * time.Millisecond})
	ctx := context.Background()
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "b"})
		done <- err
	}()
	waitFor(t, func() bool { return puts.Load() >= 5 })
	c.Unlock(ctx, "prod", "a", "")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Get(ctx, "prod"); l.Key != "b" {
		t.Fatalf("%+v", l)
	}
}

func TestAcquireGivesUp(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "a", Holder: "deploy-a"}); err != nil {
		t.Fatal(err)
	}

	// o.Wait runs out: the server's refusal, with who holds the lock.
	_, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "b", Wait: 200 * time.Millisecond})
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.LockedBy["deploy-a"] != 1 || !strings.Contains(ae.Message, "gave up after waiting") {
		t.Fatalf("%+v", ae)
	}

	// ctx runs out: its error, and who holds the lock.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.Acquire(dctx, "prod", client.LockOptions{Key: "b"})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrLocked) {
		t.Fatalf("got %v", err)
	}
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.Key != "a" {
		t.Fatalf("%+v", ae)
	}

	// ctx cancelled: at once, and the waiter leaves the queue.
	cctx, cancel2 := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.Acquire(cctx, "prod", client.LockOptions{Key: "b"})
		done <- err
	}()
	waitFor(t, func() bool { l, err := c.Get(ctx, "prod"); return err == nil && l.Waiters == 1 })
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	waitFor(t, func() bool { l, err := c.Get(ctx, "prod"); return err == nil && l.Waiters == 0 })
	if l, _ := c.Get(ctx, "prod"); l.Key != "a" {
		t.Fatalf("%+v", l)
	}

	// Errors other than a refusal end Acquire at once.
	_, err = c.Acquire(ctx, "prod", client.LockOptions{})
	wantOnly(t, err, "ErrBadRequest")
}

func TestAcquireRetriesUnavailable(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	var fails atomic.Int32
	fails.Store(2)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && fails.Add(-1) >= 0 {
			http.Error(w, `{"error":"the server is shutting down; try again"}`, http.StatusServiceUnavailable)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	c := newClient(t, client.Options{URL: flaky.URL})
	l, err := c.Acquire(context.Background(), "prod", client.LockOptions{Key: "k", Wait: time.Minute})
	if err != nil || l.Key != "k" {
		t.Fatalf("%+v, %v", l, err)
	}
	if fails.Load() >= 0 {
		t.Fatalf("the 503s were not all seen: %d left", fails.Load())
	}
}

// legacyServer behaves like the original locker: no waits, leases, fences
// or GET /lock/<name>; 423 with only {"error": ...}; and it keeps holders
// whose count went back to zero.
type legacyServer struct {
	mu    sync.Mutex
	locks map[string]*legacyLock
	puts  int
}

type legacyLock struct {
	LockedBy map[string]int `json:"locked_by"`
	Key      string         `json:"key"`
}

func (s *legacyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Method == http.MethodGet && r.URL.Path == "/locks" {
		reply(200, s.locks)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/lock/")
	if !ok || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
		http.NotFound(w, r)
		return
	}
	var in struct {
		Key      string `json:"key"`
		LockBy   string `json:"lock_by"`
		LockedBy string `json:"locked_by"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	holder := in.LockBy + in.LockedBy
	if holder == "" {
		holder = in.Key
	}
	if r.Method == http.MethodPut {
		s.puts++
	}
	l := s.locks[name]
	if l == nil {
		l = &legacyLock{LockedBy: map[string]int{}}
		s.locks[name] = l
	}
	if l.Key != "" && l.Key != in.Key {
		reply(423, map[string]string{"error": "Attempt to steal lock for '" + name + "' thwarted. Currently held by someone else"})
		return
	}
	if r.Method == http.MethodPut {
		l.Key = in.Key
		l.LockedBy[holder]++
		reply(200, map[string]string{"response": "lock for " + name + " acquired by " + holder})
		return
	}
	l.LockedBy[holder] = 0
	total := 0
	for _, n := range l.LockedBy {
		total += n
	}
	if total == 0 {
		l.Key = ""
	}
	reply(200, map[string]string{"response": "Lock released on " + name})
}

func TestLegacyServer(t *testing.T) {
	legacy := &legacyServer{locks: map[string]*legacyLock{}}
	srv := httptest.NewServer(legacy)
	defer srv.Close()
	ctx := context.Background()
	c := newClient(t, client.Options{URL: srv.URL, PollInterval: 20 * time.Millisecond})

	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "a", Wait: time.Minute, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Legacy || l.Fence != 0 || l.Message != "lock for prod acquired by a" {
		t.Fatalf("Lock: %+v", l)
	}

	// It answers 423 at once whatever the wait: Acquire polls, without
	// hammering the server.
	start := time.Now()
	_, err = c.Acquire(ctx, "prod", client.LockOptions{Key: "b", Wait: 300 * time.Millisecond})
	elapsed := time.Since(start)
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock != nil || !strings.Contains(ae.Message, "thwarted") {
		t.Fatalf("%+v", ae)
	}
	legacy.mu.Lock()
	puts := legacy.puts - 1 // the Lock above
	legacy.mu.Unlock()
	if puts < 2 {
		t.Fatalf("%d attempts: Acquire did not poll", puts)
	}
	// At most one attempt per 16ms (20ms less jitter), plus the first.
	if max := int(elapsed/(16*time.Millisecond)) + 2; puts > max {
		t.Fatalf("%d attempts in %s: Acquire does not wait between polls", puts, elapsed)
	}

	done := make(chan error, 1)
	go func() {
		_, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "b"})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := c.Unlock(ctx, "prod", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Unlock(ctx, "prod", "b", "")

	// Zero counts left behind by the original server are not holders.
	locks, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].Name != "prod" || !locks[0].Free() || locks[0].State != "free" || len(locks[0].LockedBy) != 0 || !locks[0].Legacy {
		t.Fatalf("List: %+v", locks)
	}
	// Its 404 is plain text: readable still.
	_, err = c.Get(ctx, "prod")
	wantOnly(t, err, "ErrNotFound")
	if ae := apiError(t, err); ae.Message != "404 page not found" {
		t.Fatalf("%+v", ae)
	}
}

func TestEvents(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan client.Event, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Events(ctx, func(ev client.Event) error { events <- ev; return nil })
	}()
	// Wait for the subscription: lock a probe until an event arrives.
	waitFor(t, func() bool {
		c.Lock(ctx, "probe", client.LockOptions{Key: "k"})
		select {
		case <-events:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	for len(events) > 0 {
		<-events
	}
	c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "h", TTL: time.Minute})
	c.Refresh(ctx, "prod", "k", "h", time.Hour)
	c.Unlock(ctx, "prod", "k", "h")
	var got []string
	for len(got) < 3 {
		select {
		case ev := <-events:
			if ev.Lock == "prod" {
				got = append(got, ev.Type+":"+ev.Holder)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far: %v", got)
		}
	}
	if strings.Join(got, " ") != "acquired:h refreshed:h released:h" {
		t.Fatalf("events: %v", got)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Events after cancel: %v", err)
	}

	// fn's error ends the stream.
	stop := errors.New("stop")
	res := make(chan error, 1)
	go func() { res <- c.Events(context.Background(), func(client.Event) error { return stop }) }()
	var err error
	waitFor(t, func() bool {
		c.Lock(context.Background(), "prod", client.LockOptions{Key: "k"})
		select {
		case err = <-res:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	if err != stop {
		t.Fatalf("Events returned %v, want fn's error", err)
	}

	// Errors from the server are typed.
	auth := newServer(t, serverConfig{api: httpapi.Config{Auth: httpapi.Credentials{User: "u", Pass: "p"}}})
	err = newClient(t, client.Options{URL: auth.URL}).Events(context.Background(), func(client.Event) error { return nil })
	wantOnly(t, err, "ErrUnauthorized")
}

// TestEventsStreamEnds: however the server ends a stream, Events says so
// with an error matching ErrStreamDropped (reconnect and read again), and
// its message gives the server's reason.
func TestEventsStreamEnds(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	subscribed := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Events(context.Background(), func(client.Event) error {
			select {
			case subscribed <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	waitFor(t, func() bool {
		c.Lock(context.Background(), "probe", client.LockOptions{Key: "k"})
		select {
		case <-subscribed:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	srv.svc.Close() // the server begins to stop
	select {
	case err := <-errc:
		wantOnly(t, err, "ErrStreamDropped")
		if !strings.Contains(err.Error(), "the server is stopping") {
			t.Fatalf("Events as the server stops: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events goes on after the server began to stop")
	}

	fellBehind := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 1000\n: connected\n\nevent: dropped\ndata: {\"error\":\"this stream fell behind and was dropped; reconnect\"}\n\n")
	}))
	defer fellBehind.Close()
	err := newClient(t, client.Options{URL: fellBehind.URL}).Events(context.Background(), func(client.Event) error { return nil })
	wantOnly(t, err, "ErrStreamDropped")
	if !strings.Contains(err.Error(), "this stream fell behind") {
		t.Fatalf("Events on a dropped stream: %v", err)
	}
}

func TestReasonIsShort(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New(`Put "http://127.0.0.1:1/lock/x": EOF`), "EOF"},
	} {
		if got := client.Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if !regexp.MustCompile(`^cannot reach locker at http://x \(EOF\)$`).MatchString((&client.ConnError{URL: "http://x", Err: errors.New(`Get "http://x/locks": EOF`)}).Error()) {
		t.Fatal("ConnError message")
	}
}

// waitFor polls cond until it holds, failing after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedirects: an address that redirects (http to https, an old host
// name) must never make a change look done. Go's client follows 301, 302
// and 303 as a GET, whose 200 (the lock's state) would pass for a granted
// PUT or DELETE; 307 and 308 keep the method and body.
func TestRedirects(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, serverConfig{})
	real := newClient(t, client.Options{URL: srv.URL})
	if _, err := real.Lock(ctx, "prod", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{301, 302, 303, 307, 308} {
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, srv.URL+r.URL.RequestURI(), code)
		}))
		defer redirect.Close()
		c := newClient(t, client.Options{URL: redirect.URL})
		_, lockErr := c.Lock(ctx, "prod", client.LockOptions{Key: "b"})
		_, unlockErr := c.Unlock(ctx, "prod", "a", "")
		if code == 307 || code == 308 {
			// Followed with the method: the server's own answers.
			wantOnly(t, lockErr, "ErrLocked")
			if unlockErr != nil {
				t.Fatalf("%d: unlock: %v", code, unlockErr)
			}
			if _, err := real.Lock(ctx, "prod", client.LockOptions{Key: "a"}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for what, err := range map[string]error{"lock": lockErr, "unlock": unlockErr} {
			wantOnly(t, err, "ErrBadRequest")
			// It names the address to use: the server's URL, not the
			// request's (srv.URL/lock/prod?...).
			if ae := apiError(t, err); ae.StatusCode != code || !strings.Contains(ae.Message, "redirect") || !strings.HasSuffix(ae.Message, "as the server's URL: "+srv.URL) {
				t.Errorf("%d: %s: %+v", code, what, ae)
			}
		}
		if l, err := real.Get(ctx, "prod"); err != nil || l.Key != "a" || l.LockedBy["a"] != 1 {
			t.Fatalf("%d: after the redirected requests the lock is %+v, %v; want held once by a", code, l, err)
		}
	}
	// Reads may follow any redirect.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer redirect.Close()
	if l, err := newClient(t, client.Options{URL: redirect.URL}).Get(ctx, "prod"); err != nil || l.Key != "a" {
		t.Fatalf("a read through a 301: %+v, %v", l, err)
	}
}

// TestNegativeTTLRefused: a negative TTL (a time.Until in the past) is
// refused before anything is sent, rather than sent as none: a hold that
// would never expire.
func TestNegativeTTLRefused(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	o := client.LockOptions{Key: "k", TTL: -time.Second}
	if _, err := c.Lock(ctx, "neg", o); !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "LockOptions.TTL is negative (-1s)") {
		t.Fatalf("Lock with a negative TTL: %v", err)
	}
	if _, err := c.Acquire(ctx, "neg", o); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("Acquire with a negative TTL: %v", err)
	}
	if _, err := c.AddMember(ctx, "p", "m", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireFromPool(ctx, "p", o); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("AcquireFromPool with a negative TTL: %v", err)
	}
	if _, err := c.Get(ctx, "neg"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the lock exists after refused requests: %v", err)
	}
	if m, err := c.Get(ctx, "m"); err != nil || !m.Free() {
		t.Fatalf("the member after a refused request: %+v, %v", m, err)
	}
}

// TestNegativeWaitIsNoWait: a negative Wait (a time.Until of a deadline
// past) asks once and returns the refusal, for Acquire and AcquireFromPool
// as for Lock, instead of waiting until ctx ends (for ever with
// context.Background). A non-positive ttl for Refresh is ErrBadRequest.
func TestNegativeWaitIsNoWait(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.AddMember(ctx, "p", "m", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"neg", "m"} {
		if _, err := c.Lock(ctx, name, client.LockOptions{Key: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	o := client.LockOptions{Key: "b", Wait: -time.Second}
	if _, err := c.Lock(ctx, "neg", o); !errors.Is(err, client.ErrLocked) {
		t.Fatalf("Lock with a negative wait: %v", err)
	}
	if _, err := c.Acquire(ctx, "neg", o); !errors.Is(err, client.ErrLocked) || ctx.Err() != nil {
		t.Fatalf("Acquire with a negative wait: %v (ctx: %v)", err, ctx.Err())
	}
	if _, err := c.AcquireFromPool(ctx, "p", o); !errors.Is(err, client.ErrLocked) || ctx.Err() != nil {
		t.Fatalf("AcquireFromPool with a negative wait: %v (ctx: %v)", err, ctx.Err())
	}
	if _, err := c.Refresh(ctx, "neg", "a", "", 0); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("Refresh without a ttl: %v", err)
	}
}

// TestAcquireStopsAtTooManyLogins: a 429 for too many failed logins ends
// Acquire at once, rather than being waited out as a server that is busy
// (a client review saw wrong credentials tried again for 20 s, each try
// one more failure).
func TestAcquireStopsAtTooManyLogins(t *testing.T) {
	var puts atomic.Int32
	count := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				puts.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := newServer(t, serverConfig{wrap: count, api: httpapi.Config{Auth: httpapi.Credentials{User: "u", Pass: "p"}, AuthLimit: httpapi.AuthLimit{PerMinute: 1, Burst: 1}}})
	c := newClient(t, client.Options{URL: srv.URL, User: "u", Pass: "wrong"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "x"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("a wrong password: %v", err)
	}
	_, err := c.Acquire(ctx, "x", client.LockOptions{Key: "k"})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ctx.Err() != nil || puts.Load() != 1 {
		t.Fatalf("Acquire past the failed-login limit: %v after %d PUTs (ctx: %v), want the 429 of the first", err, puts.Load(), ctx.Err())
	}
}

// TestInvalidUTF8IsRefused: a key or holder that is not valid UTF-8 would
// be sent with U+FFFD in place of its bad bytes (encoding/json's way), as
// another key: two different ones would then share the lock. The client
// refuses it, and sends nothing.
func TestInvalidUTF8IsRefused(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	for _, tc := range []struct {
		what string
		call func() error
	}{
		{"Lock key", func() error { _, err := c.Lock(ctx, "u", client.LockOptions{Key: "job\xff"}); return err }},
		{"Acquire holder", func() error {
			_, err := c.Acquire(ctx, "u", client.LockOptions{Key: "k", Holder: "deploy\xe9", Wait: time.Second})
			return err
		}},
		{"LockFromPool key", func() error { _, err := c.LockFromPool(ctx, "p", client.LockOptions{Key: "job\xfe"}); return err }},
		{"Unlock key", func() error { _, err := c.Unlock(ctx, "u", "job\xff", ""); return err }},
		{"Refresh holder", func() error { _, err := c.Refresh(ctx, "u", "k", "h\xff", time.Minute); return err }},
	} {
		err := tc.call()
		if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("%s with invalid UTF-8: %v, want ErrBadRequest saying so", tc.what, err)
		}
	}
	if locks, err := c.List(ctx); err != nil || len(locks) != 0 {
		t.Errorf("locks after refused requests: %+v, %v; want none", locks, err)
	}
	// A name too long for any server's request line is refused unsent, not
	// sent to have the connection cut (an outcome the client cannot tell).
	long := strings.Repeat("n", 70<<10)
	if _, err := c.Lock(ctx, long, client.LockOptions{Key: "k"}); !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "not sent") || strings.Contains(err.Error(), long[:600]) {
		t.Errorf("Lock of a 70 KiB name: %.300v, want ErrBadRequest saying it was not sent, without the name", err)
	}
	// U+FFFD itself, and any valid text, is sent as it is.
	if l, err := c.Lock(ctx, "u", client.LockOptions{Key: "job\uFFFD", Holder: "déploiement"}); err != nil || l.Key != "job\uFFFD" {
		t.Errorf("valid UTF-8: %+v, %v", l, err)
	}
}
