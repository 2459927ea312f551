package pgstore_test

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestStatementsAreBounded: a database that does not answer (here, a table
// locked by another session; a network partition does the same to pooled
// connections) fails reads, changes and the wait queue with EUNAVAILABLE
// after QueryTimeout, rather than holding each request for as long as it
// lasts.
func TestStatementsAreBounded(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t)
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	tx, err := conn.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(bg)
	if _, err := tx.Exec(bg, "LOCK TABLE locker_locks, locker_waiters IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	for what, do := range map[string]func() error{
		"Get":    func() error { _, _, err := s.Get(bg, "x"); return err },
		"List":   func() error { _, err := s.List(bg); return err },
		"Update": func() error { _, _, err := s.Update(bg, "y", takeK); return err },
		"Join":   func() error { _, err := s.Join(bg, "x", lock.Waiter{Key: "w", Holder: "w"}); return err },
		"Ahead":  func() error { _, err := s.Ahead(bg, "x", 0); return err },
		"Counts": func() error { _, err := s.Counts(bg); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- do() }()
		select {
		case err := <-done:
			if lock.ErrorCode(err) != lock.EUNAVAILABLE {
				t.Errorf("%s while the database does not answer: %v, want %s", what, err, lock.EUNAVAILABLE)
			}
			// The API logs a failure with each request only when the
			// message for the log says more than the client reads (its
			// summary): a timeout's message said no more, and the
			// 503s of a stalled database left no trace in the log (an
			// ops review). Whichever ended the statement: this side's
			// deadline, or the database cancelling it (57014: a CI run
			// got "canceling statement due to statement timeout").
			if msg := lock.ErrorMessage(err); msg == lock.ErrorSummary(err) || !strings.Contains(msg, "deadline exceeded") && !strings.Contains(msg, "57014") {
				t.Errorf("%s while the database does not answer: the message for the log, %q, says no more than the answer, %q", what, msg, lock.ErrorSummary(err))
			}
		case <-time.After(patience):
			t.Fatalf("%s still waits for the database after %s", what, patience)
		}
	}
}

// takeK is a change that takes one hold under key k.
func takeK(l *lock.Lock, env lock.Env) []lock.Event {
	ev, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "k"}, env)
	return ev
}

// stalledWrites is a store that reaches its database through a freezer,
// on a schema where lock "x" exists, and a session of its own to hold that
// lock's row and to watch the store's statements wait for it.
type stalledWrites struct {
	s            *pgstore.Store
	f            *freezer
	other, watch *pgx.Conn
	app          string // the store's application_name
}

// newStalledWrites opens it, the store's URL ending with query.
func newStalledWrites(t *testing.T, app, query string, opts pgstore.Options) *stalledWrites {
	t.Helper()
	schemaURL := pgtest.Schema(t)
	u, _ := url.Parse(schemaURL)
	sw := &stalledWrites{f: startFreezer(t, u.Host), app: app}
	var err error
	if sw.s, err = pgstore.Open(bg, withHost(t, schemaURL, sw.f.addr())+"&application_name="+app+query, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.s.Close() })
	release := func(l *lock.Lock, env lock.Env) []lock.Event {
		ev, _ := lock.Release(l, "k", "k", env)
		return ev
	}
	for _, m := range []lock.Mutation{takeK, release} { // the lock's row exists
		if _, _, err := sw.s.Update(bg, "x", m); err != nil {
			t.Fatal(err)
		}
	}
	// Watched from a session of its own: other's transaction would see
	// pg_stat_activity as it was when it first looked.
	for _, c := range []**pgx.Conn{&sw.other, &sw.watch} {
		if *c, err = pgx.Connect(bg, schemaURL); err != nil {
			t.Fatal(err)
		}
		conn := *c
		t.Cleanup(func() { conn.Close(bg) })
	}
	return sw
}

// rowLock holds the lock's row until the transaction ends.
func (sw *stalledWrites) rowLock(t *testing.T) pgx.Tx {
	t.Helper()
	tx, err := sw.other.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `SELECT 1 FROM locker_locks WHERE name = 'x' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waiting is how many of the store's statements wait on a lock.
func (sw *stalledWrites) waiting() int {
	var n int
	sw.watch.QueryRow(bg, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1`, sw.app).Scan(&n)
	return n
}

// letGo ends tx once the database's statement_timeout has passed, and
// fails the test if a cut-off write then commits.
func (sw *stalledWrites) letGo(t *testing.T, tx pgx.Tx) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // past the statement_timeout
	if err := tx.Commit(bg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // for a write still waiting to go on
	var key string
	if err := sw.other.QueryRow(bg, `SELECT key FROM locker_locks WHERE name = 'x'`).Scan(&key); err != nil || key != "" {
		t.Fatalf("after the row lock was let go, the lock is held by key %q (%v): a cut-off write committed", key, err)
	}
}

