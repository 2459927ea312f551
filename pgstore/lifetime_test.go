package pgstore_test

import (
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// pauseKey is the advisory lock on which a test's trigger holds up an
// insert (pauseInserts): its own, apart from any Locker takes.
const pauseKey = 0x70676c696665

// pauseInserts has every insert into the schema's locker_locks of a row
// with the given key wait, in a trigger (so after its row's defaults, the
// lifetime among them, were drawn, and before it looks for a row of its
// name), until resume is called; blocked tells how many of the schema's
// connections wait on a lock in the database.
func pauseInserts(t *testing.T, db, key string) (resume func(), blocked func() int) {
	t.Helper()
	conn, err := pgx.Connect(bg, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(bg) })
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	if _, err := conn.Exec(bg, fmt.Sprintf(`CREATE FUNCTION pause_insert() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_xact_lock_shared(%d); RETURN NEW; END $$;
		CREATE TRIGGER pause_insert BEFORE INSERT ON locker_locks FOR EACH ROW
			WHEN (NEW.key = %s) EXECUTE FUNCTION pause_insert()`, pauseKey, pgQuote(key))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(bg, `SELECT pg_advisory_lock($1)`, int64(pauseKey)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if _, err := conn.Exec(bg, `SELECT pg_advisory_unlock($1)`, int64(pauseKey)); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(resume)
	blocked = func() int {
		var n int
		if err := conn.QueryRow(bg, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND application_name LIKE '%' || $1`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return resume, blocked
}

func pgQuote(s string) string { return "'" + s + "'" }

// TestNewLifetimeAboveTheForgottenOnes: a lock made again after a forget
// is numbered above the forgotten lock, even when the insert that makes it
// drew its number before the forgotten lock was made. The number is
// drawn as the insert starts; a row made and forgotten by another replica
// before the insert finds its name free (here: while the insert waits in
// a trigger) numbered above the new one, and the new lock's events went
// out of order: a replica that knew the old lock passed the new lock's
// acquired on as a late change, before the old lock's forgotten.
//
// A Locker may instead keep the other replica from making the lock until
// the insert is done (then it finds the lock held): either way the stream
// must end with the lock held by the key that holds it.
func TestNewLifetimeAboveTheForgottenOnes(t *testing.T) {
	db := pgtest.Schema(t)
	var (
		mu   sync.Mutex
		hold chan struct{}
	)
	pgstore.SetBeforeNotify(t, func(replica string) {
		mu.Lock()
		h := hold
		mu.Unlock()
		if replica == "replica-b" && h != nil {
			<-h
		}
	})
	rs := openReplicas(t, db, 2, pgstore.Options{}, lockservice.Config{})
	a, b := rs[0], rs[1]
	resume, blocked := pauseInserts(t, db, "ka")
	sub := a.svc.Events().Subscribe(100)
	defer a.svc.Events().Unsubscribe(sub)
	var got []string
	next := func(what string) {
		t.Helper()
		select {
		case evs := <-sub.C:
			for _, ev := range evs {
				got = append(got, fmt.Sprintf("%s %s", ev.Type, ev.Key))
			}
		case <-time.After(patience):
			t.Fatalf("%s never reached a's stream; it has %v", what, got)
		}
	}

	// a makes the lock: its insert waits once its number is drawn.
	aDone := make(chan error, 1)
	go func() {
		_, err := a.svc.Acquire(bg, "pr-12", lock.Request{Key: "ka", Holder: "ka"}, 0)
		aDone <- err
	}()
	eventually(t, "a's insert waiting in the trigger", func() bool { return blocked() == 1 })

	// Meanwhile b makes the lock, gives it back and forgets it, unless it
	// has to wait for a's insert (then it finds the lock a's).
	bDone := make(chan error, 1)
	go func() {
		_, err := b.svc.Acquire(bg, "pr-12", lock.Request{Key: "kb", Holder: "kb"}, 0)
		bDone <- err
	}()
	var bErr error
	bWaited := false
	eventually(t, "b's acquire done or waiting on a lock", func() bool {
		select {
		case bErr = <-bDone:
			return true
		default:
		}
		if blocked() >= 2 {
			bWaited = true
			return true
		}
		return false
	})
	t.Logf("b's acquire waited for a's insert: %v", bWaited)
	if !bWaited {
		if bErr != nil {
			t.Fatalf("b's acquire while a's insert waits: %v", bErr)
		}
		b.release(t, "pr-12", "kb")
		for len(got) < 2 {
			next("the old lock's acquired and released")
		}
		// a hears of the forget only after it made the lock.
		h := make(chan struct{})
		mu.Lock()
		hold = h
		mu.Unlock()
		if _, err := b.svc.Forget(bg, "pr-12"); err != nil {
			t.Fatal(err)
		}
		resume()
		if err := <-aDone; err != nil {
			t.Fatalf("a's acquire: %v", err)
		}
		mu.Lock()
		hold = nil
		mu.Unlock()
		close(h)
		for len(got) < 4 {
			next("the forget and the new lock's acquired")
		}
		want := []string{"acquired kb", "released kb", "forgotten ", "acquired ka"}
		if !slices.Equal(got, want) {
			t.Errorf("a's stream: %q, want %q (the old lock's forgotten before the new lock's acquired)", got, want)
		}
	} else {
		resume()
		if err := <-aDone; err != nil {
			t.Fatalf("a's acquire: %v", err)
		}
		if err := <-bDone; err == nil {
			t.Errorf("b's acquire, made to wait for a's insert, was granted: want it refused (a holds the lock)")
		}
		for len(got) < 1 {
			next("the lock's acquired")
		}
		if want := []string{"acquired ka"}; !slices.Equal(got, want) {
			t.Errorf("a's stream: %q, want %q", got, want)
		}
	}
	if l, ok, err := a.store.Get(bg, "pr-12"); err != nil || !ok || l.Key != "ka" {
		t.Errorf("the lock is %+v (found %v, %v); want it held by ka", l, ok, err)
	}
}
