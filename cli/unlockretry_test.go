package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestUnlockRetriesJudgeA503ByReadingBack: a Locker server's own 503 to a
// release usually changed nothing (shutting down, a limit reached), but a
// PostgreSQL store's 503 for a write whose commit was cut off may have
// made it ("a change in flight may or may not have been made"). locker
// unlock tries a release answered 503 again only after reading the lock
// back: one not made is sent again, one made is not (a hold counted twice
// gives back one, not both). A forced release too.
func TestUnlockRetriesJudgeA503ByReadingBack(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	target, _ := neturl.Parse(url)
	rp := httputil.NewSingleHostReverseProxy(target)
	var made, unmade atomic.Int32 // DELETEs answered 503 after being passed on; without
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unavailable := func(msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"` + msg + `"}`))
		}
		switch {
		case r.Method == http.MethodDelete && made.Add(-1) >= 0:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			unavailable("the lock database is unavailable; try again (a change in flight may or may not have been made: check the lock)")
		case r.Method == http.MethodDelete && unmade.Add(-1) >= 0:
			unavailable("the server is shutting down; try again")
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(proxy.Close)
	env := map[string]string{"LOCKER_URL": proxy.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	for range 2 {
		if _, err := cl.Lock(ctx, "x", client.LockOptions{Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		l, err := cl.Get(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		return l.LockedBy["k"]
	}

	made.Store(1)
	locker(t, ctx, env, "unlock", "x", "--key", "k").want(t, 0, `^unlocked 'x' once; 'k' still holds it 1 more time\(s\)\n$`, `(?s)may or may not have been made.*that release was made`)
	if n := count(); n != 1 {
		t.Fatalf("a release made, answered 503: %d holds left, want 1", n)
	}
	unmade.Store(2)
	locker(t, ctx, env, "unlock", "x", "--key", "k").want(t, 0, `^unlocked 'x'; it is free now\n$`, `(?s)shutting down.*the hold as before: that release was not made; sending it again`)
	if n := count(); n != 0 {
		t.Fatalf("a release not made, answered 503: %d holds left, want 0", n)
	}

	// A forced release made, answered 503: done, not forced again (which
	// would end the hold of whoever took the lock since).
	cl.Lock(ctx, "x", client.LockOptions{Key: "k"})
	made.Store(1)
	locker(t, ctx, env, "unlock", "x", "--force").want(t, 0, `^force-released lock "x" \(its answer lost: the lock read back\)\n$`, `that release was made`)

	// --retry 0: one attempt, as before.
	cl.Lock(ctx, "x", client.LockOptions{Key: "k"})
	unmade.Store(1)
	locker(t, ctx, env, "unlock", "x", "--key", "k", "--retry", "0").want(t, 1, `^$`, `^locker unlock: the server cannot serve this now: the server is shutting down`)
	if n := count(); n != 1 {
		t.Fatalf("--retry 0 answered 503: %d holds left, want 1", n)
	}
}
