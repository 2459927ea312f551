package cli

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestPoolRemoveHolder: locker pool rm --force --holder H (with --key,
// --fence) refuses, exit 3, while another holder shares the member's key,
// with the server's own reason (naming the holders), and changes nothing; --holder and --key go with
// --force; once the other released, it removes the member.
func TestPoolRemoveHolder(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	m, err := cl.LockFromPool(ctx, "envs", client.LockOptions{Key: "build", Holder: "build-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Lock(ctx, "env-1", client.LockOptions{Key: "build", Holder: "other-job"}); err != nil {
		t.Fatal(err)
	}
	fence := fmt.Sprint(m.Fence)
	locker(t, ctx, env, "pool", "rm", "envs", "env-1", "--force", "--fence", fence, "--key", "build", "--holder", "build-1").
		want(t, 3, `^$`, `^locker pool rm: pool "envs": member "env-1" is held under key "build" by others besides "build-1": "other-job" x1 \(holders: build-1 x1, other-job x1\); nothing was forced or removed \(held since \d\d:\d\d\)\n$`)
	locker(t, ctx, env, "pool", "rm", "envs", "env-1", "--force", "--holder", "other", "--key", "build").
		want(t, 3, `^$`, `^locker pool rm: pool "envs": member "env-1" is held under key "build" by "build-1" x1, "other-job" x1, not by "other" \(holders: build-1 x1, other-job x1\); nothing was forced or removed \(held since \d\d:\d\d\)\n$`)
	locker(t, ctx, env, "pool", "rm", "envs", "env-1", "--force", "--key", "other", "--holder", "build-1").
		want(t, 3, `^$`, `^locker pool rm: pool "envs": member "env-1" is held by key "build", not "other" \(holders: build-1 x1, other-job x1\); nothing was forced or removed \(held since \d\d:\d\d\)\n$`)
	locker(t, ctx, env, "pool", "rm", "envs", "env-1", "--holder", "build-1").want(t, 2, `^$`, `--holder goes with --force`)
	locker(t, ctx, env, "pool", "rm", "envs", "env-1", "--key", "build").want(t, 2, `^$`, `--key goes with --force`)
	if l, err := cl.Get(ctx, "env-1"); err != nil || len(l.LockedBy) != 2 || len(l.Pools) != 1 {
		t.Fatalf("a refused removal changed the member: %+v, %v", l, err)
	}
	if _, err := cl.Unlock(ctx, "env-1", "build", "other-job"); err != nil {
		t.Fatal(err)
	}
	locker(t, ctx, env, "pool", "rm", "envs", "env-1", "--force", "--fence", fence, "--key", "build", "--holder", "build-1").
		want(t, 0, `^removed 'env-1' from pool 'envs'; it is free\n$`, `^$`)
}
