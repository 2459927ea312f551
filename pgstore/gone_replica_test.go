package pgstore_test

import (
	"crypto/rand"
	"encoding/hex"
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
