package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestWaitBoundsASilentServer: against a server that takes the connection
// but never answers, lock, pool acquire and run with --wait 0 or --wait 2s
// give up within about the wait and a modest grace, exit 1, and say that
// the server did not answer. They took about a minute: the first read's
// 30s timeout, then the request's own 30s on top of the wait, far from
// what a script that asked --wait 0 ("fail at once if held") expects.
// (The bound asserted is generous: the point is the order of magnitude.)
func TestWaitBoundsASilentServer(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: srv.Close waits for the handlers
	env := map[string]string{"LOCKER_URL": srv.URL}

	cases := [][]string{
		{"lock", "x", "--key", "k", "--wait", "0"},
		{"lock", "x", "--key", "k", "--wait", "2s"},
		{"pool", "acquire", "p", "--key", "k", "--wait", "0"},
		{"run", "x", "--wait", "0", "--", "true"},
	}
	var wg sync.WaitGroup
	for _, args := range cases {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			r := locker(t, ctx, env, args...)
			took := time.Since(start)
			if took > 25*time.Second {
				t.Errorf("locker %q against a silent server took %s; want well under the minute of two 30s timeouts", args, took.Round(time.Second))
			}
			if r.code != 1 {
				t.Errorf("locker %q: exit %d, want 1\n%s", args, r.code, r.stderr)
			}
			t.Logf("locker %q: %s, exit %d: %s", args, took.Round(time.Millisecond), r.code, r.stderr)
		})
	}
	wg.Wait()
}

// TestWaitBoundGrantedUnanswered: a server that grants a --wait 0 lock
// but never answers: the command gives up within the bound all the same,
// reads the lock back and, as for an interrupted wait, leaves the hold
// (lock, whose key and holder may be another's too) naming the command
// that releases it, or gives it back (run, whose holder is its own).
func TestWaitBoundGrantedUnanswered(t *testing.T) {
	t.Parallel()
	target, _ := url.Parse(testServer(t, httpapi.Config{}, lockservice.Config{}))
	rp := httputil.NewSingleHostReverseProxy(target)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r) // granted, the answer kept
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	env := map[string]string{"LOCKER_URL": srv.URL}
	cl, _ := client.New(client.Options{URL: target.String()})
	ctx := context.Background()

	// The two commands wait out the bound at once; their results are
	// checked in turn below.
	var runResult result
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		runResult = locker(t, ctx, env, "run", "h", "--wait", "0", "--", "true")
	}()
	start := time.Now()
	r := locker(t, ctx, env, "lock", "g", "--key", "k", "--wait", "0")
	if took := time.Since(start); took > 25*time.Second {
		t.Errorf("took %s", took.Round(time.Second))
	}
	<-ran
	r.want(t, 1, `^$`, `^locker lock: no answer from the server within 10s \(--wait 0s, and 10s for its answer\): gave up waiting for lock 'g', but the server may have granted it just then: see 'locker status g', and release it with 'locker unlock g --key k --holder k'`)
	if l, _ := cl.Get(ctx, "g"); l.LockedBy["k"] != 1 {
		t.Fatalf("the hold granted was not left as it is: %+v", l)
	}

	r = runResult
	r.want(t, 1, `^$`, `^locker run: no answer from the server within 10s .*gave up waiting for lock 'h' \(it was not taken\)`)
	if l, _ := cl.Get(ctx, "h"); !l.Free() {
		t.Fatalf("run left the hold granted: %+v", l)
	}
}
