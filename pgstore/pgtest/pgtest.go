// Package pgtest gives tests a PostgreSQL database of their own: a new,
// empty schema in the test database, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the variable holding the test database's URL.
const EnvVar = "LOCKER_TEST_DATABASE_URL"

// Schema returns the URL of a new, empty schema in the test database
// (LOCKER_TEST_DATABASE_URL), dropped when the test ends. Without the
// variable the test is skipped, and says why.
func Schema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skip(EnvVar + " is not set: no PostgreSQL to test against (CI sets it; e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	return SchemaIn(t, base)
}

// SchemaIn returns the URL of a new, empty schema in the database at base
// (search_path set to it), dropped when the test ends.
func SchemaIn(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "locker_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
