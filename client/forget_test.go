package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
)

func TestForget(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	first, err := c.Lock(ctx, "pr-1", client.LockOptions{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "held", client.LockOptions{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unlock(ctx, "pr-1", "k", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddMember(ctx, "workers", "w1", nil); err != nil {
		t.Fatal(err)
	}

	_, err = c.Forget(ctx, "held")
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.Key != "k" {
		t.Errorf("ErrLocked without who holds the lock: %+v", ae)
	}
	_, err = c.Forget(ctx, "w1")
	wantOnly(t, err, "ErrBadRequest")
	if ae := apiError(t, err); ae.StatusCode != http.StatusConflict || !strings.Contains(ae.Message, "DELETE /pool/") {
		t.Errorf("forget of a pool member: %+v", ae)
	}
	_, err = c.Forget(ctx, "never")
	wantOnly(t, err, "ErrNotFound")
	if errors.Is(err, client.ErrNoForget) {
		t.Error("a name never seen is taken for a server without forget")
	}

	l, err := c.Forget(ctx, "pr-1")
	if err != nil || l.Name != "pr-1" || !l.Free() || !strings.Contains(l.Message, "forgot") {
		t.Fatalf("Forget: %+v, %v", l, err)
	}
	if _, err := c.Get(ctx, "pr-1"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get after Forget: %v", err)
	}
	again, err := c.Lock(ctx, "pr-1", client.LockOptions{Key: "k"})
	if err != nil || again.Fence <= first.Fence {
		t.Fatalf("taken again: %+v, %v; had fence %d", again, err, first.Fence)
	}
}

func TestForgetAdminOnly(t *testing.T) {
	admin := httpapi.Credentials{User: "root", Pass: "toor"}
	srv := newServer(t, serverConfig{api: httpapi.Config{Admin: admin}})
	ctx := context.Background()
	c := newClient(t, client.Options{URL: srv.URL})
	if _, err := c.Lock(ctx, "x", client.LockOptions{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	c.Unlock(ctx, "x", "k", "")
	_, err := c.Forget(ctx, "x")
	wantOnly(t, err, "ErrForbidden")
	if _, err := newClient(t, client.Options{URL: srv.URL, User: "root", Pass: "toor"}).Forget(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

// TestForgetOlderServer: a server without the route answers 404 "no such
// route", which is no "no such lock": ErrNoForget.
func TestForgetOlderServer(t *testing.T) {
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/forget") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(404)
				w.Write([]byte(`{"error":"no such route: POST /lock/x/forget"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	_, err := newClient(t, client.Options{URL: srv.URL}).Forget(context.Background(), "x")
	if !errors.Is(err, client.ErrNoForget) || !errors.Is(err, client.ErrBadRequest) || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Forget on a server without the route: %v", err)
	}
}
