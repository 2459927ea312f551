package cli

import (
	"context"
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
