package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/storetest"
)

// testDatabase returns the URL of a new, empty schema in the test database
// (LOCKER_TEST_DATABASE_URL), dropped when the test ends. Without the
// variable the test is skipped, and says why.
func testDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("LOCKER_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("LOCKER_TEST_DATABASE_URL is not set: no PostgreSQL to test against (CI sets it; e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("LOCKER_TEST_DATABASE_URL: %v", err)
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

// TestBehaviour runs the behavioural suite every store must pass.
func TestBehaviour(t *testing.T) {
	testDatabase(t) // skip early, once, when there is no database
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dbURL := testDatabase(t)
		return func(t *testing.T) lock.Store {
			s, err := pgstore.Open(context.Background(), dbURL, pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
