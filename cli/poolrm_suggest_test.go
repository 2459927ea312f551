package cli

import (
	"context"
	"regexp"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestPoolRemoveSuggestsEachHoldersRelease: locker pool rm of a member
// held under one key by several holders suggests the release of each
// hold, naming its holder: an unlock by the key alone releases the hold of
// the holder named as the key (here another build's, holding with the key
// as its holder), or nothing, and does not free the member.
func TestPoolRemoveSuggestsEachHoldersRelease(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"build", "other-job", "other-job"} {
		if _, err := cl.Lock(ctx, "env-1", client.LockOptions{Key: "build", Holder: h}); err != nil {
			t.Fatal(err)
		}
	}
	r := locker(t, ctx, env, "pool", "rm", "envs", "env-1")
	r.want(t, 3, `^$`, `^locker pool rm: member 'env-1' of pool 'envs' is held by 'build' and 'other-job' \(x2\) \(key 'build'\) since \d\d:\d\d; release each hold first \('locker unlock env-1 --key build --holder build', 'locker unlock env-1 --key build --holder other-job' \(x2\)\), or remove it with --force\n$`)
	if regexp.MustCompile(`'locker unlock env-1 --key build'`).MatchString(r.stderr) {
		t.Errorf("suggests an unlock by the key alone:\n%s", r.stderr)
	}
}
