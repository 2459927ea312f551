package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// A source database whose schema has no Locker tables (a search_path or
// database name mistyped) is refused, and left as it is: migrate made the
// tables there and said "copied 0 locks", so that servers moved to the
// target would find every lock held in the real source free.
func TestMigrateRefusesASourceWithoutLocker(t *testing.T) {
	dbURL := pgtest.Schema(t)
	file := filepath.Join(t.TempDir(), "locks.yml")
	out, err := migrate(t, "--from", dbURL, "--to", file)
	if err == nil || !strings.Contains(err.Error(), "no Locker tables") || !strings.Contains(err.Error(), "search_path") {
		t.Fatalf("migrate from an empty schema: %v\n%s", err, out)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the refused migration made %s: %v", file, err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the refused migration made %d relations in the source's schema", n)
	}
}
