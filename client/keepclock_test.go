package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestKeepWithoutLeaseTrustsNoClock: a Lock without Lease (read back
// after its answer was lost, or from Get: the server said its expires,
// not how long the lease runs) tells how long the hold has left only by
// this machine's clock, here 2s behind the server's. Kept with a TTL, or
// without (the lease left), a first renewal that fails presumes the hold
// lost at once, before the server's lease can run out; before, the keeper
// counted the 2s the server's clock is ahead as lease, and presumed the
// loss after the lease had run out.
func TestKeepWithoutLeaseTrustsNoClock(t *testing.T) {
	t.Parallel()
	for _, keep := range []time.Duration{3 * time.Second, 0} {
		g, c := keptServerWith(t, lockservice.Config{}, &renewals{ahead: 2 * time.Second})
		ctx := context.Background()
		l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		l.Lease = 0 // as a read-back's (GET's answer has no Locker-Lease)
		time.Sleep(time.Second)
		g.cut.Store(true)
		k, err := c.Keep(ctx, l, "k", "", client.KeepOptions{TTL: keep})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Stop()
		now, err := c.Get(ctx, "prod") // GETs are not shifted: the true expiry
		if err != nil {
			t.Fatal(err)
		}
		expires := now.Holds["k"].Expires
		select {
		case <-k.Lost():
		case <-time.After(10 * time.Second):
			t.Fatalf("TTL %s: not presumed lost", keep)
		}
		var lost *client.LostError
		if !errors.As(k.Err(), &lost) || !lost.Presumed {
			t.Fatalf("TTL %s: Err = %v, want a presumed loss", keep, k.Err())
		}
		if at := k.Renewed().Add(lost.Unrenewed); !at.Before(expires) {
			t.Errorf("TTL %s: presumed lost %s after the server's lease ran out", keep, at.Sub(expires))
		}
	}
}

// TestKeepWithoutLeaseAsksNoLongerOne: kept without a TTL of its own, a
// Lock without Lease from a server whose clock is an hour ahead is renewed
// for the lease it was taken with (2s), not for that hour besides: a
// program that then dies leaves the lock held no longer than it asked.
func TestKeepWithoutLeaseAsksNoLongerOne(t *testing.T) {
	t.Parallel()
	_, c := keptServerWith(t, lockservice.Config{}, &renewals{ahead: time.Hour})
	ctx := context.Background()
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l.Lease = 0 // as a read-back's
	keeping(t, c, l, client.KeepOptions{})
	now, err := c.Get(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(now.Holds["k"].Expires); left > 2*time.Second {
		t.Fatalf("after Keep's first renewal the hold has %s of its lease left; want no more than the 2s it was taken with", left)
	}
}
