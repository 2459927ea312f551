package cli

import (
	"context"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestImportPoolRepoClaimWithALease: on a server that gives every hold a
// lease (LOCKER_DEFAULT_TTL, LOCKER_MAX_TTL), an imported claim ends when
// it runs out, though the repository's claimant may still hold the lock,
// and a pipeline waiting on the pool is then handed it: the import says so
// (a review found it silent). And a claim that ran out was not released by
// anyone: a rerun claims it again, as it does a member never claimed.
func TestImportPoolRepoClaimWithALease(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{DefaultTTL: time.Second})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	repo := poolRepo(t, map[string]string{"envs/claimed/e1": "{}"})
	const leased = `  e1: (added|already a member) \(claimed in the repository\); claimed with key 'imported-from-pool-repo', with a lease the server gave it: it ends at .*, whether or not the repository's claimant still holds the lock \(the server's LOCKER_DEFAULT_TTL or LOCKER_MAX_TTL\)\n`
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0, `(?m)^`+leased, `^$`)
	for {
		l, err := cl.Get(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		if l.Free() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 0, `(?m)^`+leased+`.*1 claimed and 0 released`, `^$`)
}
