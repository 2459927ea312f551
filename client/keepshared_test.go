package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestKeepLosesAHoldTakenAfreshInASharedLock: a kept hold of a lock
// shared under its key (another holder keeps it held, so its fence token
// never moves on) ran out while renewals failed, and the same key and
// holder took it afresh since (a job tried again). The server cannot tell
// the new hold from the kept one by the token; the hold's acquired time
// tells them apart. The keeper must lose the hold for sure, not report it
// recovered and go on renewing the other call's hold.
func TestKeepLosesAHoldTakenAfreshInASharedLock(t *testing.T) {
	t.Parallel()
	g, c := keptServer(t)
	ctx := context.Background()
	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "sibling", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	k, ev := keeping(t, c, l, client.KeepOptions{})
	g.cut.Store(true)
	<-k.Lost()
	waitFor(t, func() bool {
		now, err := c.Get(ctx, "prod")
		if err != nil {
			return false
		}
		_, held := now.Holds["k"]
		return !held
	})
	again, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if again.Fence != l.Fence {
		t.Fatalf("the lock went free: fence %d, was %d", again.Fence, l.Fence)
	}
	g.cut.Store(false)
	ended(t, k, "the keeper went on renewing a hold taken afresh by the same key and holder")
	var lost *client.LostError
	if err := k.Err(); !errors.As(err, &lost) || lost.Presumed {
		t.Fatalf("Err = %v, want a LostError for sure", err)
	}
	if n := ev.count(client.KeepRecovered); n != 0 {
		t.Errorf("the keeper told %d KeepRecovered for another call's hold", n)
	}
	// The server refused the renewal (it names the kept hold by the time
	// it began): the other call's hold keeps the hour it was granted, not
	// the keeper's 300ms.
	if now, err := c.Get(ctx, "prod"); err != nil || !now.Holds["k"].Expires.Equal(again.Holds["k"].Expires) {
		t.Fatalf("the hold taken afresh is now %+v (%v); want its lease as granted, %v", now.Holds["k"], err, again.Holds["k"].Expires)
	}
}
