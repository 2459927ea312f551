package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestWaitCutCountsTheRequestsWaitOnly: how long a waiting request had
// waited when it was cut is its own time, not that and the reading back of
// the lock after it (a quarter second's settling, and reads a server
// coming back answers slowly). A gateway error after 0.7s is no proxy
// timeout (under a second: the plain error), though reading back took it
// past a second; one after 1.5s is told as cut after 1.5s, not after the
// reading back too.
func TestWaitCutCountsTheRequestsWaitOnly(t *testing.T) {
	t.Parallel()
	var cutAfter atomic.Int64
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		var slowReads atomic.Bool
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPut && r.URL.Query().Get("wait") != "":
				time.Sleep(time.Duration(cutAfter.Load()))
				slowReads.Store(true)
				http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
				return
			case r.Method == http.MethodGet && slowReads.Load():
				time.Sleep(time.Second)
			}
			h.ServeHTTP(w, r)
		})
	}})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}

	cutAfter.Store(int64(700 * time.Millisecond))
	_, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "b", Wait: time.Minute})
	if errors.As(err, new(*client.WaitCutError)) || !errors.Is(err, client.ErrUnavailable) || !client.Ambiguous(err) {
		t.Errorf("a gateway error after 0.7s: %v; want the plain gateway error, not a cut wait", err)
	}

	cutAfter.Store(int64(1500 * time.Millisecond))
	_, err = c.Acquire(ctx, "prod", client.LockOptions{Key: "b", Wait: time.Minute})
	var cut *client.WaitCutError
	if !errors.As(err, &cut) {
		t.Fatalf("a gateway error after 1.5s: %v; want a *WaitCutError", err)
	}
	if cut.After < 1500*time.Millisecond || cut.After >= 2200*time.Millisecond {
		t.Errorf("cut after %s; want the 1.5s the request waited, not the reading back after it", cut.After)
	}
}
