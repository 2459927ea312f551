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
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestGiveBackLeavesAHoldTakenAfresh: locker lock and pool acquire whose
// answer comes after the lease it granted ran out give the hold back
// (TestLockGrantAnsweredAfterItsLease), but only the hold of their own
// grant, by its fence. Here, before the late answer arrives, the lease has
// run out and another call with the same key and holder (a job tried
// again) has taken the lock afresh: that hold is left as it is. Given back
// by key and holder, as before, it was released in the other's place.
func TestGiveBackLeavesAHoldTakenAfresh(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	target, _ := neturl.Parse(url)
	rp := httputil.NewSingleHostReverseProxy(target)
	var member atomic.Value // the lock the next late PUT takes
	var late atomic.Bool
	var dropFence atomic.Bool // as a server from before fenced releases
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && dropFence.Load() {
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			delete(body, "fence")
			delete(body, "acquired") // nor the later check of the time a hold began
			b, _ := json.Marshal(body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		if r.Method != http.MethodPut || !late.CompareAndSwap(true, false) {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		// Before the answer gets back: the lease runs out, and the same
		// key and holder take the lock afresh.
		name := member.Load().(string)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			l, err := cl.Get(ctx, name)
			if err == nil && l.Free() {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s was not freed by its lease: %+v, %v", name, l, err)
				break
			}
		}
		if _, err := cl.Lock(ctx, name, client.LockOptions{Key: "k"}); err != nil {
			t.Errorf("taking %s afresh: %v", name, err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(proxy.Close)
	env := map[string]string{"LOCKER_URL": proxy.URL}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"prod", []string{"lock", "prod", "--key", "k", "--ttl", "200ms"}},
		{"env-1", []string{"pool", "acquire", "envs", "--key", "k", "--ttl", "200ms"}},
	} {
		member.Store(c.name)
		late.Store(true)
		r := locker(t, ctx, env, c.args...)
		r.want(t, 1, `^$`, `ran out before the answer arrived .*: the lock may be another's now, so it was not taken; it was taken again meanwhile \(.*; ours had fence \d+\), and was left as it is\n$`)
		l, err := cl.Get(ctx, c.name)
		if err != nil || l.Key != "k" || l.LockedBy["k"] != 1 {
			t.Fatalf("%s after the give-back: %+v, %v; want the hold taken afresh kept", c.name, l, err)
		}
		if _, err := cl.UnlockFence(ctx, c.name, "k", "", l.Fence); err != nil {
			t.Fatal(err)
		}
	}

	// A server that ignores the fence releases the newer hold; the
	// command cannot prevent that, but does not claim it released its own.
	dropFence.Store(true)
	member.Store("prod")
	late.Store(true)
	r := locker(t, ctx, env, "lock", "prod", "--key", "k", "--ttl", "200ms")
	r.want(t, 1, `^$`, `so it was not taken; released it by key and holder, in case it was still ours \(the server does not check a release's fence: had the same key and holder taken it again meanwhile, that hold was released\)\n$`)
}
