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
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// slowFirstRefreshProxy passes requests on to url, the first lease renewal
// 700ms late; refreshing gets a value as that renewal arrives.
func slowFirstRefreshProxy(t *testing.T, url string) (proxyURL string, refreshing chan struct{}) {
	t.Helper()
	target, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	refreshing = make(chan struct{}, 1)
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refresh") && first {
			first = false // one client, one request at a time
			refreshing <- struct{}{}
			time.Sleep(700 * time.Millisecond)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, refreshing
}

// TestRunInterruptedDuringFirstRenewal: a signal (here the context's end)
// while the keeper's first renewal is on its way does not start COMMAND
// (to be killed at once): the lock is given back and run exits 130.
func TestRunInterruptedDuringFirstRenewal(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	proxy, refreshing := slowFirstRefreshProxy(t, url)
	env := map[string]string{"LOCKER_URL": proxy}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		done <- locker(t, ctx, env, "run", "f2", "--ttl", "30s", "-v", "--", "touch", filepath.Join(dir, "started"))
	}()
	select {
	case <-refreshing:
	case r := <-done:
		t.Fatalf("ended before its first renewal: %+v", r)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	r := <-done
	r.want(t, 130, `^$`, `(?m)^locker run: interrupted before touch started; released 'f2'\n$`)
	if strings.Contains(r.stderr, "running touch") {
		t.Errorf("said it was running the command:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Fatal("the command was started")
	}
	cl, _ := client.New(client.Options{URL: url})
	if l, _ := cl.Get(context.Background(), "f2"); !l.Free() {
		t.Fatalf("not released: %+v", l)
	}
}

// TestRunRefusedStartNotSaidRunning: with -v, "running COMMAND" is said
// only once COMMAND is about to start, not before a first renewal that
// refuses it.
func TestRunRefusedStartNotSaidRunning(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	p.latePuts.Store(1)
	env := map[string]string{"LOCKER_URL": p.URL}
	r := locker(t, context.Background(), env, "run", "rs", "-v", "--key", "k", "--ttl", "300ms", "--", "true")
	r.want(t, 1, `^$`, `was lost before true could start`)
	if strings.Contains(r.stderr, "running true") {
		t.Errorf("said it was running the command it refused:\n%s", r.stderr)
	}
}

// TestRunFirstRenewalUnconfirmed: a first renewal that cannot reach the
// server (the grant's answer was slow, and little of the lease is left)
// leaves the hold unconfirmed,
// not known lost: run says so, and that it gave the hold back.
func TestRunFirstRenewalUnconfirmed(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	// The grant's answer comes 3.6s into its 5s lease; its first renewal,
	// not answered, is given 1s (the first's least); with 0.4s left, no
	// more than the tenth of the lease at which a hold is presumed lost,
	// run gives the hold back, within those 0.4s. (A 1s lease answered
	// after 600ms left 67ms for that: too little on a loaded machine, and
	// the lease ran out first.)
	p.latePuts.Store(1)
	p.lateBy.Store(int64(3600 * time.Millisecond))
	p.stallRefreshes.Store(true)
	env := map[string]string{"LOCKER_URL": p.URL}
	dir := t.TempDir()
	r := locker(t, context.Background(), env, "run", "fr", "--key", "k", "--ttl", "5s", "--", "touch", filepath.Join(dir, "started"))
	r.want(t, 1, `^$`, `(?m)^locker run: could not confirm that 'fr' is still ours before touch could start \(.*\); gave it back: not running it\n$`)
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Fatal("the command was started")
	}
	cl, _ := client.New(client.Options{URL: url})
	if l, _ := cl.Get(context.Background(), "fr"); !l.Free() {
		t.Fatalf("not released: %+v", l)
	}
}

// TestRunLostThenFoundOursAtRelease: a hold declared lost while COMMAND
// ran (renewals failing), found still ours when COMMAND ended (before the
// lease ran out), is said to be so on stderr, not only with -v: the LOCK
// LOST lines above it were a false alarm, and run exits 0.
func TestRunLostThenFoundOursAtRelease(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	dir := t.TempDir()
	done := runStarted(t, context.Background(), env, dir, "run", "fo", "--key", "k", "--ttl", "3s", "--kill-on-lost", "--",
		"sh", "-c", `trap 'exit 0' TERM; touch `+dir+`/started; while :; do sleep 0.05; done`)
	p.failRefreshes.Store(true) // the release (GET, DELETE) still gets through
	r := <-done
	r.want(t, 0, `^$`, `(?s)LOCK LOST: could not refresh.*sending SIGTERM to sh \(--kill-on-lost\)\nlocker run: 'fo' turned out to be still ours \(the server kept our hold\): no other process took it meanwhile\n$`)
}

// TestRunLostJustBeforeStart: a loss the keeper declares after its first
// renewal but before COMMAND is marked started (its goroutine runs by
// then) is not dropped: COMMAND is not started, and run says why.
func TestRunLostJustBeforeStart(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	cl, _ := client.New(client.Options{URL: url})
	dir := t.TempDir()
	testHookBeforeStart = func() {
		if _, err := cl.ForceUnlock(context.Background(), "w"); err != nil {
			t.Error(err)
		}
		time.Sleep(600 * time.Millisecond) // renewals (every 100ms) find the hold gone
	}
	t.Cleanup(func() { testHookBeforeStart = nil })
	r := locker(t, context.Background(), env, "run", "w", "--key", "k", "--ttl", "300ms", "--", "touch", filepath.Join(dir, "started"))
	r.want(t, 1, `^$`, `(?m)^locker run: the server no longer has our hold on 'w' \(.*\); it expired or was forced, as touch was about to start: not running it\n$`)
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Fatal("the command was started after the hold was lost")
	}
}

// TestRunReadBackUnconfirmed: a hold read back after the answer to taking
// it was lost has no Locker-Lease: how long its lease has left, only this
// machine's clock can say from its expires, and that clock may be behind
// the server's. A first renewal that cannot reach the server then leaves
// the hold unconfirmed: COMMAND does not start, and the hold is given back.
// Before, the command started on the strength of that clock.
func TestRunReadBackUnconfirmed(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	p.dropPuts.Store(1)
	p.failRefreshes.Store(true)
	env := map[string]string{"LOCKER_URL": p.URL}
	dir := t.TempDir()
	r := locker(t, context.Background(), env, "run", "rb", "--key", "k", "--ttl", "1m", "--", "touch", filepath.Join(dir, "started"))
	r.want(t, 1, `^$`, `(?m)^locker run: could not confirm that 'rb' is still ours before touch could start \(.*\); gave it back: not running it\n$`)
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Fatal("the command was started")
	}
}
