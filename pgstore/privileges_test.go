package pgstore_test

import (
	"context"
	"net/url"
	"os"
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
	admin, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	role := uniqueName("locker_test_rw_")
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
	for _, q := range []string{
		"REVOKE CREATE ON SCHEMA " + schema + " FROM PUBLIC",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := url.Parse(u)
	p.User = url.User(role)
	s := openStore(t, p.String(), pgstore.Options{})
	l, _, err := s.Update(ctx, "x", func(l *lock.Lock, env lock.Env) []lock.Event {
		events, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "h"}, env)
		return events
	})
	if err != nil || l.Key != "k" || l.Fence == 0 {
		t.Fatalf("lock as %s: %+v, %v", role, l, err)
	}
}
