package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestRunReleaseLeavesAHoldTakenAfreshInASharedLock: while the command
// ran, its hold was released and the same key and holder took the lock
// afresh, while a sibling holder kept it held under the key, so that its
// fence token stayed the run's. The release must not give back that other
// hold (its start time tells it from the run's), and the run says the
// lock was lost.
func TestRunReleaseLeavesAHoldTakenAfreshInASharedLock(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.Lock(ctx, "prod", client.LockOptions{Key: "K", Holder: "sibling", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	done := runStarted(t, ctx, env, dir, "run", "prod", "--key", "K", "--holder", "H", "--ttl", "0", "--",
		"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
	if _, err := cl.Unlock(ctx, "prod", "K", "H"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a start time of its own, whatever the clock's grain
	other, err := cl.Lock(ctx, "prod", client.LockOptions{Key: "K", Holder: "H"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
	r := <-done
	l, err := cl.Get(ctx, "prod")
	if err != nil || l.LockedBy["H"] != 1 || l.Fence != other.Fence {
		t.Fatalf("after the run: %+v, %v; want the hold taken afresh kept (%+v)", l, err, other)
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (the lock was lost while the command ran); stderr %q", r.code, r.stderr)
	}
}
