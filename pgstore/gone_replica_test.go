package pgstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// A replica whose database sessions are gone (the process killed, or cut
// off from the database) while its waiter is first in line: once the lock
// is free, the waiter of another replica behind it gets it, long before the
// gone replica's heartbeat goes stale (150s here: Heartbeat 30s; the test's
// patience is 10s).
func TestReplicasGoneReplicaWaiterIsPassed(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 30 * time.Second, PresenceCheck: 100 * time.Millisecond}
	cfg := lockservice.Config{PollInterval: 200 * time.Millisecond}
	a := openReplica(t, dbURL, "a", opts, cfg)
	b := openReplica(t, dbURL, "b", opts, cfg)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	f := startFreezer(t, u.Host)
	u.Host = f.addr()
	copts := opts
	copts.QueryTimeout = time.Second
	c := openReplica(t, u.String(), "c", copts, cfg)
	a.acquire(t, "q", "holder", 0)
	c.wait(t, "q", "on-c", 1)
	wb := b.wait(t, "q", "on-b", 2)
	eventually(t, "b sees c's presence", func() bool { seen, _ := b.store.Sees("c"); return seen })
	// c's connections end, and it cannot connect again: to the database
	// it is dead, while its row stays first in line with a fresh heartbeat.
	f.down()
	a.release(t, "q", "holder")
	if err := receive(t, wb, "the waiter behind the gone replica's"); err != nil {
		t.Fatalf("waiter on b: %v", err)
	}
	if l, _ := a.svc.Get(bg, "q"); l.Key != "on-b" {
		t.Fatalf("lock %+v, want held by on-b", l)
	}
	// Its row is still there, not counted by the replicas that pass it
	// over, until it goes stale.
	if n := b.svc.Waiters("q"); n != 0 {
		t.Fatalf("%d waiters counted on b, want 0", n)
	}
}

// A replica whose database sessions end while its process lives (the
// database ended them, pg_terminate_backend) connects again and holds its
// presence again: its waiters, passed over for that moment at most, have
// their places back.
func TestReplicasReconnectedReplicaWaiterKeepsItsPlace(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 30 * time.Second, PresenceCheck: 100 * time.Millisecond}
	cfg := lockservice.Config{PollInterval: 200 * time.Millisecond}
	a := openReplica(t, dbURL, "a", opts, cfg)
	b := openReplica(t, dbURL, "b", opts, cfg)
	b6 := make([]byte, 6)
	rand.Read(b6)
	app := "locker_test_" + hex.EncodeToString(b6)
	c := openReplica(t, dbURL+"&application_name="+app, "c", opts, cfg)
	a.acquire(t, "q", "holder", 0)
	wc := c.wait(t, "q", "on-c", 1)
	wb := b.wait(t, "q", "on-b", 2)
	eventually(t, "b sees c's presence", func() bool { seen, _ := b.store.Sees("c"); return seen })
	endSessions(t, app)
	eventually(t, "c's LISTEN connection made again", func() bool {
		conn, err := pgx.Connect(bg, dbURL)
		if err != nil {
			return false
		}
		defer conn.Close(bg)
		var n int
		conn.QueryRow(bg, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app).Scan(&n)
		return n == 1
	})
	eventually(t, "b sees c's presence again", func() bool { seen, gone := b.store.Sees("c"); return seen && !gone })
	if ws, err := b.store.Ahead(bg, "q", 0); err != nil || len(ws) != 2 || ws[0].Key != "on-c" || ws[1].Key != "on-b" {
		t.Fatalf("queue as b reads it: %v, %v; want on-c, on-b", ws, err)
	}
	a.release(t, "q", "holder")
	if err := receive(t, wc, "c's waiter, first again"); err != nil {
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

// The waiters of a replica never found holding its presence (an older
// Locker, which takes none) are not passed over: they go stale only by
// their heartbeat.
func TestReplicasWaiterWithoutPresenceIsNotPassed(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 30 * time.Second, PresenceCheck: 100 * time.Millisecond}
	cfg := lockservice.Config{PollInterval: 200 * time.Millisecond}
	a := openReplica(t, dbURL, "a", opts, cfg)
	b := openReplica(t, dbURL, "b", opts, cfg)
	a.acquire(t, "q", "holder", 0)
	sql(t, dbURL, `INSERT INTO locker_waiters (name, key, holder, replica) VALUES ('q', 'old', 'old', 'old')`)
	wa := a.wait(t, "q", "on-a", 2)
	wb := b.wait(t, "q", "on-b", 3)
	// b has looked since the old replica's row was written: it found a's
	// presence (whose waiter came after that row).
	eventually(t, "b sees a's presence", func() bool { seen, _ := b.store.Sees("a"); return seen })
	if seen, gone := b.store.Sees("old"); seen || gone {
		t.Fatalf("b sees the old replica %v, passes it over %v; want neither", seen, gone)
	}
	if ws, err := b.store.Ahead(bg, "q", 0); err != nil || len(ws) != 3 || ws[0].Key != "old" {
		t.Fatalf("queue as b reads it: %v, %v; want old, on-a, on-b", ws, err)
	}
	a.release(t, "q", "holder")
	// The old replica's waiter leaves (its heartbeat is fresh for 150s):
	// a's waiter is served at its next look.
	sql(t, dbURL, `DELETE FROM locker_waiters WHERE replica = 'old'`)
	if err := receive(t, wa, "a's waiter"); err != nil {
		t.Fatalf("waiter on a: %v", err)
	}
	if l, _ := a.svc.Get(bg, "q"); l.Key != "on-a" {
		t.Fatalf("lock %+v, want held by on-a", l)
	}
	a.release(t, "q", "on-a")
	if err := receive(t, wb, "b's waiter"); err != nil {
		t.Fatalf("waiter on b: %v", err)
	}
}

