package cli

import (
	"context"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestImportPoolRepoReleasesByFence: a member held with the import key
// that the repository now has unclaimed is released by the fence it was
// read with. The import key is every import's (and anyone's who follows
// the output's "release one with"): a claim taken afresh under it after
// the import read the member (here between the read and the release; a
// second import running at the same time, say) is left as it is and said
// to be. Released by key and holder, that claim was ended in its place.
func TestImportPoolRepoReleasesByFence(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newRetakeProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "aws", "aws-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Lock(ctx, "aws-1", client.LockOptions{Key: importKey}); err != nil {
		t.Fatal(err)
	}
	var fresh *client.Lock
	f := func() {
		cl.ForceUnlock(ctx, "aws-1")
		var err error
		if fresh, err = cl.Lock(ctx, "aws-1", client.LockOptions{Key: importKey}); err != nil {
			t.Error(err)
		}
	}
	p.retake.Store(&f)
	repo := poolRepo(t, map[string]string{"aws/unclaimed/aws-1": ""})
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0,
		`(?m)^  aws-1: metadata updated \(unclaimed in the repository\); not released: claimed again since it was read \(fence \d+ now: lock 'aws-1' is held by 'imported-from-pool-repo' \(key 'imported-from-pool-repo'\).*\): left as it is\n.* 0 released with key`, `^$`)
	if l, _ := cl.Get(ctx, "aws-1"); fresh == nil || l.Fence != fresh.Fence || l.LockedBy[importKey] != 1 {
		t.Fatalf("aws-1 after the import: %+v; want the claim taken afresh (%+v) kept", l, fresh)
	}
}
