package resource_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestSilentServerBoundedBySourceTimeout: against a server that takes the
// requests and never answers, a put that waits (a lock, a pool's acquire)
// with a short source.timeout fails within about that timeout and the
// short read back that names the lock's state: the resource's waits pass no
// Wait to the client and are bounded by source.timeout alone, so the
// client's per-request timeouts do not add up there. check, which does
// not wait, is one read within the client's 30s per-request timeout.
// (The bound asserted is generous: the point is no minute of two 30s
// timeouts.)
func TestSilentServerBoundedBySourceTimeout(t *testing.T) {
	t.Parallel()
	srv := silentServer(t)

	cases := []struct {
		what   string
		source obj
		params obj
	}{
		{"lock", obj{"locker_uri": srv.URL, "lock_name": "x", "timeout": "2s"}, lockParams("k", "")},
		{"pool acquire", obj{"locker_uri": srv.URL, "pool": "p", "timeout": "2s"}, obj{"acquire": true, "key": "k"}},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Go(func() {
			start := time.Now()
			r := run(t, request(c.source, c.params, nil), "out", t.TempDir())
			took := time.Since(start)
			t.Logf("out (%s) with source.timeout 2s against a silent server: %s, exit %d:\n%s", c.what, took.Round(time.Millisecond), r.code, r.stderr)
			if r.code == 0 {
				t.Errorf("out (%s) succeeded against a silent server", c.what)
			}
			if took > 20*time.Second {
				t.Errorf("out (%s) with source.timeout 2s against a silent server took %s; want about the timeout and a short read back", c.what, took.Round(time.Second))
			}
		})
	}
	wg.Wait()
}

// silentServer takes requests and never answers them (until the test ends).
func silentServer(t *testing.T) *httptest.Server {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	return srv
}
