package client_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestLockWithExtremeWaits: Lock asking for the longest wait there is
// (which the server caps), or a wait an hour past (no wait), is sent and
// granted. Its time limit, the wait on top of Options.Timeout, was
// negative for both (it wrapped, or the wait was taken off), and it
// failed at once with "no answer within -2562047h...", "-59m30s".
func TestLockWithExtremeWaits(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	for _, wait := range []time.Duration{math.MaxInt64, -time.Hour} {
		l, err := c.Lock(context.Background(), "prod", client.LockOptions{Key: "k", Wait: wait})
		if err != nil || l.LockedBy["k"] == 0 {
			t.Errorf("Lock with a wait of %s: %+v, %v; want it granted", wait, l, err)
		}
	}
}
