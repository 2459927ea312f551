package lockservice_test

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// countingStore counts the changes asked of the store.
type countingStore struct {
	lock.Store
	updates atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	s.updates.Add(1)
	return s.Store.Update(ctx, name, m)
}

// countedService runs a service on a countingStore over a memstore with
// opts, until the test ends.
func countedService(t *testing.T, opts memstore.Options) (*countingStore, *lockservice.Service, context.Context) {
	t.Helper()
	store := &countingStore{Store: memstore.New(opts)}
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return store, svc, ctx
}

// TestWaiterWithClockAheadOfTheStore: a waiter whose clock is ahead of the
// store's (a replica ahead of the database) sees a lease run out before the
// store does. It must look again later and later, not spin asking the store
// until the store's clock catches up; and it still gets the lock.
func TestWaiterWithClockAheadOfTheStore(t *testing.T) {
	t.Parallel()
	store, svc, ctx := countedService(t, memstore.Options{Now: func() time.Time { return time.Now().Add(-time.Second) }})
	if _, err := svc.Acquire(ctx, "db", lock.Request{Key: "a", Holder: "a", TTL: 500 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	before := store.updates.Load()
	l, err := svc.Acquire(ctx, "db", lock.Request{Key: "b", Holder: "b"}, patience)
	if err != nil || l.Key != "b" {
		t.Fatalf("the waiter got %+v, %v; want the lock once the lease ran out", l, err)
	}
	// Without the back-off: hundreds of thousands while the lease has run
	// out by the waiter's clock and not by the store's. With it, a few
	// dozen at most.
	if n := store.updates.Load() - before; n > 200 {
		t.Errorf("the waiter asked the store %d times while the clocks disagreed", n)
	}
}

// TestPoolMemberFreeByTheStoresClock: a pool whose only member's lease has
// run out by the store's clock (the database's, which decides leases) but
// not yet by this server's (a replica whose clock is behind) has a free
// member: taking one without waiting gets it, rather than "no free member".
func TestPoolMemberFreeByTheStoresClock(t *testing.T) {
	store := memstore.New(memstore.Options{Now: func() time.Time { return time.Now().Add(time.Minute) }})
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AcquireFromPool(ctx, "envs", lock.Request{Key: "a", Holder: "a", TTL: 100 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the lease is over by the store's clock, 59.9s to go by ours
	l, err := svc.AcquireFromPool(ctx, "envs", lock.Request{Key: "b", Holder: "b"}, 0)
	if err != nil || l.Name != "env-1" || l.Key != "b" {
		t.Fatalf("taking a member whose lease ran out by the store's clock: %+v, %v", l, err)
	}
}

// TestLeaseWatcherWithClockAheadOfTheStore: the lease watcher of a server
// whose clock is ahead of the store's (a replica ahead of the database)
// finds a lease due that the store says has not run out: with the clocks
// a minute apart, every lease shorter than that, from the moment it is
// granted. It must look again later and later, not every 10ms until the
// lease runs out by the store's clock (a hundred reads a second of the
// database per lease, from every such replica); and the lease still runs
// out.
func TestLeaseWatcherWithClockAheadOfTheStore(t *testing.T) {
	t.Parallel()
	store, svc, ctx := countedService(t, memstore.Options{Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	if _, err := svc.Acquire(ctx, "db", lock.Request{Key: "a", Holder: "a", TTL: 1500 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	before := store.updates.Load()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := svc.Get(ctx, "db")
		if err != nil {
			t.Fatal(err)
		}
		if l.Free() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not run out: %+v", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Without the back-off: about a hundred and fifty (1.5s of every
	// 10ms). With it, a dozen at most.
	if n := store.updates.Load() - before; n > 40 {
		t.Errorf("the lease watcher asked the store %d times while the clocks disagreed", n)
	}
}

// TestWaiterBehindTheLongestLease: a waiter behind a hold with the longest
// lease a request may ask for (math.MaxInt64 nanoseconds, about 292 years)
// must sleep until woken, polled or out of time, asking the store once.
// Its pause until just after the lease's end (time.Until saturating at the
// longest duration, plus a millisecond) overflowed into a negative one
// during the lease's first millisecond, and for as long as the store's
// clock is ahead of the waiter's (a replica behind the database; here a
// minute): it asked the store again at once, then, taking the lease for
// one the clocks disagree on, again and again after 10ms, 20ms, 40ms...
// The count is over the waiter's wait, not a measure of speed: with the fix
// a slow machine asks no more often; without it, still a few times more.
func TestWaiterBehindTheLongestLease(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: memstore.New(memstore.Options{Now: func() time.Time { return time.Now().Add(time.Minute) }})}
	// No poll during the wait: the only attempts are the first and those
	// the lease's end brings.
	svc := lockservice.New(store, lockservice.Config{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	longest := time.Duration(math.MaxInt64)
	if _, err := svc.Acquire(ctx, "db", lock.Request{Key: "a", Holder: "a", TTL: longest}, 0); err != nil {
		t.Fatal(err)
	}
	before := store.updates.Load()
	_, err := svc.Acquire(ctx, "db", lock.Request{Key: "b", Holder: "b"}, time.Second)
	if lock.ErrorCode(err) != lock.ECONFLICT {
		t.Fatalf("the waiter got %v; want ECONFLICT once its wait ran out", err)
	}
	if n := store.updates.Load() - before; n > 2 {
		t.Errorf("the waiter asked the store %d times while the lock was held for 292 years; want 1", n)
	}
}
