package cli

import (
	"context"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestPoolAcquireMaybeHeldSaysHowToRelease: pool acquire that finds a
// member held under its key and holder that it cannot claim as its own
// (interrupted as the server granted it, or the answer lost) names the
// member and the command that releases it, as locker lock does for its
// lock: "see 'locker pool ls POOL'" alone left a script's operator to work
// out which member, and how to unlock it, from the client's wrapped error.
func TestPoolAcquireMaybeHeldSaysHowToRelease(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	cl, _ := client.New(client.Options{URL: url})
	bg := context.Background()
	if _, err := cl.AddMember(bg, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}

	// Interrupted while the answer to a granted request is on its way.
	p.latePuts.Store(1)
	p.lateBy.Store(int64(3 * time.Second))
	ctx, cancel := context.WithCancel(bg)
	done := make(chan result, 1)
	go func() { done <- locker(t, ctx, env, "pool", "acquire", "envs", "--key", "pk", "--holder", "ph") }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if l, err := cl.Get(bg, "env-1"); err == nil && l.LockedBy["ph"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member was not granted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	r := <-done
	r.want(t, 130, `^$`, `^locker pool acquire: interrupted: gave up waiting for a member of pool 'envs', but the server may have granted 'env-1' just then: see 'locker status env-1', and release it with 'locker unlock env-1 --key pk --holder ph'`)
	if l, _ := cl.Get(bg, "env-1"); l.LockedBy["ph"] != 1 {
		t.Fatalf("the hold named was not left as it is: %+v", l)
	}
	if _, err := cl.Unlock(bg, "env-1", "pk", "ph"); err != nil {
		t.Fatal(err)
	}

	// The answer lost on the way.
	p.badGatewayPuts.Store(1)
	locker(t, bg, env, "pool", "acquire", "envs", "--key", "pk").want(t, 1, `^$`, `^locker pool acquire: the answer to the request for a member of pool 'envs' was lost, and member 'env-1' shows a hold of key 'pk', holder 'pk', taken meanwhile: .*release it with 'locker unlock env-1 --key pk --holder pk'`)
}
