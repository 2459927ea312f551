package pgstore_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestStartsWithoutTheRightToCreate: once the schema is made, a replica
// needs only to read and write Locker's tables (docs/ha.md): a database
// user that may not create anything in the schema starts, and locks. A
// review found every start ran CREATE TABLE IF NOT EXISTS, which
// PostgreSQL refuses without CREATE on the schema.
func TestStartsWithoutTheRightToCreate(t *testing.T) {
	u := pgtest.Schema(t)
	first, err := pgstore.Open(context.Background(), u, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	ctx := context.Background()
	s := openStore(t, readWriteUser(t, u), pgstore.Options{})
	l, _, err := s.Update(ctx, "x", func(l *lock.Lock, env lock.Env) []lock.Event {
		events, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "h"}, env)
		return events
	})
	if err != nil || l.Key != "k" || l.Fence == 0 {
		t.Fatalf("lock as a user that may only read and write: %+v, %v", l, err)
	}
}

// readWriteUser returns u as a new database user that has only the grants
// docs/ha.md lists on u's schema, whose Locker tables are made; CREATE on
// the schema is revoked from PUBLIC.
func readWriteUser(t *testing.T, u string) string {
	t.Helper()
	return userWith(t, u, "locker_test_rw_",
		"REVOKE CREATE ON SCHEMA %[1]s FROM PUBLIC",
		"GRANT USAGE ON SCHEMA %[1]s TO %[2]s",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %[1]s TO %[2]s",
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %[1]s TO %[2]s")
}

// userWith returns u as a new database user (named prefix and a random
// suffix, dropped when the test ends) after the statements grants, each
// given the schema (%[1]s) and the user (%[2]s). The test is skipped when
// no user can be made.
func userWith(t *testing.T, u, prefix string, grants ...string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	role := uniqueName(prefix)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Skipf("cannot create a role to test with: %v", err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		admin.Exec(ctx, "DROP OWNED BY "+role)
		admin.Exec(ctx, "DROP ROLE "+role)
	})
	schema := schemaOf(t, u)
	for _, q := range grants {
		if _, err := admin.Exec(ctx, fmt.Sprintf(q, schema, role)); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := url.Parse(u)
	p.User = url.User(role)
	return p.String()
}

// An upgrade that needs a schema migration, started as a user that may only
// read and write Locker's tables (docs/ha.md), says so: which version the
// schema is at and needs, that the owner of the tables (named) must start
// this version once to upgrade it, and to grant again. It said "migrating
// the schema to version 4: ERROR: must be owner of table locker_waiters".
func TestAnUpgradeAUserMayNotMakeSaysWhoMust(t *testing.T) {
	u := pgtest.Schema(t)
	first, err := pgstore.Open(context.Background(), u, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	rw := readWriteUser(t, u)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var owner string
	if err := admin.QueryRow(ctx, "SELECT current_user").Scan(&owner); err != nil {
		t.Fatal(err)
	}
	// As a schema made by an older Locker: the last migration is to come.
	if _, err := admin.Exec(ctx, "UPDATE "+schemaOf(t, u)+".locker_schema SET version = version - 1"); err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.Open(ctx, rw, pgstore.Options{})
	if err == nil {
		t.Fatal("started, with a schema to upgrade, as a user that may not")
	}
	for _, want := range []string{"needs version", "may not", "owner", `"` + owner + `"`, "start this version once", "docs/ha.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}

// A first start as a user that may not create Locker's tables says so, and
// what to do.
func TestAFirstStartAUserMayNotMakeSaysWhoMust(t *testing.T) {
	u := pgtest.Schema(t)
	rw := readWriteUser(t, u)
	_, err := pgstore.Open(context.Background(), rw, pgstore.Options{})
	if err == nil {
		t.Fatal("made the schema as a user that may not")
	}
	for _, want := range []string{"may not create", "CREATE ON SCHEMA", "docs/ha.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}
