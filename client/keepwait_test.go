package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestKeepAsksForTheLeaseNotTheWait: a hold granted after its request
// waited for the lock has a Lock.Lease that counts the wait too (the
// Locker-Lease header); Keep without a TTL of its own renews it for what
// the lease had left when the answer came, the TTL asked (here 1s), not
// for the wait and the lease together: a program that then dies leaves
// the lock held no longer than the lease it asked for.
func TestKeepAsksForTheLeaseNotTheWait(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		asked []string
	)
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refresh") {
				b, _ := io.ReadAll(r.Body)
				var body struct {
					TTL string `json:"ttl"`
				}
				json.Unmarshal(b, &body)
				mu.Lock()
				asked = append(asked, body.TTL)
				mu.Unlock()
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			h.ServeHTTP(w, r)
		})
	}})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "other"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(2 * time.Second)
		c.Unlock(ctx, "prod", "other", "")
	}()
	l, err := c.Acquire(ctx, "prod", client.LockOptions{Key: "k", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if l.Lease < 2*time.Second {
		t.Fatalf("Lease %s: want the wait counted in it", l.Lease)
	}
	k, err := c.Keep(ctx, l, "k", "", client.KeepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 {
		t.Fatal("no renewal sent")
	}
	for _, a := range asked {
		if d, err := time.ParseDuration(a); err != nil || d > time.Second {
			t.Errorf("a renewal asked for a lease of %q; want the 1s lease the hold was taken with", a)
		}
	}
}