// TestAGoneReplicaWhoseWaitersLeftIsNotSaidToBeBack: once the waiters of a
// replica passed over had left the queue (a dead replica's heartbeat gone
// stale, ten seconds after it died, or removed), the other replicas logged
// "replica holds its presence again: its waiters keep their places", of a
// replica that had not come back and had no waiters any more: an operator
// reading the log took a dead replica for a live one. They say that its
// waiters are out of the queue.
func TestAGoneReplicaWhoseWaitersLeftIsNotSaidToBeBack(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	log := &captureLog{seen: make(chan struct{}, 1)}
	log.reset("replica that was gone has no waiters")
	b := openStore(t, dbURL, pgstore.Options{Replica: "b", PresenceCheck: 20 * time.Millisecond, Logger: slog.New(log)})
	// Replica x, as its LISTEN connection would: it holds its presence
	// (docs/ha.md) and has a waiter.
	x, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(bg)
	var held bool
	if err := x.QueryRow(bg, `SELECT pg_try_advisory_lock_shared($1, hashtext(coalesce(current_schema(), '') || ' ' || $2))`, int32(0x77616974), "x").Scan(&held); err != nil || !held {
		t.Fatalf("x's presence: %v, %v", held, err)
	}
	sql(t, dbURL, `INSERT INTO locker_waiters (name, key, holder, replica) VALUES ('q', 'k', 'h', 'x')`)
	eventually(t, "b sees x's presence", func() bool { seen, _ := b.Sees("x"); return seen })
	// x dies: its session ends, its waiter's row stays.
	x.Close(bg)
	eventually(t, "b passes x's waiters over", func() bool { _, gone := b.Sees("x"); return gone })
	if got := log.matching("replica's database session is gone"); len(got) != 1 || got[0].attrs["replica"].String() != "x" {
		t.Errorf("logged %+v, want that x is gone", got)
	}
	// Its row goes (stale, or removed).
	sql(t, dbURL, `DELETE FROM locker_waiters WHERE replica = 'x'`)
	select {
	case <-log.seen:
	case <-time.After(patience):
		t.Error("b did not log that x's waiters are out of the queue")
	}
	if seen, gone := b.Sees("x"); seen || gone {
		t.Errorf("b sees x %v, passes it over %v; want neither", seen, gone)
	}
	if got := log.matching("replica holds its presence again"); len(got) > 0 {
		t.Errorf("logged %+v of a replica that is not back", got)
	}
}
