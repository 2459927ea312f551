package cli

import (
	"context"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestUnlockForceSaysWhomItFreed: locker unlock --force says, in the
// words of the CLI's other answers, whose holds it released and what the
// lock is now: free, or about to go to a waiter. It used to print the
// server's text, `force-released lock "x" from ["k"]` (Go's quoting of a
// list), and nothing of the waiter that took the lock next.
func TestUnlockForceSaysWhomItFreed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	cl, _ := client.New(client.Options{URL: url})
	for _, h := range []string{"a", "a", "b"} {
		if _, err := cl.Lock(ctx, "x", client.LockOptions{Key: "k", Holder: h}); err != nil {
			t.Fatal(err)
		}
	}
	locker(t, ctx, env, "unlock", "x", "--force").want(t, 0, `^force-released 'x' \(it was held by 'a' \(x2\) and 'b'\); it is free now\n$`, `^$`)
	locker(t, ctx, env, "unlock", "x", "--force").want(t, 0, `^lock "x" is not held; nothing to release\n$`, `^$`)

	// A waiter takes the lock once it is forced free.
	if _, err := cl.Lock(ctx, "y", client.LockOptions{Key: "old"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := cl.Lock(ctx, "y", client.LockOptions{Key: "next", Holder: "w", Wait: time.Minute})
		got <- err
	}()
	for {
		l, err := cl.Get(ctx, "y")
		if err != nil {
			t.Fatal(err)
		}
		if l.Waiters > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	locker(t, ctx, env, "unlock", "y", "--force").want(t, 0, `^force-released 'y' \(it was held by 'old'\); the first of its 1 waiter\(s\) takes it next\n$`, `^$`)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
