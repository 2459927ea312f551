package lockservice_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestReleaseFence: a release with the fence of the hold meant gives back
// one count; once the lock was taken afresh (here by the same key and
// holder, as a job tried again would), the old fence is refused with
// ECONFLICT and the lock's state, and nothing changes. Without a fence,
// the release is as it always was.
func TestReleaseFence(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	ctx := context.Background()
	old := e.acquire("job", "ci", "run", 0).Fence
	e.acquire("job", "ci", "run", 0) // re-entered: count 2
	l, released, err := e.svc.ReleaseHold(ctx, "job", "ci", "run", lock.HoldRef{Fence: old})
	if err != nil || !released || l.Holds.Get("run").Count != 1 {
		t.Fatalf("release with the hold's fence = %+v, %v, %v; want one count given back", l, released, err)
	}
	if _, _, err := e.svc.ForceRelease(ctx, "job", "op"); err != nil {
		t.Fatal(err)
	}
	fresh := e.acquire("job", "ci", "run", 0).Fence
	l, released, err = e.svc.ReleaseHold(ctx, "job", "ci", "run", lock.HoldRef{Fence: old})
	var le *lock.Error
	if !errors.As(err, &le) || le.Code != lock.ECONFLICT || released || le.Lock == nil || le.Lock.Fence != fresh ||
		!strings.Contains(le.Message, "taken again since fence") {
		t.Fatalf("release with the old fence = %+v, %v, %v; want ECONFLICT with the lock", l, released, err)
	}
	if got, _ := e.svc.Get(ctx, "job"); got.Fence != fresh || got.Holds.Get("run").Count != 1 {
		t.Fatalf("a refused release changed the lock: %+v", got)
	}
	if _, _, err := e.svc.ReleaseHold(ctx, "job", "ci", "run", lock.HoldRef{Fence: fresh}); err != nil {
		t.Fatalf("release with the new hold's fence: %v", err)
	}
	if got, _ := e.svc.Get(ctx, "job"); !got.Free() {
		t.Fatalf("lock after the release = %+v, want free", got)
	}
	if _, _, err := e.svc.ReleaseHold(ctx, "job", "ci", "run", lock.HoldRef{Fence: old}); err != nil {
		t.Fatalf("release of a free lock with an old fence: %v, want nothing to do", err)
	}
	if _, _, err := e.svc.ReleaseHold(ctx, "job", "", "run", lock.HoldRef{Fence: old}); err == nil {
		t.Fatalf("release without a key was accepted")
	}
}
