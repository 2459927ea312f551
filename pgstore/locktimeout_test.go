package pgstore_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// withLockTimeout returns u with lock_timeout set to 1ms in its options.
func withLockTimeout(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set("options", "-c lock_timeout=1ms")
	p.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return p.String()
}

// TestOpenWaitsForAnotherMigrationDespiteLockTimeout: replicas that start
// together take turns on the migration's advisory lock; a lock_timeout
// (the database's, a role's or the URL's) ended the wait of all but the
// first, which refused to start ("preparing the database: canceling
// statement due to lock timeout") where the docs promise that starting
// them all at once is safe.
func TestOpenWaitsForAnotherMigrationDespiteLockTimeout(t *testing.T) {
	schemaURL := pgtest.Schema(t)
	release := holdMigrationLock(t, schemaURL)
	opened := make(chan error, 1)
	go func() {
		s, err := pgstore.Open(bg, withLockTimeout(t, schemaURL), pgstore.Options{})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	time.Sleep(300 * time.Millisecond) // another replica's migration
	select {
	case err := <-opened:
		t.Fatalf("Open returned while another migration held the lock: %v", err)
	default:
	}
	release()
	if err := <-opened; err != nil {
		t.Fatalf("Open once the other migration was done: %v", err)
	}
}

// TestChangesWaitForTheRowDespiteLockTimeout: a change whose lock's row
// another change holds for a moment (its commit being flushed) waits for
// it, bounded by Locker's own statement_timeout, even where the database
// or the role sets a short lock_timeout: it answered 503 "the lock
// database refused the change" under ordinary contention.
func TestChangesWaitForTheRowDespiteLockTimeout(t *testing.T) {
	s, holder := storeUnderRoleSetting(t, "locker_test_lt_", "lock_timeout = '1ms'")
	tx, err := holder.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `SELECT 1 FROM locker_locks WHERE name = 'row' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(300 * time.Millisecond)
		tx.Rollback(bg)
	}()
	_, _, err = s.Update(bg, "row", takeK)
	<-released // before holder is closed
	if err != nil {
		t.Fatalf("a change that met a row held for a moment: %v", err)
	}
}
