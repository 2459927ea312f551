package cli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestUnlockWithAcquiredReadsFirst: locker unlock --acquired T reads the
// lock before the release, as --fence does, and refuses a hold of the
// holder that began at another time (taken again under the same fence
// while a sibling kept the lock held): exit 3, nothing released. A server
// from before the acquired check would otherwise release that hold, the
// read having shown it was not the one meant.
func TestUnlockWithAcquiredReadsFirst(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newRetakeProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.Lock(ctx, "x", client.LockOptions{Key: "K", Holder: "sibling"}); err != nil {
		t.Fatal(err)
	}
	first, err := cl.Lock(ctx, "x", client.LockOptions{Key: "K", Holder: "H"})
	if err != nil {
		t.Fatal(err)
	}
	cl.Unlock(ctx, "x", "K", "H")
	time.Sleep(time.Millisecond)
	again, err := cl.Lock(ctx, "x", client.LockOptions{Key: "K", Holder: "H"})
	if err != nil || again.Fence != first.Fence {
		t.Fatalf("taken again: %+v, %v; want fence %d", again, err, first.Fence)
	}
	p.dropAcquired.Store(true)
	old := first.Holds["H"].Acquired.Format(time.RFC3339Nano)
	for _, args := range [][]string{
		{"--acquired", old},
		{"--fence", fmt.Sprint(first.Fence), "--acquired", old},
	} {
		locker(t, ctx, env, append([]string{"unlock", "x", "--key", "K", "--holder", "H"}, args...)...).
			want(t, 3, `^$`, `took the lock again at .*nothing was released\n$`)
		if g, _ := cl.Get(ctx, "x"); g.LockedBy["H"] != 1 || !g.Holds["H"].Acquired.Equal(again.Holds["H"].Acquired) {
			t.Fatalf("after unlock %q: %+v; want H's hold taken again kept", args, g)
		}
	}
	// Its own time: released, with the warning that the server did not
	// check it.
	locker(t, ctx, env, "unlock", "x", "--key", "K", "--holder", "H", "--acquired", again.Holds["H"].Acquired.Format(time.RFC3339Nano)).
		want(t, 0, `^unlocked 'x'`, `does not check the time a hold began`)
}
