package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// retakeProxy passes requests on to url; before passing on the next
// DELETE while retake is set, it calls retake (which takes the lock
// afresh, say), and with refuseGets it answers every GET of a lock 403,
// as a server or proxy that lets the caller write but not read might.
// With dropFence, the fence of a release is taken out, as by a server
// from before fenced releases; with dropAcquired, only the time a hold
// began, as by a server from before that check.
type retakeProxy struct {
	URL                                 string
	retake                              atomic.Pointer[func()]
	refuseGets, dropFence, dropAcquired atomic.Bool
}

func newRetakeProxy(t *testing.T, url string) *retakeProxy {
	target, _ := neturl.Parse(url)
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &retakeProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && p.refuseGets.Load():
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":"reading locks is not allowed (a test's)"}`))
			return
		case r.Method != http.MethodDelete:
		case p.dropFence.Load():
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			delete(body, "fence")
			delete(body, "acquired") // nor the later check of the time a hold began
			b, _ := json.Marshal(body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			r.URL.RawQuery = ""
		case p.dropAcquired.Load():
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			delete(body, "acquired")
			b, _ := json.Marshal(body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			q := r.URL.Query()
			q.Del("acquired")
			r.URL.RawQuery = q.Encode()
		default:
			if f := p.retake.Swap(nil); f != nil {
				(*f)()
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// TestRunReleaseLeavesAHoldTakenAfresh: locker run gives back the hold
// it took by its fence token, so that a hold taken afresh by another
// process with the same key and holder (--key and --holder given, a job
// tried again while this one ran) is left as it is, and said to be.
// Given back by key and holder, it was released in the other's place
// whenever the lock changed after release's read of it: here between the
// read and the release, or (with a lock that cannot be read) while the
// command ran.
func TestRunReleaseLeavesAHoldTakenAfresh(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newRetakeProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	var other *client.Lock
	retake := func(name string) func() {
		return func() {
			if _, err := cl.ForceUnlock(ctx, name); err != nil {
				t.Error(err)
			}
			var err error
			if other, err = cl.Lock(ctx, name, client.LockOptions{Key: "K", Holder: "H"}); err != nil {
				t.Error(err)
			}
		}
	}
	kept := func(name string) {
		t.Helper()
		l, err := cl.Get(ctx, name)
		if err != nil || other == nil || l.Key != "K" || l.LockedBy["H"] != 1 || l.Fence != other.Fence {
			t.Fatalf("%s after the run: %+v, %v; want the hold taken afresh (%+v) kept", name, l, err, other)
		}
		cl.ForceUnlock(ctx, name)
	}

	// Taken afresh after the command ended, between the read that found
	// the run's hold and its release: the command ran under the lock, so
	// its status stands.
	f := retake("after")
	p.retake.Store(&f)
	locker(t, ctx, env, "run", "after", "--key", "K", "--holder", "H", "--ttl", "30s", "--", "true").
		want(t, 0, `^$`, `^locker run: 'after' was taken again after the command ended, before its release reached the server \(our hold, fence \d+, ended: .*\): held by .*under fence \d+; left as it is, not released\n$`)
	kept("after")

	// A lock that cannot be read (release goes straight to the
	// release), taken afresh while the command ran, unnoticed (no
	// lease to renew): lost while the command ran, so exit 1.
	p.refuseGets.Store(true)
	dir := t.TempDir()
	done := runStarted(t, ctx, env, dir, "run", "during", "--key", "K", "--holder", "H", "--ttl", "0", "--",
		"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
	retake("during")()
	os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
	(<-done).want(t, 1, `^$`, `^locker run: LOCK LOST: 'during' was no longer ours when the command ended \(taken again since our hold, fence \d+: held by .*under fence \d+\): another process may have had it meanwhile; left as it is, not released\nlocker run: sh succeeded, but 'during' was lost while it ran \(see above\): exiting 1\n$`)
	kept("during")
	p.refuseGets.Store(false)

	// A server that does not check the fence: released by key and
	// holder, as before, and said so.
	p.dropFence.Store(true)
	locker(t, ctx, env, "run", "old", "--key", "K", "--holder", "H", "-v", "--", "true").
		want(t, 0, `^$`, `\nlocker run: released 'old' by key and holder \(the server does not check a release's fence: had the same key and holder taken it again meanwhile, that hold was released\)\n$`)
	if l, _ := cl.Get(ctx, "old"); !l.Free() {
		t.Fatalf("old after the run: %+v, want it free", l)
	}
}

// TestRunReleaseMessagesShowNamesEscaped: the member name (the server's
// text) in locker run's release messages is escaped, as everywhere else
// (shown): a right-to-left override in it would reorder the message.
func TestRunReleaseMessagesShowNamesEscaped(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "p", "\u202eevil", nil); err != nil {
		t.Fatal(err)
	}
	p.failDeletes.Store(1) // tried again
	locker(t, ctx, env, "run", "--pool", "p", "--ttl", "0", "--", "true").
		want(t, 0, `^$`, `^locker run: could not release '\\u202eevil' \(cannot reach .*\); trying again for up to 1m0s \(a signal stops it\)\n$`)
	p.denyDeletes.Store(true) // refused
	locker(t, ctx, env, "run", "--pool", "p", "--ttl", "0", "--key", "k", "--holder", "h", "--", "true").
		want(t, 1, `^$`, `^locker run: could not release '\\u202eevil': the server refused the credentials: .*\(locker unlock '\\u202eevil' --key k --holder h\)\n$`)
}
