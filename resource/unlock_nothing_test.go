package resource_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// takenAfterRead wraps a server so that, once armed, right after it
// answered the next read of a lock (the unlock step's, which finds no hold
// of its own), another build with the same key and holder takes the lock,
// as builds of a job that is not serial do: between the step's read and
// the release it would send.
type takenAfterRead struct {
	t           *testing.T
	c           *client.Client
	key, holder string
	// force: the lock is held under another key, which gives it up
	// first (forced here; its release is the same).
	force bool
	armed atomic.Bool
}

func (a *takenAfterRead) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/lock/") && a.armed.CompareAndSwap(true, false) {
			name := strings.TrimPrefix(r.URL.Path, "/lock/")
			if a.force {
				if _, err := a.c.ForceUnlock(context.Background(), name); err != nil {
					a.t.Errorf("forcing %s: %v", name, err)
				}
			}
			if _, err := a.c.Lock(context.Background(), name, client.LockOptions{Key: a.key, Holder: a.holder}); err != nil {
				a.t.Errorf("taking %s: %v", name, err)
			}
		}
	})
}

// TestUnlockOfNothingReleasesNothing: an unlock that reads no hold of its
// own key and holder (the lock free, or held under its key by other
// holders only: the unlock step of a retried or repeated ensure, after the
// first one released the hold) has nothing to give back, and sends no
// release: one sent anyway, by key and holder, released the hold that
// another build with the same key and holder took between the read and
// the release. One that reads the lock held under another key sends its
// release with that hold's fence: should that key give the lock up and
// the other build take it before the release arrives, the server refuses.
func TestUnlockOfNothingReleasesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		force bool
		setup func(*client.Client)
		want  string
	}{
		{"free", false, func(*client.Client) {}, `lock "prod" is free: nothing to release`},
		{"other holder", false, func(c *client.Client) {
			if _, err := c.Lock(context.Background(), "prod", client.LockOptions{Key: "deploy", Holder: "smoke"}); err != nil {
				t.Fatal(err)
			}
		}, `warning: "job" holds nothing on lock "prod" under key "deploy"`},
		{"other key", true, func(c *client.Client) {
			if _, err := c.Lock(context.Background(), "prod", client.LockOptions{Key: "staging"}); err != nil {
				t.Fatal(err)
			}
		}, "nothing is released"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &takenAfterRead{t: t, key: "deploy", holder: "job", force: tc.force}
			s := startServer(t, serverOpts{wrap: a.wrap})
			c := s.client(t, "", "")
			a.c = c
			tc.setup(c)
			a.armed.Store(true)
			r := mustRun(t, request(src(s, "prod"), unlockParams("deploy", "job"), nil), "out", t.TempDir())
			if l := get(t, c, "prod"); l.Key != "deploy" || l.LockedBy["job"] != 1 {
				t.Fatalf("after the unlock:\n%s\nthe lock is %+v; want the hold the other build took kept", r.stderr, l)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "released lock") {
				t.Errorf("stderr says it released the lock, which it did not:\n%s", r.stderr)
			}
			decodeAnswer(t, r)
		})
	}
}

// TestUnlockReleaseDirAnotherKeySaysSo: an unlock with release_dir after
// the lock step's hold was released and another key took the lock (an
// unlock run again: attempts:, or a second unlock step) releases nothing,
// succeeds, and says why, as concourse.md has it: it printed nothing
// about it before.
func TestUnlockReleaseDirAnotherKeySaysSo(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "prod")
	build := t.TempDir()
	a := decodeAnswer(t, mustRun(t, request(source, lockParams("deploy", ""), nil), "out", build))
	mustRun(t, request(source, nil, a.Version), "in", filepath.Join(build, "prod-lock"))
	withDir := unlockParams("deploy", "")
	withDir["release_dir"] = "prod-lock"
	mustRun(t, request(source, withDir, nil), "out", build)
	if _, err := c.Lock(context.Background(), "prod", client.LockOptions{Key: "staging"}); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, request(source, withDir, nil), "out", build)
	if l := get(t, c, "prod"); l.Key != "staging" || l.LockedBy["staging"] != 1 {
		t.Fatalf("after the second unlock: %+v", l)
	}
	if !strings.Contains(r.stderr, `lock "prod" was released and taken again since fence `+a.Version["fence"]) || !strings.Contains(r.stderr, "nothing is released") {
		t.Errorf("stderr does not say why nothing is released:\n%s", r.stderr)
	}
}
