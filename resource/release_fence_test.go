package resource_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// takenAfresh wraps a server so that, once armed, just before the next
// release of a lock reaches it (after the step read the lock and found its
// hold), that hold is lost (forced here; a lease running out is the same)
// and another build with the same key and holder takes the lock afresh,
// as builds of a job that is not serial do.
type takenAfresh struct {
	t           *testing.T
	c           *client.Client
	key, holder string
	armed       atomic.Bool
}

func (a *takenAfresh) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/lock/") && a.armed.CompareAndSwap(true, false) {
			name := strings.TrimPrefix(r.URL.Path, "/lock/")
			ctx := context.Background()
			if _, err := a.c.ForceUnlock(ctx, name); err != nil {
				a.t.Errorf("forcing %s: %v", name, err)
			}
			if _, err := a.c.Lock(ctx, name, client.LockOptions{Key: a.key, Holder: a.holder}); err != nil {
				a.t.Errorf("taking %s afresh: %v", name, err)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// TestUnlockLeavesAHoldTakenAfresh: the unlock step releases the hold it
// read, by its fence: one the same key and holder took afresh between the
// read and the release is another build's, and stays. Released by key and
// holder, as before, it was released in that build's place.
func TestUnlockLeavesAHoldTakenAfresh(t *testing.T) {
	a := &takenAfresh{t: t, key: "deploy", holder: "job"}
	s := startServer(t, serverOpts{wrap: a.wrap})
	c := s.client(t, "", "")
	a.c = c
	source := src(s, "prod")
	mustRun(t, request(source, lockParams("deploy", "job"), nil), "out", t.TempDir())
	old := get(t, c, "prod").Fence
	a.armed.Store(true)
	r := mustRun(t, request(source, unlockParams("deploy", "job"), nil), "out", t.TempDir())
	l := get(t, c, "prod")
	if l.Fence == old || l.LockedBy["job"] != 1 {
		t.Fatalf("after the unlock: %+v; want the hold taken afresh kept", l)
	}
	if !strings.Contains(r.stderr, "was released and taken again since fence") {
		t.Errorf("stderr does not say the hold was gone:\n%s", r.stderr)
	}
	if a := decodeAnswer(t, r); !strings.Contains(a.meta("response"), "was gone already") {
		t.Errorf("response %q", a.meta("response"))
	}
}

// TestPoolReleaseLeavesAHoldTakenAfresh: the same for a pool release: the
// fence of the directory's acquisition goes with the release.
func TestPoolReleaseLeavesAHoldTakenAfresh(t *testing.T) {
	a := &takenAfresh{t: t}
	s := startServer(t, serverOpts{wrap: a.wrap})
	c := s.client(t, "", "")
	a.c = c
	if _, err := c.AddMember(context.Background(), "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	b := newBuild(t, poolSource(s, "envs"), "deploy", 1, 11)
	b.put("env", obj{"claim": "env-1"})
	old := get(t, c, "env-1")
	if len(old.LockedBy) != 1 {
		t.Fatalf("after the claim: %+v", old)
	}
	for h := range old.LockedBy {
		a.key, a.holder = old.Key, h
	}
	a.armed.Store(true)
	r := b.startPut(obj{"release": "env"}).wait()
	l := get(t, c, "env-1")
	if l.Fence == old.Fence || l.Key != a.key || l.LockedBy[a.holder] != 1 {
		t.Fatalf("after the release (exit %d):\n%s\nthe member is %+v; want the hold taken afresh kept", r.code, r.stderr, l)
	}
	if !strings.Contains(r.stderr, "was released and taken again since fence") {
		t.Errorf("stderr does not say the hold was gone:\n%s", r.stderr)
	}
}
