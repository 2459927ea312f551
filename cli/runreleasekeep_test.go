package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// outageProxy passes requests on to url, but hangs up on every request
// until downUntil, and on reads (GET) until readsDownUntil (times as
// UnixNano; 0: not down).
type outageProxy struct {
	URL                       string
	downUntil, readsDownUntil atomic.Int64
}

func newOutageProxy(t *testing.T, url string) *outageProxy {
	t.Helper()
	target, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &outageProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		if now < p.downUntil.Load() || r.Method == http.MethodGet && now < p.readsDownUntil.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// TestRunLeaseKeptWhileReleaseRetries: a server that cannot be reached as
// COMMAND ends (restarting, say) has the release tried again; meanwhile
// the lease is still renewed, so that a release that gets through only
// after the lease's length finds the hold still ours: COMMAND ran under the
// lock throughout, its exit status stands, and no "LOCK LOST" is cried.
// The renewals used to stop as COMMAND ended: the lease ran out while the
// release waited for the server, and the release, finding the hold gone,
// said the lock was lost while COMMAND ran and exited 1, so that a
// pipeline would run again a deploy that had succeeded.
func TestRunLeaseKeptWhileReleaseRetries(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newOutageProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	dir := t.TempDir()
	done := runStarted(t, ctx, env, dir, "run", "rk", "--ttl", "3s", "--",
		"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
	// The server away for 1.2s as COMMAND ends, a third of the lease or
	// more left; the release's reads get through only after the lease
	// has run out, unless renewed.
	now := time.Now()
	p.downUntil.Store(now.Add(1200 * time.Millisecond).UnixNano())
	p.readsDownUntil.Store(now.Add(3600 * time.Millisecond).UnixNano())
	os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
	r := <-done
	r.want(t, 0, `^$`, `^locker run: could not release 'rk' \(cannot reach locker at .*\); trying again for up to 1m0s \(a signal stops it\)\n$`)
	if strings.Contains(r.stderr, "LOST") {
		t.Errorf("cried lost:\n%s", r.stderr)
	}
	if l, err := cl.Get(ctx, "rk"); err != nil || !l.Free() {
		t.Fatalf("not released: %+v %v", l, err)
	}
}
