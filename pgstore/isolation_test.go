package pgstore_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestChangesRaceUnderAStricterDefaultIsolation: a change is written only
// over the version it read; one whose row another change updated while
// it waited for it finds the version gone, reads the lock again and
// decides again (READ COMMITTED re-checks the row after the wait). With
// default_transaction_isolation set to repeatable read (or serializable)
// for the database or a role, PostgreSQL failed such a write with 40001
// instead, and ordinary contention answered 503 "the lock database
// refused the change".
func TestChangesRaceUnderAStricterDefaultIsolation(t *testing.T) {
	s, other := storeUnderRoleSetting(t, "locker_test_iso_", "default_transaction_isolation = 'repeatable read'")
	// Another change to the lock, committing while this one's write
	// waits for the row (the trigger bumps its version).
	tx, err := other.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `UPDATE locker_locks SET updated_at = updated_at WHERE name = 'row'`); err != nil {
		t.Fatal(err)
	}
	committed := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		committed <- tx.Commit(bg)
	}()
	_, _, err = s.Update(bg, "row", takeK)
	if cerr := <-committed; cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatalf("a change whose row another change updated meanwhile: %v", err)
	}
}

// storeUnderRoleSetting makes the lock "row" in a schema of its own, and
// opens a store on it as a new role (its name begins with prefix) that has
// setting as its own default (ALTER ROLE ... SET setting), as a database's
// or a role's settings reach Locker's connections. other is a connection
// to the schema as the tests' user, for a change of the row's meanwhile.
// Both are closed at the end of the test.
func storeUnderRoleSetting(t *testing.T, prefix, setting string) (s *pgstore.Store, other *pgx.Conn) {
	t.Helper()
	u := pgtest.Schema(t)
	first, err := pgstore.Open(bg, u, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.Update(bg, "row", takeK); err != nil {
		t.Fatal(err)
	}
	first.Close()
	role := userWith(t, u, prefix,
		"GRANT USAGE ON SCHEMA %[1]s TO %[2]s",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %[1]s TO %[2]s",
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %[1]s TO %[2]s",
		"ALTER ROLE %[2]s SET "+setting)
	s, err = pgstore.Open(bg, role, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other, err = pgx.Connect(bg, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(bg) })
	return s, other
}
