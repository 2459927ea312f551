package cli

import (
	"context"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestKillOnLostWithoutALeaseWarns: --kill-on-lost watches the lease, so a
// hold granted without one (--ttl 0, a server with no default lease) can
// never be seen lost, not even when forced free. It used to be accepted in
// silence; it now says so. With a lease the server gives by default
// (LOCKER_DEFAULT_TTL) there is something to watch, and no warning.
func TestKillOnLostWithoutALeaseWarns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	locker(t, ctx, env, "run", "x", "--ttl", "0", "--kill-on-lost", "--", "true").want(t, 0, `^$`,
		`^locker run: warning: --kill-on-lost watches the lease, and 'x' was granted none \(--ttl 0\): a forced release will not be noticed, and the command runs on\n$`)
	locker(t, ctx, env, "run", "x", "--ttl", "0", "--", "true").want(t, 0, `^$`, `^$`)
	locker(t, ctx, env, "run", "x", "--kill-on-lost", "--", "true").want(t, 0, `^$`, `^$`)

	withDefault := testServer(t, httpapi.Config{}, lockservice.Config{DefaultTTL: time.Minute})
	env = map[string]string{"LOCKER_URL": withDefault}
	locker(t, ctx, env, "run", "x", "--ttl", "0", "--kill-on-lost", "--", "true").want(t, 0, `^$`, `^$`)
}
