package pgstore_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/internal/upgradetest"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestUpgradeGoldenSets loads the tables older Lockers left
// (testdata/upgrade/<commit>/dump.sql, README.md there says how) into a
// schema of the test's, and lets the current store migrate and read them:
// every lock reads back as the old server listed it, holds release with
// their old keys, fences go on upward, pools hand out their members.
func TestUpgradeGoldenSets(t *testing.T) {
	t.Parallel()
	dumps, err := filepath.Glob("testdata/upgrade/*/dump.sql")
	if err != nil || len(dumps) == 0 {
		t.Fatalf("no golden sets: %v", err)
	}
	ctx := context.Background()
	for _, dump := range dumps {
		dir := filepath.Dir(dump)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			url := pgtest.Schema(t)
			sql, err := os.ReadFile(dump)
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`INSERT INTO locker_schema VALUES \((\d+)\);`).FindSubmatch(sql)
			if m == nil {
				t.Fatalf("%s sets no schema version", dump)
			}
			old, _ := strconv.Atoi(string(m[1]))
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, string(sql)); err != nil {
				t.Fatalf("loading %s: %v", dump, err)
			}
			store, err := pgstore.Open(ctx, url, pgstore.Options{})
			if err != nil {
				t.Fatalf("opening the tables commit %s wrote (schema version %d): %v", filepath.Base(dir), old, err)
			}
			t.Cleanup(func() { store.Close() })
			var now int
			if err := conn.QueryRow(ctx, `SELECT version FROM locker_schema`).Scan(&now); err != nil {
				t.Fatal(err)
			}
			if now < old || now != pgstore.SchemaVersion {
				t.Errorf("schema version %d after opening, was %d; want %d", now, old, pgstore.SchemaVersion)
			}
			// The migrated schema is the one a new installation gets:
			// no shipped migration was edited since.
			if got, want := describeSchema(t, conn), describeSchema(t, freshSchema(t)); got != want {
				t.Errorf("schema migrated from version %d differs from a new one:\n%s\nnew:\n%s", old, got, want)
			}
			upgradetest.Check(t, upgradetest.Serve(t, store), upgradetest.Load(t, filepath.Join(dir, "expected.json")))
		})
	}
}

// freshSchema returns a connection to a schema the current store made.
func freshSchema(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	url := pgtest.Schema(t)
	store, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// describeSchema lists the columns, indexes, triggers, functions and
// sequences of the connection's schema, without its name.
func describeSchema(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var out string
	err := conn.QueryRow(context.Background(), `SELECT replace(concat_ws(E'\n',
		(SELECT string_agg(format('column %s.%s %s default %s null %s', table_name, column_name, data_type, column_default, is_nullable), E'\n' ORDER BY table_name, column_name)
			FROM information_schema.columns WHERE table_schema = current_schema()),
		(SELECT string_agg('index ' || indexdef, E'\n' ORDER BY indexname) FROM pg_indexes WHERE schemaname = current_schema()),
		(SELECT string_agg('trigger ' || pg_get_triggerdef(g.oid), E'\n' ORDER BY g.tgname) FROM pg_trigger g
			JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND NOT g.tgisinternal),
		(SELECT string_agg('function ' || p.proname || ' ' || p.prosrc, E'\n' ORDER BY p.proname) FROM pg_proc p
			JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()),
		(SELECT string_agg('sequence ' || sequence_name || ' ' || data_type, E'\n' ORDER BY sequence_name)
			FROM information_schema.sequences WHERE sequence_schema = current_schema())
	), current_schema() || '.', '')`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
