package cli

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestUnlockWithFence: locker unlock NAME --key KEY --fence N (no --force)
// gives back one hold of the key and holder only while the lock is still
// in the holding period of fence N: one taken afresh since, even by the
// same key and holder (a job tried again), is left alone (exit 3, as a
// refused --force --fence). A server without the check releases by key and
// holder: said on stderr, exit 0 (the release was made).
func TestUnlockWithFence(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newRetakeProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	take := func() *client.Lock {
		t.Helper()
		l, err := cl.Lock(ctx, "x", client.LockOptions{Key: "K", Holder: "H"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	fence := func(l *client.Lock) string { return fmt.Sprint(l.Fence) }

	l := take()
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--fence", fence(l)).want(t, 0, `^unlocked 'x'; it is free now\n$`, `^$`)

	// Taken afresh by the same key and holder: the old fence is refused.
	old := take()
	cl.Unlock(ctx, "x", "K", "H")
	now := take()
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--fence", fence(old)).
		want(t, 3, `^$`, `^locker unlock: lock 'x' was taken again since fence `+fence(old)+` \(fence `+fence(now)+` now: lock 'x' is held by 'H' \(key 'K'\).*\); nothing was released\n$`)
	// Between the read and the release too (the server's check).
	f := func() {
		cl.ForceUnlock(ctx, "x")
		now = take()
	}
	p.retake.Store(&f)
	was := now
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--fence", fence(was)).
		want(t, 3, `^$`, `^locker unlock: lock 'x' was taken again since fence `+fence(was)+` \(fence \d+ now: lock 'x' is held by 'H' \(key 'K'\).*\); nothing was released\n$`)
	if g, _ := cl.Get(ctx, "x"); g.LockedBy["H"] != 1 || g.Fence != now.Fence {
		t.Fatalf("after the refused releases: %+v, want the hold of fence %d kept", g, now.Fence)
	}
	// A fence the lock never had.
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--fence", "999").
		want(t, 3, `^$`, `has never had fence 999 .*nothing was released\n$`)

	// A server that ignores the fence.
	p.dropFence.Store(true)
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--fence", fence(now)).
		want(t, 0, `^unlocked 'x'; it is free now\n$`, `^locker unlock: warning: the server does not check a release's fence: it released by key 'K' and holder 'H', whatever the fence \(the lock was read under fence `+fence(now)+` just before\)\n$`)
	// Free when read: the read checked nothing of fence N.
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--fence", fence(now)).
		want(t, 0, `nothing to unlock`, `^locker unlock: warning: the server does not check a release's fence: it released by key 'K' and holder 'H', whatever the fence \(the lock was free when read just before\)\n$`)
	p.dropFence.Store(false)

	// --fence needs the key, as every release without --force.
	locker(t, ctx, env, "unlock", "x", "--fence", "3").want(t, 2, `^$`, `--key is required`)
	// With --force, as it was.
	l = take()
	locker(t, ctx, env, "unlock", "x", "--force", "--fence", fence(l)).want(t, 0, `force-released`, `^$`)
}
