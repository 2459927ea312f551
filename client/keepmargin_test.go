package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestKeepPresumesLossAtNineTenths: a renewal that fails just before the
// point where the hold is to be presumed lost (nine tenths of the lease)
// is followed by one at that point, not a whole retry interval later: the
// loss is presumed in time, and the keeper still has a try left before the
// lease runs out, with time enough for a slow network. A server back the
// moment the loss is presumed then renews the hold. Before, the next try
// came half the margin later, was cut to 10ms and presumed the loss there,
// and the one after it came as the lease ran out (locker run's
// TestRunLostThenRenewedInTime failed so, now and then).
func TestKeepPresumesLossAtNineTenths(t *testing.T) {
	t.Parallel()
	const lease = 10 * time.Second
	g, c := keptServerWith(t, lockservice.Config{}, &renewals{})
	ctx := context.Background()
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: lease})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	k, err := c.Keep(ctx, l, "k", "", client.KeepOptions{TTL: lease, Notify: func(e client.KeepEvent) {
		ev.notify(e)
		if e.Type == client.KeepLost {
			// Back as the loss is presumed, 200ms away.
			g.delay.Store(int64(200 * time.Millisecond))
			g.cut.Store(false)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	// The renewal under way as the keeper's own count of the lease
	// reaches 20ms before nine tenths fails then.
	g.failAt = k.Renewed().Add(lease - lease/10 - 20*time.Millisecond)
	g.cut.Store(true)
	for deadline := time.Now().Add(2 * lease); ev.count(client.KeepRecovered) == 0; time.Sleep(10 * time.Millisecond) {
		select {
		case <-k.Done():
			t.Fatalf("the keeper ended (%v), events %+v; want the hold presumed lost, then renewed", k.Err(), ev.got)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered; events %+v", ev.got)
		}
	}
	var lost *client.LostError
	for _, e := range ev.got {
		if e.Type == client.KeepLost && (!errors.As(e.Err, &lost) || !lost.Presumed) {
			t.Errorf("told %v, want only a presumed loss", e.Err)
		}
	}
	h, err := c.History(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if e.Type == "expired" {
			t.Errorf("the lease ran out though the server was back before it did: %+v", h)
		}
	}
}
