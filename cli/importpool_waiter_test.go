package cli

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestImportPoolRepoClaimsBeforeAddingToThePool: a lock claimed in the
// repository (held there by a job still on pool-resource) is claimed before
// it joins its pool. A review found it added free first: a pipeline moved to
// Locker already and waiting on that pool was handed it at once, while the
// repository's claimant held it too, and the import only said "not claimed".
func TestImportPoolRepoClaimsBeforeAddingToThePool(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "e1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Lock(ctx, "e1", client.LockOptions{Key: "busy"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *client.Lock, 1)
	go func() {
		l, _ := cl.AcquireFromPool(ctx, "envs", client.LockOptions{Key: "pipeline", Wait: time.Minute})
		got <- l
	}()
	for {
		p, err := cl.Pool(ctx, "envs")
		if err != nil {
			t.Fatal(err)
		}
		if p.Waiters > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	repo := poolRepo(t, map[string]string{"envs/claimed/e2": "{}"})
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0,
		`(?m)^  e2: added \(claimed in the repository\); claimed with key 'imported-from-pool-repo'\n.* 1 claimed and 0 released`, `^$`)
	l, err := cl.Get(ctx, "e2")
	if err != nil || l.Key != importKey || len(l.LockedBy) != 1 || !slices.Contains(l.Pools, "envs") {
		t.Fatalf("e2 after the import: %+v, %v; want it held with the import key alone, in pool envs", l, err)
	}
	select {
	case l := <-got:
		t.Fatalf("the pipeline waiting on the pool got %+v", l)
	default:
	}
	// And run again, it is claimed already, not claimed twice.
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0, `(?m)^  e2: already a member \(claimed in the repository\); claimed already\n`, `^$`)
	if l, _ := cl.Get(ctx, "e2"); l == nil || l.LockedBy[importKey] != 1 {
		t.Fatalf("e2 after the second import: %+v", l)
	}
}
