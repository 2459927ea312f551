package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// The README's promise, "a command whose result cannot be written to
// stdout exits 1", held for --json but not for the text that unlock,
// forget, pool add, pool rm and import-pool-repo print: they exited 0 with
// nothing written (locker import-pool-repo DIR --dry-run > plan.txt on a
// full disk: an empty plan, and success). What they changed stays changed;
// the exit status says the result was not written.
func TestStdoutWriteFailureText(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.Lock(ctx, "held", client.LockOptions{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Lock(ctx, "freed", client.LockOptions{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Unlock(ctx, "freed", "k", ""); err != nil {
		t.Fatal(err)
	}
	repo := poolRepo(t, map[string]string{"aws/unclaimed/aws-1": "{}"})

	// Each says that its change was made all the same, so that exit 1 is
	// not taken for nothing done (and an unlock tried again, giving back
	// a second hold).
	for _, tc := range []struct {
		args []string
		done string
	}{
		{[]string{"unlock", "held", "--key", "k"}, "the release was done"},
		{[]string{"forget", "freed"}, "the lock was forgotten"},
		{[]string{"pool", "add", "envs", "env-1"}, "the member was added"},
		{[]string{"pool", "add", "envs", "env-1", "--json"}, "the member was added"},
		{[]string{"pool", "rm", "envs", "env-1"}, "the member was removed"},
		{[]string{"import-pool-repo", repo, "--dry-run"}, "the dry run changed nothing"},
		{[]string{"import-pool-repo", repo}, "the import was done"},
	} {
		if r := runFailingStdout(t, env, tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.done+", but its result could not be written to stdout (no space left on device)") {
			t.Errorf("%q with stdout unwritable: exit %d, stderr %q; want exit 1, saying %q and why", tc.args, r.code, r.stderr, tc.done)
		}
	}
	// Done all the same.
	if l, _ := cl.Get(ctx, "held"); !l.Free() {
		t.Errorf("unlock was not done: %+v", l)
	}
	if p, err := cl.Pool(ctx, "aws"); err != nil || p.Total != 1 {
		t.Errorf("import was not done: %+v, %v", p, err)
	}
}