// TestAWriteStalledInTheDatabaseEndsThere: a write that waits in the
// database (on a row lock someone holds) while the replica's link to it is
// cut, so that the replica's cancel cannot reach it either, is ended by
// the database's own statement_timeout before the replica gives up on it.
// Left waiting, it committed after the replica had answered 503, once the
// row lock was let go: a client that read the lock back meanwhile, as the
// 503 says to, found it free, and it stayed held by nobody who knew it (an
// HA review). A database's own error for the write says it was not made.
func TestAWriteStalledInTheDatabaseEndsThere(t *testing.T) {
	pgstore.SetWriteTimeout(t, 2*time.Second)
	sw := newStalledWrites(t, "stalled-write", "", pgstore.Options{QueryTimeout: time.Second})

	// The database's statement_timeout ends the write: said so, for sure.
	tx := sw.rowLock(t)
	_, _, err := sw.s.Update(bg, "x", takeK)
	if lock.ErrorCode(err) != lock.EUNAVAILABLE || lock.Unsure(err) || !strings.Contains(err.Error(), "it was not made") {
		t.Fatalf("a write the database ended: %v (unsure: %v)", err, lock.Unsure(err))
	}
	// What the client reads leaves the database's error to the log.
	if sum := lock.ErrorSummary(err); sum != "the lock database refused the change; it was not made; try again" {
		t.Errorf("a write the database ended: a client reads %q", sum)
	}
	tx.Rollback(bg)

	// The link cut with the write waiting: the replica cannot tell, but
	// the write ends in the database all the same.
	tx = sw.rowLock(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := sw.s.Update(bg, "x", takeK)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for sw.waiting() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the write never waited on the row lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sw.f.down() // nothing passes, not even the replica's cancel
	err = <-done
	if !lock.Unsure(err) || !lock.MaybeMade(err) {
		t.Fatalf("a write cut off: %v, want an unsure failure, marked maybe made", err)
	}
	_, port, _ := net.SplitHostPort(sw.f.addr())
	if sum := lock.ErrorSummary(err); !strings.Contains(sum, "may or may not have been made: check the lock") || strings.Contains(sum, port) || strings.Contains(sum, "127.0.0.1") {
		t.Errorf("a write cut off: a client reads %q, want it to say the change may or may not have been made, without the database's address", sum)
	}
	sw.letGo(t, tx)
}

// TestAWriteThatWaitedForAConnectionEndsThere: the replica's time for a
// write counts from when it is sent, not from when it began to wait for a
// pooled connection (all of them busy), so that the database's
// statement_timeout still ends it first: counted from before, a write that
// had waited could still be waiting in the database when the replica gave
// up on it, and commit afterwards (a review of the statement_timeout).
func TestAWriteThatWaitedForAConnectionEndsThere(t *testing.T) {
	pgstore.SetWriteTimeout(t, 2*time.Second)
	sw := newStalledWrites(t, "waited-write", "&pool_max_conns=1", pgstore.Options{QueryTimeout: 10 * time.Second})
	tx := sw.rowLock(t)
	// Three writes, one connection: each waits for the one before it,
	// which waits on the row lock.
	done := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, _, err := sw.s.Update(bg, "x", func(l *lock.Lock, env lock.Env) []lock.Event {
				ev, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: fmt.Sprintf("h%d", i)}, env)
				return ev
			})
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
	}
	// Once two have returned and the third waits in the database, the
	// link is cut.
	deadline := time.Now().Add(30 * time.Second)
	for returned := 0; ; {
		select {
		case <-done:
			returned++
		case <-time.After(5 * time.Millisecond):
		}
		waiting := sw.waiting()
		if returned == 2 && waiting == 1 {
			sw.f.down()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes returned, %d waiting in the database: never two and one", returned, waiting)
		}
	}
	<-done
	sw.letGo(t, tx)
}

// TestListOutlastsTheStatementTimeout: List, given six times the bound of
// a statement (every lock with its metadata takes seconds with 100,000),
// is not cut by the connections' statement_timeout, which is under a
// write's: a replica whose List was cut would not start (a review).
func TestListOutlastsTheStatementTimeout(t *testing.T) {
	for _, setBy := range []string{"pgstore", "the URL"} {
		t.Run(setBy, func(t *testing.T) { listOutlastsTheStatementTimeout(t, setBy == "the URL") })
	}
}

func listOutlastsTheStatementTimeout(t *testing.T, inURL bool) {
	schemaURL := pgtest.Schema(t)
	dbURL := schemaURL
	if inURL {
		dbURL += "&statement_timeout=400"
	} else {
		pgstore.SetWriteTimeout(t, 500*time.Millisecond) // statement_timeout 400ms
	}
	s, err := pgstore.Open(bg, dbURL, pgstore.Options{QueryTimeout: time.Second}) // List: 6s
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Update(bg, "x", takeK); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(bg, schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(bg)
	tx, err := other.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `LOCK TABLE locker_locks IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	rolledBack := make(chan struct{})
	time.AfterFunc(time.Second, func() { // a List of a second
		tx.Rollback(bg)
		close(rolledBack)
	})
	ls, err := s.List(bg)
	<-rolledBack // other is not to be closed while the rollback uses it
	if err != nil || len(ls) != 1 {
		t.Fatalf("a List that took a second: %d locks, %v", len(ls), err)
	}
}
