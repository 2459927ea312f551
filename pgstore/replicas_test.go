package pgstore_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// These tests run several replicas — each its own Store (pool, LISTEN
// connection, heartbeat) and its own lockservice.Service — on one schema, as
// several Locker servers on one database do. Timeouts are generous: the
// machine is shared, and nothing here asserts speed.

const patience = 10 * time.Second

var bg = context.Background()

// replica is one Locker server's worth of state on the shared schema.
type replica struct {
	name  string
	store *pgstore.Store
	svc   *lockservice.Service
	stop  func()
}

// openReplica opens a store on dbURL and starts a service over it; both are
// shut down when the test ends, or earlier by r.stop.
func openReplica(t *testing.T, dbURL, name string, opts pgstore.Options, cfg lockservice.Config) *replica {
	t.Helper()
	opts.Replica = name
	store, err := pgstore.Open(bg, dbURL, opts)
	if err != nil {
		t.Fatalf("opening replica %s: %v", name, err)
	}
	svc := lockservice.New(store, cfg)
	ctx, cancel := context.WithCancel(bg)
	if err := svc.Start(ctx); err != nil {
		cancel()
		store.Close()
		t.Fatalf("starting replica %s: %v", name, err)
	}
	var once sync.Once
	r := &replica{name: name, store: store, svc: svc}
	r.stop = func() {
		once.Do(func() {
			svc.Close()
			cancel()
			store.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

func openReplicas(t *testing.T, dbURL string, n int, opts pgstore.Options, cfg lockservice.Config) []*replica {
	t.Helper()
	rs := make([]*replica, n)
	for i := range rs {
		rs[i] = openReplica(t, dbURL, fmt.Sprintf("replica-%c", 'a'+i), opts, cfg)
	}
	return rs
}

func (r *replica) acquire(t *testing.T, name, key string, ttl time.Duration) lock.Lock {
	t.Helper()
	l, err := r.svc.Acquire(bg, name, lock.Request{Key: key, Holder: key, TTL: ttl}, 0)
	if err != nil {
		t.Fatalf("%s: acquiring %s with key %s: %v", r.name, name, key, err)
	}
	return l
}

func (r *replica) release(t *testing.T, name, key string) lock.Lock {
	t.Helper()
	l, released, err := r.svc.Release(bg, name, key, key)
	if err != nil || !released {
		t.Fatalf("%s: releasing %s with key %s: released %v, err %v", r.name, name, key, released, err)
	}
	return l
}

// wait starts a blocking acquire (key = holder) on r and returns once the
// waiter is in the shared queue; n is its place in the queue (1: first).
func (r *replica) wait(t *testing.T, name, key string, n int) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := r.svc.Acquire(bg, name, lock.Request{Key: key, Holder: key}, time.Minute)
		done <- err
	}()
	eventually(t, fmt.Sprintf("%s's waiter %s queued", r.name, key), func() bool {
		ws, err := r.store.Ahead(bg, name, 0)
		if err != nil {
			return false
		}
		for i, w := range ws {
			if w.Key == key {
				if i+1 != n {
					t.Errorf("waiter %s is number %d in the queue %v, want %d", key, i+1, ws, n)
				}
				return true
			}
		}
		return false
	})
	return done
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", patience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func receive(t *testing.T, c <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(patience):
		t.Fatalf("timed out after %s: %s", patience, what)
		return nil
	}
}

// sql runs statements on the schema directly, as another program (or a
// replica that died) would.
func sql(t *testing.T, dbURL, query string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	if _, err := conn.Exec(bg, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// A release on one replica wakes a waiter on another through LISTEN/NOTIFY:
// the waiter's replica polls only once an hour here, so nothing else could
// wake it in time.
func TestReplicasReleaseWakesWaiterOnAnotherReplica(t *testing.T) {
	dbURL := pgtest.Schema(t)
	a := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	b := openReplica(t, dbURL, "b", pgstore.Options{}, lockservice.Config{PollInterval: time.Hour})
	a.acquire(t, "deploy", "first", 0)
	w := b.wait(t, "deploy", "second", 1)
	select {
	case err := <-w:
		t.Fatalf("the waiter returned while the lock was held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	a.release(t, "deploy", "first")
	if err := receive(t, w, "the waiter on b after a release on a"); err != nil {
		t.Fatalf("waiter on b: %v", err)
	}
	l, err := a.svc.Get(bg, "deploy")
	if err != nil || l.Key != "second" {
		t.Fatalf("a sees %+v (%v), want the lock held by second", l, err)
	}
}

// A change no replica announced (as if its notification were lost) still
// reaches a waiter: its replica polls.
func TestReplicasPollWhenNotificationIsLost(t *testing.T) {
	dbURL := pgtest.Schema(t)
	a := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{PollInterval: 200 * time.Millisecond})
	a.acquire(t, "deploy", "first", 0)
	w := a.wait(t, "deploy", "second", 1)
	// Free the lock behind the replicas' backs: no NOTIFY.
	sql(t, dbURL, `UPDATE locker_locks SET key = '', holds = '{}', since = NULL WHERE name = 'deploy'`)
	if err := receive(t, w, "the waiter after a silent release"); err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

// Waiters that joined in a known order on different replicas get the lock in
// that order.
func TestReplicasFIFOAcrossReplicas(t *testing.T) {
	dbURL := pgtest.Schema(t)
	rs := openReplicas(t, dbURL, 3, pgstore.Options{}, lockservice.Config{})
	rs[0].acquire(t, "q", "holder", 0)
	// Joined one at a time, each on another replica than the one before.
	order := []struct {
		on  *replica
		key string
	}{{rs[1], "w1"}, {rs[2], "w2"}, {rs[0], "w3"}, {rs[1], "w4"}, {rs[2], "w5"}}
	done := map[string]<-chan error{}
	for i, o := range order {
		done[o.key] = o.on.wait(t, "q", o.key, i+1)
	}
	granted := make(chan string, len(order))
	for _, o := range order {
		go func() {
			if err := <-done[o.key]; err != nil {
				t.Errorf("waiter %s on %s: %v", o.key, o.on.name, err)
				granted <- "error:" + o.key
				return
			}
			granted <- o.key
		}()
	}
	prev, prevOn := "holder", rs[0]
	for i, o := range order {
		// Release from a replica other than the holder's own now and then:
		// any replica may serve any client.
		releaser := prevOn
		if i%2 == 1 {
			releaser = rs[(i+1)%3]
		}
		releaser.release(t, "q", prev)
		var got string
		select {
		case got = <-granted:
		case <-time.After(patience):
			t.Fatalf("nobody got the lock within %s after %s released it", patience, prev)
		}
		if got != o.key {
			t.Fatalf("after %s released, %s got the lock; want %s (queue order w1..w5)", prev, got, o.key)
		}
		l, err := rs[2].svc.Get(bg, "q")
		if err != nil || l.Key != o.key {
			t.Fatalf("lock after %s was granted: %+v (%v)", o.key, l, err)
		}
		prev, prevOn = o.key, o.on
	}
}

// A waiter whose replica died (its row stays in the queue, no longer kept
// alive) does not block the waiters behind it for longer than the heartbeat
// allows.
// TestReplicasKeptPlaceOnAnotherReplica: a waiter whose wait ran out on
// one replica, asking again on another, gets its place back there, ahead
// of a waiter that came after it; the replica it came back on keeps the
// row alive.
func TestReplicasKeptPlaceOnAnotherReplica(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	// Stale after 2.5s: a loaded machine may hold up a heartbeat for a
	// second (CI once granted c the lock so, with 200ms and 1s).
	rs := openReplicas(t, dbURL, 2, pgstore.Options{Heartbeat: 500 * time.Millisecond}, lockservice.Config{})
	rs[0].acquire(t, "q", "holder", 0)
	_, err := rs[0].svc.Acquire(bg, "q", lock.Request{Key: "b", Holder: "b"}, 200*time.Millisecond)
	if lock.ErrorCode(err) != lock.ECONFLICT {
		t.Fatalf("b's first wait: %v, want it to run out", err)
	}
	c := rs[0].wait(t, "q", "c", 1)
	b := rs[1].wait(t, "q", "b", 1) // back in its place, before c
	time.Sleep(3 * time.Second)     // past the stale time: the new replica's heartbeat keeps it
	rs[0].release(t, "q", "holder")
	select {
	case err := <-b:
		if err != nil {
			t.Fatalf("b: %v", err)
		}
	case err := <-c:
		t.Fatalf("c, who came after b, got the lock first (%v)", err)
	case <-time.After(patience):
		t.Fatal("nobody got the lock")
	}
	rs[1].release(t, "q", "b")
	if err := <-c; err != nil {
		t.Fatalf("c: %v", err)
	}
}

// TestReplicasStoppedReplicaKeepsPlaces: a replica that is shut down (a
// rolling restart) while its clients wait, or just after one's wait ran
// out, keeps their places for them: asking again on another replica, each
// is ahead of a waiter that came after it (an HA review saw every one of
// them sent to the back of the line).
func TestReplicasStoppedReplicaKeepsPlaces(t *testing.T) {
	dbURL := pgtest.Schema(t)
	a := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	b := openReplica(t, dbURL, "b", pgstore.Options{}, lockservice.Config{})
	a.acquire(t, "q", "holder", 0)
	if _, err := b.svc.Acquire(bg, "q", lock.Request{Key: "ran-out", Holder: "ran-out"}, 100*time.Millisecond); lock.ErrorCode(err) != lock.ECONFLICT {
		t.Fatalf("a wait on b that runs out: %v", err)
	}
	cut := b.wait(t, "q", "cut-off", 1)
	later := a.wait(t, "q", "later", 2)
	// As a server stops: the service first (its waiters answered, their
	// places kept), then, its requests done, the store.
	b.svc.Close()
	if err := receive(t, cut, "the waiter of the stopped replica"); lock.ErrorCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("waiter on the stopped replica: %v, want unavailable", err)
	}
	b.stop()
	ranOut := a.wait(t, "q", "ran-out", 1) // back in their places
	cutOff := a.wait(t, "q", "cut-off", 2)
	for _, next := range []struct {
		name string
		ch   <-chan error
	}{{"ran-out", ranOut}, {"cut-off", cutOff}, {"later", later}} {
		holder := "holder"
		if l, _ := a.svc.Get(bg, "q"); !l.Free() {
			holder = l.Holders()[0]
		}
		a.release(t, "q", holder)
		if err := receive(t, next.ch, next.name); err != nil {
			t.Fatalf("%s: %v", next.name, err)
		}
		if l, _ := a.svc.Get(bg, "q"); l.Key != next.name {
			t.Fatalf("after %s's turn the lock is %+v", next.name, l)
		}
	}
}

func TestReplicasDeadReplicaWaiterGoesStale(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 200 * time.Millisecond} // stale after 1s
	a := openReplica(t, dbURL, "a", opts, lockservice.Config{PollInterval: 200 * time.Millisecond})
	b := openReplica(t, dbURL, "b", opts, lockservice.Config{PollInterval: 200 * time.Millisecond})
	a.acquire(t, "q", "holder", 0)
	// Replica c queues a waiter, then dies: its row stays, with a heartbeat
	// nobody renews. (Closing a Store removes its rows; a killed process
	// leaves them exactly like this.)
	sql(t, dbURL, `INSERT INTO locker_waiters (name, key, holder, replica) VALUES ('q', 'ghost', 'ghost', 'c')`)
	w := b.wait(t, "q", "live", 2)
	a.release(t, "q", "holder")
	if err := receive(t, w, "the waiter behind a dead replica's waiter"); err != nil {
		t.Fatalf("waiter behind the dead one: %v", err)
	}
	l, _ := a.svc.Get(bg, "q")
	if l.Key != "live" {
		t.Fatalf("lock %+v, want held by live", l)
	}
	// The dead waiter is not counted, and its row is cleaned up.
	eventually(t, "the dead replica's row is removed", func() bool {
		conn, err := pgx.Connect(bg, dbURL)
		if err != nil {
			return false
		}
		defer conn.Close(bg)
		var n int
		conn.QueryRow(bg, `SELECT count(*) FROM locker_waiters WHERE replica = 'c'`).Scan(&n)
		return n == 0
	})
	if n := b.svc.Waiters("q"); n != 0 {
		t.Fatalf("%d waiters counted, want 0", n)
	}
}

// A replica that is shut down while one of its requests waits takes that
// waiter out of the queue: the waiters behind it are served at once.
func TestReplicasClosedReplicaLeavesQueue(t *testing.T) {
	dbURL := pgtest.Schema(t)
	a := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	b := openReplica(t, dbURL, "b", pgstore.Options{}, lockservice.Config{})
	c := openReplica(t, dbURL, "c", pgstore.Options{}, lockservice.Config{})
	a.acquire(t, "q", "holder", 0)
	wc := c.wait(t, "q", "on-c", 1)
	wb := b.wait(t, "q", "on-b", 2)
	c.stop()
	if err := receive(t, wc, "the waiter of the closed replica"); lock.ErrorCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("waiter on the closed replica: %v, want unavailable", err)
	}
	a.release(t, "q", "holder")
	if err := receive(t, wb, "the waiter behind the closed replica's"); err != nil {
		t.Fatalf("waiter on b: %v", err)
	}
}

// Fence tokens come from one database sequence: every new holding gets a
// token no other holding got, and a holding that began after another ended
// has a greater token, whichever replica served either.
func TestReplicasFenceStrictlyIncreasing(t *testing.T) {
	dbURL := pgtest.Schema(t)
	rs := openReplicas(t, dbURL, 3, pgstore.Options{}, lockservice.Config{})
	// In sequence, moving from replica to replica.
	var last uint64
	for i := 0; i < 30; i++ {
		r := rs[i%3]
		name := fmt.Sprintf("f%d", i%2)
		l := r.acquire(t, name, "k", 0)
		if l.Fence <= last {
			t.Fatalf("%s: fence %d after %d", r.name, l.Fence, last)
		}
		last = l.Fence
		rs[(i+1)%3].release(t, name, "k")
	}
	// Concurrently: contended and uncontended locks on every replica.
	type grant struct {
		fence             uint64
		start, end        time.Time
		replica, lockName string
	}
	var mu sync.Mutex
	var grants []grant
	var wg sync.WaitGroup
	for c := 0; c < 6; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rs[c%3]
			key := fmt.Sprintf("client-%d", c)
			for i := 0; i < 15; i++ {
				name := "shared"
				if i%3 == 0 {
					name = "own-" + key
				}
				start := time.Now()
				l, err := r.svc.Acquire(bg, name, lock.Request{Key: key, Holder: key}, time.Minute)
				end := time.Now()
				if err != nil {
					t.Errorf("%s on %s: %v", key, r.name, err)
					return
				}
				mu.Lock()
				grants = append(grants, grant{l.Fence, start, end, r.name, name})
				mu.Unlock()
				if _, _, err := rs[(c+i)%3].svc.Release(bg, name, key, key); err != nil {
					t.Errorf("%s release: %v", key, err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[uint64]grant{}
	for _, g := range grants {
		if g.fence <= last {
			t.Errorf("fence %d (%s on %s) not above %d, issued before", g.fence, g.lockName, g.replica, last)
		}
		if prev, dup := seen[g.fence]; dup {
			t.Errorf("fence %d issued twice: %s on %s and %s on %s", g.fence, prev.lockName, prev.replica, g.lockName, g.replica)
		}
		seen[g.fence] = g
	}
	sort.Slice(grants, func(i, j int) bool { return grants[i].end.Before(grants[j].end) })
	for i, g := range grants {
		for _, h := range grants[i+1:] {
			if g.end.Before(h.start) && g.fence >= h.fence {
				t.Errorf("fence went backwards in real time: %d (%s on %s) returned before %d (%s on %s) was asked for",
					g.fence, g.lockName, g.replica, h.fence, h.lockName, h.replica)
			}
		}
	}
}

// Leases are judged by the database's clock: the time every replica gives
// the rules is the database's, and a lease taken on one replica runs out for
// all of them at the same moment.
func TestReplicasLeaseByDatabaseClock(t *testing.T) {
	dbURL := pgtest.Schema(t)
	a := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	b := openReplica(t, dbURL, "b", pgstore.Options{}, lockservice.Config{PollInterval: time.Hour})

	conn, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	dbNow := func() time.Time {
		var now time.Time
		if err := conn.QueryRow(bg, `SELECT clock_timestamp()`).Scan(&now); err != nil {
			t.Fatal(err)
		}
		return now
	}
	// The rules' clock reads between two readings of the database's clock,
	// with the database's resolution (microseconds; Go's clock has
	// nanoseconds), on every replica.
	for i := 0; i < 5; i++ {
		for _, r := range []*replica{a, b} {
			before := dbNow()
			var ruleNow time.Time
			_, _, err := r.store.Update(bg, "clock", func(l *lock.Lock, env lock.Env) []lock.Event {
				ruleNow = env.Now
				return nil
			})
			after := dbNow()
			if err != nil {
				t.Fatal(err)
			}
			if ruleNow.Before(before) || ruleNow.After(after) {
				t.Fatalf("%s: the rules' time %s is not the database's (between %s and %s)", r.name, ruleNow, before, after)
			}
			if ruleNow.Nanosecond()%1000 != 0 {
				t.Fatalf("%s: the rules' time %s has nanoseconds: it is not the database's clock", r.name, ruleNow.Format(time.RFC3339Nano))
			}
		}
	}

	// A lease taken on a runs out on the database's clock: b (which never
	// polls) sees it held until then and gets the lock after it.
	const ttl = 3 * time.Second
	held := a.acquire(t, "lease", "short", ttl)
	hold := held.Holds.Get("short")
	if got := hold.Expires.Sub(hold.Acquired); got != ttl {
		t.Fatalf("lease %s, want %s from the database's time of acquisition", got, ttl)
	}
	if _, err := b.svc.Acquire(bg, "lease", lock.Request{Key: "next", Holder: "next"}, 0); lock.ErrorCode(err) != lock.ECONFLICT {
		t.Fatalf("b acquired a lock whose lease runs out at %s (database time now %s): %v", hold.Expires, dbNow(), err)
	}
	w := b.wait(t, "lease", "next", 1)
	if err := receive(t, w, "b's waiter after the lease ran out"); err != nil {
		t.Fatalf("b's waiter: %v", err)
	}
	got, err := b.svc.Get(bg, "lease")
	if err != nil {
		t.Fatal(err)
	}
	if next, ok := got.Holds.Lookup("next"); !ok || next.Acquired.Before(hold.Expires) {
		t.Fatalf("b's waiter holds %+v; want a hold taken at or after %s, when the lease ran out by the database's clock", got.Holds, hold.Expires)
	}
	h, err := b.svc.History(bg, "lease")
	if err != nil {
		t.Fatal(err)
	}
	var expired *lock.Event
	for i := range h {
		if h[i].Type == lock.Expired {
			expired = &h[i]
		}
	}
	if expired == nil || expired.Time.Before(hold.Expires) {
		t.Fatalf("history %+v: want an expiry at or after %s", h, hold.Expires)
	}
}

// A waiter whose row could not be deleted when it left (the database was
// unreachable at that moment) does not stay in the queue: the replica
// deletes the row when the database answers again.
func TestReplicasFailedLeaveIsRetried(t *testing.T) {
	dbURL := pgtest.Schema(t)
	// Heartbeat 1s: rows are stale after 5s and swept after 20s; the retry
	// comes with the next heartbeat.
	a := openReplica(t, dbURL, "a", pgstore.Options{Heartbeat: time.Second}, lockservice.Config{})
	ticket, err := a.store.Join(bg, "q", lock.Waiter{Key: "left", Holder: "left"})
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(bg)
	cancel()
	if err := a.store.Leave(gone, "q", ticket, 0); err == nil {
		t.Fatal("Leave with a cancelled context deleted the row; the test needs it to fail")
	}
	if n := a.svc.Waiters("q"); n != 1 {
		t.Fatalf("%d waiters after a failed Leave, want the row still there", n)
	}
	eventually(t, "the row of the waiter that left is deleted", func() bool {
		conn, err := pgx.Connect(bg, dbURL)
		if err != nil {
			return false
		}
		defer conn.Close(bg)
		var n int
		err = conn.QueryRow(bg, `SELECT count(*) FROM locker_waiters WHERE id = $1`, int64(ticket)).Scan(&n)
		return err == nil && n == 0
	})
}

// A row of a live replica that it does not know about (Join reported a
// failure, but the insert had committed) is not kept alive: it goes stale
// and does not block the lock for as long as the replica runs.
func TestReplicasUnknownWaiterRowGoesStale(t *testing.T) {
	dbURL := pgtest.Schema(t)
	opts := pgstore.Options{Heartbeat: 100 * time.Millisecond} // stale after 500ms
	a := openReplica(t, dbURL, "a", opts, lockservice.Config{PollInterval: 200 * time.Millisecond})
	sql(t, dbURL, `INSERT INTO locker_waiters (name, key, holder, replica) VALUES ('q', 'unknown', 'unknown', 'a')`)
	time.Sleep(300 * time.Millisecond) // a few heartbeats of the replica that owns the row
	w := make(chan error, 1)
	go func() {
		_, err := a.svc.Acquire(bg, "q", lock.Request{Key: "next", Holder: "next"}, time.Minute)
		w <- err
	}()
	if err := receive(t, w, "a waiter behind a row nobody waits for"); err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if n := a.svc.Waiters("q"); n != 0 {
		t.Fatalf("%d waiters counted, want 0", n)
	}
}

// Every replica's event stream gets every change to a lock exactly once and
// in commit order (the lock's history), whichever replica made it, while
// both replicas change the lock at once. A replica's own changes reach it
// as they commit; the others' through NOTIFY, which can arrive out of order.
func TestReplicasEventsOnceInCommitOrder(t *testing.T) {
	t.Run("events in the notification", func(t *testing.T) {
		testEventsOnceInCommitOrder(t, "ev", "k", "h")
	})
	// A change whose events are over a notification's limit is announced
	// by reference: the other replica reads that change's events, not
	// whichever are newest by then.
	t.Run("events read from the history", func(t *testing.T) {
		big := strings.Repeat("<", 400) // 2,400 bytes in JSON (\u003c)
		testEventsOnceInCommitOrder(t, big+"ev", big+"k", big+"h")
	})
}

func testEventsOnceInCommitOrder(t *testing.T, name, key, holderPrefix string) {
	dbURL := pgtest.Schema(t)
	rs := openReplicas(t, dbURL, 2, pgstore.Options{}, lockservice.Config{})
	subs := make([]*lockservice.Subscription, len(rs))
	for i, r := range rs {
		subs[i] = r.svc.Events().Subscribe(1000)
		defer r.svc.Events().Unsubscribe(subs[i])
	}
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rs[c%len(rs)]
			holder := fmt.Sprintf("%s%d", holderPrefix, c)
			for i := 0; i < 10; i++ {
				// One shared key: the four clients' changes interleave.
				if _, err := r.svc.Acquire(bg, name, lock.Request{Key: key, Holder: holder}, 0); err != nil {
					t.Errorf("%s: %v", holder, err)
					return
				}
				if _, _, err := r.svc.Release(bg, name, key, holder); err != nil {
					t.Errorf("%s: %v", holder, err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	history, err := rs[0].store.History(bg, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 80 {
		t.Fatalf("history has %d events, want 80", len(history))
	}
	describe := func(ev lock.Event) string {
		return fmt.Sprintf("%s %s count %d fence %d at %s", ev.Type, ev.Holder, ev.Count, ev.Fence, ev.Time.Format(time.RFC3339Nano))
	}
	for i, sub := range subs {
		var got []lock.Event
		for len(got) < len(history) {
			select {
			case evs := <-sub.C:
				got = append(got, evs...)
			case <-time.After(patience):
				t.Fatalf("%s: event %d (%s) never came", rs[i].name, len(got), describe(history[len(got)]))
			}
		}
		for n, want := range history {
			if describe(got[n]) != describe(want) {
				t.Fatalf("%s: event %d is %s, want %s", rs[i].name, n, describe(got[n]), describe(want))
			}
		}
		if len(got) > len(history) {
			t.Fatalf("%s: an event more than the history: %s", rs[i].name, describe(got[len(history)]))
		}
		select {
		case evs := <-sub.C:
			t.Fatalf("%s: an event more than the history: %s", rs[i].name, describe(evs[0]))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// A change is written only over the version it read: when the row changes
// between the read and the write (another replica, or an older locker that
// locks the row instead and whose updates the trigger versions too), the
// change is applied again to what is there now, never over it.
func TestReplicasChangeRetriedOverAConcurrentWrite(t *testing.T) {
	dbURL := pgtest.Schema(t)
	r := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	r.acquire(t, "x", "k", 0)
	r.release(t, "x", "k")
	calls := 0
	l, events, err := r.store.Update(bg, "x", func(l *lock.Lock, env lock.Env) []lock.Event {
		calls++
		if calls == 1 {
			sql(t, dbURL, `UPDATE locker_locks SET metadata = '{"by": "another writer"}' WHERE name = 'x'`)
		}
		events, err := lock.Acquire(l, lock.Request{Key: "k", Holder: "h"}, env)
		if err != nil {
			t.Errorf("acquire: %v", err)
		}
		return events
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("the mutation ran %d times, want 2 (once more over the other write)", calls)
	}
	if string(l.Metadata) != `{"by": "another writer"}` || l.Key != "k" || len(events) != 1 {
		t.Fatalf("after the retry: %+v, events %v", l, events)
	}
	got, _, err := r.store.Get(bg, "x")
	if err != nil || string(got.Metadata) != `{"by": "another writer"}` || got.Holds.Get("h").Count != 1 {
		t.Fatalf("stored: %+v, %v: want both writes", got, err)
	}
}

// TestSchemaRolledBackAndUpgradedAgain: versions 4, 5 and 6 only add a column
// each, so docs/ha.md tells how to let an older build start after an
// upgrade (set the version back to 3, 4 or 5); upgrading again must then
// work, and find the columns there.
func TestSchemaRolledBackAndUpgradedAgain(t *testing.T) {
	dbURL := pgtest.Schema(t)
	r := openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	r.stop()
	conn, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	if _, err := conn.Exec(bg, `UPDATE locker_schema SET version = 3`); err != nil {
		t.Fatal(err)
	}
	r = openReplica(t, dbURL, "a", pgstore.Options{}, lockservice.Config{})
	r.acquire(t, "after", "k", 0)
	var version int
	if err := conn.QueryRow(bg, `SELECT version FROM locker_schema`).Scan(&version); err != nil || version != pgstore.SchemaVersion {
		t.Fatalf("schema version %d (%v), want %d again", version, err, pgstore.SchemaVersion)
	}
}
