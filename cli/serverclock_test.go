package cli

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// A server whose lease clock is an hour behind this machine's wall clock
// (catching up with a step of its wall clock, or its clock simply behind):
// the times it writes are by that clock, and its Date header says so.
// locker ls and status count leases and holds by the server's clock, not
// by this machine's, which would show a lease with ten minutes left as
// run out ("0s") and a lock just taken as held for minus an hour.
func TestListAndStatusCountByTheServersClock(t *testing.T) {
	behind := func() time.Time { return time.Now().Add(-time.Hour).UTC().Round(0) }
	store, err := filestore.Open(filepath.Join(t.TempDir(), "locks.yml"), filestore.Options{NoSync: true, Now: behind})
	if err != nil {
		t.Fatal(err)
	}
	svc := lockservice.New(store, lockservice.Config{Now: behind})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{}))
	t.Cleanup(func() {
		svc.Close()
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		store.Close()
	})
	env := map[string]string{"LOCKER_URL": srv.URL}
	locker(t, ctx, env, "lock", "prod", "--key", "k", "--ttl", "10m").want(t, 0, `locked 'prod'`, `^$`)
	// The server's clock is known to within a second (Date has whole
	// seconds): about ten minutes left, held for about nothing; by this
	// machine's clock, 0s left and held for an hour.
	locker(t, ctx, env, "ls").want(t, 0, `prod +held +k +k x1 +[0-9]s +(10m|10m0[01]s|9m[0-9]+s) +1 +0`, `^$`)
	locker(t, ctx, env, "status", "prod").want(t, 0, `held for: +[0-9]s .*\n.*lease ends in (10m|10m0[01]s|9m[0-9]+s)\n`, `^$`)
	// A pool's members too: held for about nothing, not an hour.
	locker(t, ctx, env, "pool", "add", "envs", "e1").want(t, 0, ``, `^$`)
	locker(t, ctx, env, "lock", "e1", "--key", "k").want(t, 0, `locked 'e1'`, `^$`)
	locker(t, ctx, env, "pool", "ls").want(t, 0, `envs +0/1 +e1 +held +k +k x1 +[0-9]s `, `^$`)
	locker(t, ctx, env, "pool", "ls", "envs").want(t, 0, `envs +0/1 +e1 +held +k +k x1 +[0-9]s `, `^$`)
}
