package lockservice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// TestForgetDropsLeaseCheck: a lock forgotten after a hold with a long
// lease leaves nothing in the lease watcher. Before, each name kept its
// check (a map entry and a heap item) until the old lease would have run
// out: locks named per branch, with a lease of days (or of the 292 years a
// ttl may ask for without LOCKER_MAX_TTL), grew the server's memory for
// good with each name.
func TestForgetDropsLeaseCheck(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	const n = 300
	for i := range n {
		name := fmt.Sprintf("branch-%d", i)
		e.acquire(name, "A", "a", 1000*time.Hour)
		e.release(name, "A", "a")
		if _, err := e.svc.Forget(context.Background(), name); err != nil {
			t.Fatalf("forgetting %q: %v", name, err)
		}
	}
	if locks, kept := e.svc.LeaseChecks(); locks != 0 || kept > n/4 {
		t.Fatalf("after %d locks taken with a lease, released and forgotten: the lease watcher keeps checks for %d locks (%d in all); want none for forgotten locks", n, locks, kept)
	}
	// A name taken again is watched again.
	e.acquire("branch-0", "A", "a", 50*time.Millisecond)
	e.eventually(func() bool { l := e.get("branch-0"); return l.Free() }, "the lease of branch-0, taken again, to expire")
}

// TestShortenedLeasesKeepNoPileOfChecks: renewals that each shorten a
// lease leave a check behind each (a later check is kept until its time,
// then dropped); they must not pile up by the thousand for one lock.
func TestShortenedLeasesKeepNoPileOfChecks(t *testing.T) {
	e := newEnv(t, lockservice.Config{})
	e.acquire("x", "A", "a", 1000*time.Hour)
	const n = 1000
	for i := 1; i <= n; i++ {
		if _, err := e.svc.Refresh(context.Background(), "x", "A", "a", 1000*time.Hour-time.Duration(i)*time.Second); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if locks, kept := e.svc.LeaseChecks(); locks != 1 || kept > 100 {
		t.Fatalf("after %d renewals, each shortening the lease of one lock: the lease watcher keeps %d checks for %d locks; want a handful for one", n, kept, locks)
	}
	// The lease still runs out when it should: shortened to a moment now.
	if _, err := e.svc.Refresh(context.Background(), "x", "A", "a", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { l := e.get("x"); return l.Free() }, "the shortened lease to expire")
}

// TestForgetDropsSkewedLeaseCheck: a lock forgotten while the lease
// watcher keeps looking at it because the clocks disagree (its lease run
// out by this server's clock, not by the store's: a replica ahead of the
// database) leaves nothing behind either.
func TestForgetDropsSkewedLeaseCheck(t *testing.T) {
	store := memstore.New(memstore.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	const n = 20
	for i := range n {
		if _, err := svc.Acquire(ctx, fmt.Sprintf("db-%d", i), lock.Request{Key: "a", Holder: "a", TTL: 100 * time.Millisecond}, 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() bool { return svc.LeaseSkews() == n }, "the lease watcher to see the %d leases run out by its clock and not by the store's", n)
	for i := range n {
		name := fmt.Sprintf("db-%d", i)
		if _, released, err := svc.Release(ctx, name, "a", "a"); err != nil || !released {
			t.Fatalf("releasing %q: %v, %v", name, released, err)
		}
		if _, err := svc.Forget(ctx, name); err != nil {
			t.Fatalf("forgetting %q: %v", name, err)
		}
	}
	eventually(t, func() bool { return svc.LeaseSkews() == 0 }, "the lease watcher to drop the %d forgotten locks (it keeps %d)", n, svc.LeaseSkews())
	if locks, _ := svc.LeaseChecks(); locks != 0 {
		t.Fatalf("checks kept for %d forgotten locks", locks)
	}
}
