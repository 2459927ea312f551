package cli

import (
	"context"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestNestedRunWarns: locker run or locker lock asking, under another key,
// for the lock that the locker run it runs under holds (LOCKER_LOCK and
// LOCKER_KEY in its environment: a deploy script that takes the lock
// itself, run by a wrapper that took it already) waits for a hold that
// ends only after it: for ever, without --wait. It says so on stderr,
// and how to share the hold instead; it used to wait without a word (on a
// terminal or with -v, "waiting for lock ..." only).
func TestNestedRunWarns(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.Lock(ctx, "nest", client.LockOptions{Key: "outer"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LOCKER_URL": url, "LOCKER_LOCK": "nest", "LOCKER_KEY": "outer", "LOCKER_HOLDER": "outer"}
	warning := `^locker (run|lock): warning: 'nest' is the lock this runs under \(LOCKER_LOCK\), held under key 'outer' \(LOCKER_KEY\): under another key, this waits for that hold to end, for ever if that is the locker run waiting for this command; give --key "\$LOCKER_KEY" to share it\n`
	locker(t, ctx, env, "run", "nest", "--wait", "200ms", "--", "true").want(t, 3, `^$`, warning+`locker run: gave up after waiting 200ms`)
	locker(t, ctx, env, "lock", "nest", "--key", "inner", "--wait", "200ms").want(t, 3, `^$`, warning+`locker lock: gave up after waiting 200ms`)
	// Sharing the hold, or another lock: nothing to say.
	locker(t, ctx, env, "run", "nest", "--key", "outer", "--wait", "0", "--", "true").want(t, 0, `^$`, `^$`)
	locker(t, ctx, env, "run", "other", "--wait", "0", "--", "true").want(t, 0, `^$`, `^$`)
}
