package resource_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// TestLockRetryLeavesAnotherBuildsHoldAlone: a lock step whose request
// was lost on the way (the connection dropped before the server saw it),
// which the client read back and found not granted, asks again; it does
// not take for its own a hold of the same key and holder that another
// build (a job that is not serial) took while the step paused before
// asking again. Taken for its own, both builds run on one count: the
// first unlock frees the lock while the other build still works, and
// another key gets it.
func TestLockRetryLeavesAnotherBuildsHoldAlone(t *testing.T) {
	var (
		dropped atomic.Bool
		gets    atomic.Int32
		other   *client.Client
	)
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.UserAgent() == "locker-resource" {
				switch {
				case r.Method == http.MethodPut && dropped.CompareAndSwap(false, true):
					// Lost before it reached the server.
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						conn.Close()
					}
					return
				case r.Method == http.MethodGet && dropped.Load() && gets.Add(1) == 2:
					// The client's read-back (the first GET after the
					// drop) found nothing; before the step's own look,
					// the other build takes the lock.
					if _, err := other.Lock(context.Background(), "shared", client.LockOptions{Key: "k", Holder: "h"}); err != nil {
						t.Errorf("the other build's lock: %v", err)
					}
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	s := startServer(t, serverOpts{wrap: wrap})
	other = s.client(t, "", "")
	source := src(s, "shared")
	source["retry_delay"] = "10s" // no progress reads in between
	r := mustRun(t, request(source, lockParams("k", "h"), nil), "out", t.TempDir())
	if gets.Load() < 2 {
		t.Fatalf("the step did not read the lock back twice (%d reads after the drop):\n%s", gets.Load(), r.stderr)
	}
	if l := get(t, other, "shared"); l.LockedBy["h"] != 2 {
		t.Fatalf("the server has %+v: the step took the other build's hold for its own, instead of its own hold (count 2):\n%s", l, r.stderr)
	}
	if strings.Contains(r.stderr, "before the connection broke: it is ours") {
		t.Errorf("the step says the other build's hold is its own:\n%s", r.stderr)
	}
}

// TestPoolAcquireRetryLeavesAnotherBuildsMemberAlone: the same for a pool
// acquire with params.key and locked_by shared by the builds of a job: a
// step whose request was lost before it reached the server asks again,
// and does not take for its own the member that another build took with
// that key and holder meanwhile — two builds would work on one member
// while the other stays free.
func TestPoolAcquireRetryLeavesAnotherBuildsMemberAlone(t *testing.T) {
	var (
		dropped atomic.Bool
		gets    atomic.Int32
		other   *client.Client
	)
	params := obj{"acquire": true, "key": "k", "locked_by": "h"}
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.UserAgent() == "locker-resource" && r.URL.Path == "/pool/wide" {
				switch {
				case r.Method == http.MethodPut && dropped.CompareAndSwap(false, true):
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						conn.Close()
					}
					return
				case r.Method == http.MethodGet && dropped.Load() && gets.Add(1) == 2:
					if _, err := other.LockFromPool(context.Background(), "wide", client.LockOptions{Key: "k", Holder: "h"}); err != nil {
						t.Errorf("the other build's acquire: %v", err)
					}
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	s := startServer(t, serverOpts{wrap: wrap})
	other = s.client(t, "", "")
	for _, n := range []string{"e1", "e2"} {
		if _, err := other.AddMember(context.Background(), "wide", n, nil); err != nil {
			t.Fatal(err)
		}
	}
	source := poolSource(s, "wide")
	source["retry_delay"] = "10s" // no progress reads in between
	b := newBuild(t, source, "deploy", 1, 1)
	r := b.startPut(params).wait()
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if gets.Load() < 2 {
		t.Fatalf("the step did not read the pool back twice (%d reads after the drop):\n%s", gets.Load(), r.stderr)
	}
	if p := getPool(t, other, "wide"); p.Free != 0 {
		t.Fatalf("%d of 2 members free: the step took the other build's member for its own:\n%s", p.Free, r.stderr)
	}
}

// TestUnlockRefusedForNowIsSentAgain: an unlock the server refused for
// now (its own 503: the change was not made) is sent again, even when the
// count went down meanwhile because another build with the same key and
// holder (a job that is not serial) released its own hold: taken for the
// step's release, it would leave the step's hold on the lock with no step
// left to release it.
func TestUnlockRefusedForNowIsSentAgain(t *testing.T) {
	f := newFlaky(http.MethodDelete, "503")
	s := startServer(t, serverOpts{wrap: f.wrap})
	c := s.client(t, "", "")
	source := src(s, "twice")
	// Two builds hold it with the same key and holder.
	mustRun(t, request(source, lockParams("k", "h"), nil), "out", t.TempDir())
	mustRun(t, request(source, lockParams("k", "h"), nil), "out", t.TempDir())
	f.afterDrop = func() {
		// The other build's unlock, not through the flaky wrapper.
		f.afterDrop = nil
		if _, err := c.Unlock(context.Background(), "twice", "k", "h"); err != nil {
			t.Errorf("the other build's unlock: %v", err)
		}
	}
	r := mustRun(t, request(source, unlockParams("k", "h"), nil), "out", t.TempDir())
	if l := get(t, c, "twice"); !l.Free() {
		t.Fatalf("after both builds' unlocks, the server has %+v: the step took the other build's release for its own:\n%s", l, r.stderr)
	}
}
