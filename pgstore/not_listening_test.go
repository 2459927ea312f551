package pgstore_test

import (
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// refuseNew lets no new connection through, and leaves those open as they
// are.
func (f *freezer) refuseNew() {
	f.mu.Lock()
	f.refusing = true
	f.mu.Unlock()
}

// TestReplicasNotListeningReplicaWaiterIsNotStarved: a replica whose LISTEN
// connection ends and cannot be made again (refused: the database out of
// connections, a firewall) while its process lives and its pooled
// connections work had its waiters passed over by the other replicas for
// as long as that lasted, minutes or more, as a dead replica's are: every
// waiter of another replica behind them took a freed lock first (at once,
// notified, where theirs find it only at their poll), and a lock always
// waited for on the healthy replicas was never theirs. Its waiters are
// still served by their poll (they take a lock themselves: it is never
// handed to one that cannot hear of it), and it renews their rows: once
// the others see a renewal after they found it gone, they keep its
// waiters in line and count them (a forget of a lock only they wait for
// is refused, as for any waiter).
func TestReplicasNotListeningReplicaWaiterIsNotStarved(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 500 * time.Millisecond, PresenceCheck: 200 * time.Millisecond}
	cfg := lockservice.Config{PollInterval: 200 * time.Millisecond}
	a := openReplica(t, dbURL, "a", opts, cfg)
	log := &captureLog{seen: make(chan struct{}, 1)}
	log.reset("replica's database session is gone")
	bopts := opts
	bopts.Logger = slog.New(log)
	b := openReplica(t, dbURL, "b", bopts, cfg)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	f := startFreezer(t, u.Host)
	u.Host = f.addr()
	q := u.Query()
	q.Set("pool_min_conns", "4") // open before new ones are refused
	u.RawQuery = q.Encode()
	c := openReplica(t, u.String(), "c", opts, cfg)
	a.acquire(t, "q", "holder", 0)
	wc := c.wait(t, "q", "on-c", 1)
	wb := b.wait(t, "q", "on-b", 2)
	eventually(t, "b sees c's presence", func() bool { seen, _ := b.store.Sees("c"); return seen })
	// c's LISTEN connection (which holds its presence) ends, and no new
	// connection of c's gets through; its pooled ones still work.
	f.refuseNew()
	sql(t, dbURL, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = 2002872692::oid AND objsubid = 2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND objid = hashtext(current_schema() || ' ' || 'c')::oid`)
	select {
	case <-log.seen:
	case <-time.After(patience):
		t.Fatal("b did not find c's presence gone")
	}
	// c lives, and renews its waiter's row: b keeps it in line.
	const renews = "replica without its presence still renews its waiters"
	eventually(t, "b keeps the waiter of c, which renews it, in line again", func() bool {
		return len(log.matching(renews)) > 0
	})
	if got := log.matching(renews); len(got) != 1 || got[0].attrs["replica"].String() != "c" {
		t.Errorf("logged %+v, want that c renews its waiters", got)
	}
	if seen, gone := b.store.Sees("c"); !seen || gone {
		t.Fatalf("b sees c %v, passes it over %v; want seen, not passed over", seen, gone)
	}
	if n := b.svc.Waiters("q"); n != 2 {
		t.Errorf("%d waiters counted on b, want 2", n)
	}
	var queue []lock.Queued
	if _, _, err := b.store.Update(bg, "q", func(l *lock.Lock, env lock.Env) []lock.Event {
		queue = env.Queue
		return nil
	}); err != nil || len(queue) != 2 || queue[0].Key != "on-c" {
		t.Fatalf("queue a change on b sees (a forget's refusal goes by it): %v, %v; want on-c, on-b", queue, err)
	}
	a.release(t, "q", "holder")
	// c's waiter, first in line, finds the freed lock at its poll: b's,
	// woken at once, waits behind it.
	if err := receive(t, wc, "c's waiter, first in line"); err != nil {
		t.Fatalf("waiter on c: %v", err)
	}
	if l, _ := a.svc.Get(bg, "q"); l.Key != "on-c" {
		t.Fatalf("lock %+v, want held by on-c", l)
	}
	c.release(t, "q", "on-c")
	if err := receive(t, wb, "b's waiter, after c's"); err != nil {
		t.Fatalf("waiter on b: %v", err)
	}
}

// TestReplicasWaitersOfAReplicaWhoseKeyAProgramTookKeepTheirPlaces: a
// program that holds a replica's own advisory key exclusively as the
// replica connects keeps it from taking it (and the replica takes it
// again only with its next LISTEN connection). The other replicas find
// the key held meanwhile (by the program), then, once the program lets
// it go, not held: they passed the replica's waiters over for as long as
// its LISTEN connection lasted. They keep them in line once they see the
// replica renew them.
func TestReplicasWaitersOfAReplicaWhoseKeyAProgramTookKeepTheirPlaces(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 500 * time.Millisecond, PresenceCheck: 200 * time.Millisecond}
	cfg := lockservice.Config{PollInterval: 200 * time.Millisecond}
	prog, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close(bg)
	var took bool
	if err := prog.QueryRow(bg, `SELECT pg_try_advisory_lock($1, hashtext(current_schema() || ' ' || 'c'))`, int32(0x77616974)).Scan(&took); err != nil || !took {
		t.Fatalf("the program taking c's key: %v, %v", took, err)
	}
	log := &captureLog{seen: make(chan struct{}, 1)}
	log.reset("replica's database session is gone")
	bopts := opts
	bopts.Logger = slog.New(log)
	b := openReplica(t, dbURL, "b", bopts, cfg)
	c := openReplica(t, dbURL, "c", opts, cfg)
	b.acquire(t, "q", "holder", 0)
	wc := c.wait(t, "q", "on-c", 1)
	eventually(t, "b finds c's key held (by the program)", func() bool { seen, _ := b.store.Sees("c"); return seen })
	if _, err := prog.Exec(bg, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-log.seen:
	case <-time.After(patience):
		t.Fatal("b did not find c's key let go")
	}
	eventually(t, "b keeps the waiter of c, which renews it, in line again", func() bool {
		_, gone := b.store.Sees("c")
		return !gone
	})
	wb := b.wait(t, "q", "on-b", 2)
	b.release(t, "q", "holder")
	if err := receive(t, wc, "c's waiter, first in line"); err != nil {
		t.Fatalf("waiter on c: %v", err)
	}
	c.release(t, "q", "on-c")
	if err := receive(t, wb, "b's waiter, after c's"); err != nil {
		t.Fatalf("waiter on b: %v", err)
	}
}
