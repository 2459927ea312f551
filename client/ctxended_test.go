package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestCancelledAfterSendingIsAmbiguous: a change whose context ends after
// it was sent, before its answer came, may have been made (here the
// server released the hold, and its answer was slow): the error matches
// ctx's and Ambiguous says so, so that the caller does not send the
// release again (a second one would give back another count of the key
// and holder). One whose context had ended before anything was sent is a
// plain ctx error.
func TestCancelledAfterSendingIsAmbiguous(t *testing.T) {
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodDelete {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(discard{w.Header()}, r) // done, then a slow answer
			<-r.Context().Done()
		})
	}})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	for range 2 {
		if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	uctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := c.Unlock(uctx, "prod", "k", "")
	if !errors.Is(err, context.DeadlineExceeded) || !client.Ambiguous(err) {
		t.Errorf("Unlock whose ctx ended before the answer: %v, Ambiguous %v; want ctx's error, ambiguous", err, client.Ambiguous(err))
	}
	if now, err := c.Get(ctx, "prod"); err != nil || now.LockedBy["k"] != 1 {
		t.Fatalf("the lock after it: %+v, %v; want one of the two holds released", now, err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Unlock(done, "prod", "k", "")
	if !errors.Is(err, context.Canceled) || client.Ambiguous(err) {
		t.Errorf("Unlock with ctx ended before it was sent: %v, Ambiguous %v; want ctx's error, not ambiguous", err, client.Ambiguous(err))
	}
}

// discard is a ResponseWriter that drops the answer.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
