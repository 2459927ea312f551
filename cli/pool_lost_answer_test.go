package cli

import (
	"context"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestPoolChangeAnswerLost: pool add and pool rm whose answer is lost on
// the way (made, then the connection dropped; a gateway's 502; a timeout;
// interrupted after the request went out) say that the change may have
// been made, as unlock and forget do, rather than only "cannot reach
// locker" or "interrupted", which read as nothing done.
func TestPoolChangeAnswerLost(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	p.dropPuts.Store(1)
	locker(t, ctx, env, "pool", "add", "envs", "env-1").want(t, 1, `^$`,
		`^locker pool add: .*; the answer was lost on the way, and the member may have been added: see 'locker pool ls envs'\n$`)
	if pl, err := cl.Pool(ctx, "envs"); err != nil || pl.Total != 1 {
		t.Fatalf("the add was not made: %+v, %v", pl, err)
	}
	p.dropDeletes.Store(1)
	locker(t, ctx, env, "pool", "rm", "envs", "env-1").want(t, 1, `^$`,
		`^locker pool rm: .*; the answer was lost on the way, and the member may have been removed: see 'locker pool ls envs'\n$`)

	// Interrupted once the request is on its way (at the proxy, which
	// stalls it): exit 1, as unlock, not 130 "interrupted" alone.
	if _, err := cl.AddMember(ctx, "envs", "env-2", nil); err != nil {
		t.Fatal(err)
	}
	p.stallDeletes.Store(1)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan result, 1)
	go func() { done <- locker(t, cctx, env, "pool", "rm", "envs", "env-2") }()
	for deadline := time.Now().Add(10 * time.Second); p.stallDeletes.Load() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the removal did not reach the proxy")
		}
	}
	cancel()
	(<-done).want(t, 1, `^$`, `^locker pool rm: interrupted; the answer was lost on the way, and the member may have been removed: see 'locker pool ls envs'\n$`)
}
