package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// locker healthcheck takes no arguments: one given (a port meant for PORT,
// say) is refused as a bad command line, not ignored while it checks
// another server.
func TestHealthcheckArguments(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	env := map[string]string{"LOCKER_LISTEN": u.Host}
	ctx := context.Background()
	locker(t, ctx, env, "healthcheck").want(t, 0, `^ok: http://`, `^$`)
	locker(t, ctx, env, "healthcheck", "3001").want(t, 2, `^$`, `^locker: locker healthcheck takes no arguments \(got \["3001"\]\)`)
}

// LOCKER_LISTEN=[::1], an IPv6 address in brackets without a port, is the
// server's address with PORT, as it is for the server: the check asked
// http://[[::1]]:PORT, an invalid URL, and failed against a live server.
func TestHealthcheckBracketedListen(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	env := map[string]string{"LOCKER_LISTEN": "[::1]", "PORT": port}
	locker(t, context.Background(), env, "healthcheck").want(t, 0, `^ok: http://\[::1\]:`+port+`/healthz`, `^$`)
}
