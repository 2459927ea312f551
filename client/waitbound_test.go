package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// silentServer takes every request and never answers it. puts reports
// whether a PUT to path reached it.
func silentServer(t *testing.T) (srv *httptest.Server, puts func(path string) bool) {
	stop := make(chan struct{})
	var got sync.Map
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			got.Store(r.URL.Path, true)
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: srv.Close waits for the handlers
	return srv, func(path string) bool { _, ok := got.Load(path); return ok }
}

// TestAcquireBoundsASilentServer: Acquire and AcquireFromPool with a Wait
// against a server that takes the requests and never answers give up
// within about the wait and one Options.Timeout (the grace for the
// answer), then the read back: not the first read's Timeout, then the
// request's own on top of the wait, then the read back's (with the
// default 30s, a minute for a Wait of a nanosecond or of 2s). The error
// matches ErrNoAnswer (and context.DeadlineExceeded, as a request's own
// timeout does) and, when the request that waits had gone out (the first
// read timed out, so the lock could not be judged), ErrMaybeHeld: never
// "not taken". (The bound asserted is generous: the point is one Timeout,
// not two.)
func TestAcquireBoundsASilentServer(t *testing.T) {
	t.Parallel()
	srv, puts := silentServer(t)
	const timeout = 10 * time.Second
	c := newClient(t, client.Options{URL: srv.URL, Timeout: timeout})
	ctx := context.Background()
	type call struct {
		what, path string
		wait       time.Duration
		do         func(ctx context.Context, o client.LockOptions) (*client.Lock, error)
	}
	lock := func(name string) func(ctx context.Context, o client.LockOptions) (*client.Lock, error) {
		return func(ctx context.Context, o client.LockOptions) (*client.Lock, error) { return c.Acquire(ctx, name, o) }
	}
	pool := func(ctx context.Context, o client.LockOptions) (*client.Lock, error) {
		return c.AcquireFromPool(ctx, "p", o)
	}
	calls := []call{
		{"Acquire", "/lock/a", time.Nanosecond, lock("a")},
		{"Acquire", "/lock/b", -1, lock("b")},
		{"Acquire", "/lock/c", 2 * time.Second, lock("c")},
		{"AcquireFromPool", "/pool/p", time.Nanosecond, pool},
	}
	var wg sync.WaitGroup
	for _, cl := range calls {
		wg.Go(func() {
			start := time.Now()
			l, err := cl.do(ctx, client.LockOptions{Key: "k", Wait: cl.wait})
			took := time.Since(start)
			t.Logf("%s with Wait %s against a silent server: %s: %v", cl.what, cl.wait, took.Round(time.Millisecond), err)
			if l != nil || !errors.Is(err, client.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s with Wait %s: %+v, %v; want an error matching ErrNoAnswer and context.DeadlineExceeded", cl.what, cl.wait, l, err)
			}
			if sent := puts(cl.path); sent != errors.Is(err, client.ErrMaybeHeld) {
				t.Errorf("%s with Wait %s: the request was sent: %v; but the error matches ErrMaybeHeld: %v (%v)", cl.what, cl.wait, sent, !sent, err)
			}
			if limit := max(cl.wait, 0) + timeout*3/2; took > limit {
				t.Errorf("%s with Wait %s against a silent server took %s; want within the wait and one Timeout (%s), and the read back: under %s", cl.what, cl.wait, took.Round(time.Second), timeout, limit)
			}
		})
	}
	wg.Wait()
}

// TestAcquireBoundGrantedUnanswered: a server that grants the request but
// never answers it: Acquire gives up at the wait and Options.AnswerGrace,
// reads the lock back and, as when ctx ends, reports the hold it finds
// (ErrMaybeHeld with the lock, and ErrNoAnswer), leaving it held; with
// OwnKey, it gives the hold back, and says nothing is held. The same for
// a pool's member.
func TestAcquireBoundGrantedUnanswered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var silent atomic.Bool
	srv := newServer(t, serverConfig{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPut || !silent.Load() {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(httptest.NewRecorder(), r) // granted, the answer kept
			<-r.Context().Done()
		})
	}})
	direct := newClient(t, client.Options{URL: srv.URL})
	c := newClient(t, client.Options{URL: srv.URL, AnswerGrace: time.Second})
	if _, err := direct.AddMember(ctx, "p", "m", nil); err != nil {
		t.Fatal(err)
	}
	silent.Store(true)

	type call struct {
		what, name string
		do         func(o client.LockOptions) (*client.Lock, error)
	}
	calls := []call{
		{"Acquire", "x", func(o client.LockOptions) (*client.Lock, error) { return c.Acquire(ctx, "x", o) }},
		{"Acquire", "y", func(o client.LockOptions) (*client.Lock, error) { return c.Acquire(ctx, "y", o) }},
		{"AcquireFromPool", "m", func(o client.LockOptions) (*client.Lock, error) { return c.AcquireFromPool(ctx, "p", o) }},
	}
	for _, cl := range calls {
		for _, own := range []bool{false, true} {
			if cl.name == "y" && !own || cl.name == "x" && own {
				continue // one each, the member both ways
			}
			key := "k" + cl.name
			l, err := cl.do(client.LockOptions{Key: key, Wait: time.Nanosecond, OwnKey: own})
			if l != nil || !errors.Is(err, client.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s (OwnKey %v): %+v, %v; want ErrNoAnswer", cl.what, own, l, err)
			}
			got, gerr := direct.Get(ctx, cl.name)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if own {
				if errors.Is(err, client.ErrMaybeHeld) || !got.Free() {
					t.Errorf("%s with OwnKey: %v; the lock is %+v: want the grant given back", cl.what, err, got)
				}
				continue
			}
			var mh *client.MaybeHeldError
			if !errors.As(err, &mh) || mh.Lock == nil || mh.Lock.Name != cl.name || got.LockedBy[key] != 1 || mh.Lock.Fence != got.Fence {
				t.Errorf("%s: %v; the lock is %+v: want a *MaybeHeldError naming the hold, left held", cl.what, err, got)
			}
			if _, err := direct.Unlock(ctx, cl.name, key, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAcquireBoundOriginalLocker: the original locker, whose locks cannot
// be read back, taking a request and never answering: the wait gives up
// at the bound, and the error says the server may have granted it.
func TestAcquireBoundOriginalLocker(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.NotFound(w, r) // no GET /lock/NAME
			return
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	c := newClient(t, client.Options{URL: srv.URL, AnswerGrace: time.Second})
	_, err := c.Acquire(context.Background(), "x", client.LockOptions{Key: "k", Wait: time.Nanosecond})
	if !errors.Is(err, client.ErrNoAnswer) || !errors.Is(err, client.ErrMaybeHeld) {
		t.Fatalf("%v; want ErrNoAnswer and ErrMaybeHeld", err)
	}
}
