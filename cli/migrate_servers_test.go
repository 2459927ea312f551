package cli_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// When the database does not let migrate look (pg_stat_activity revoked),
// it says so and goes on: a warning, not a silent "nobody is connected".
func TestMigrateWarnsWhenItCannotLookForServers(t *testing.T) {
	dbURL := pgtest.Schema(t)
	populate(t, dbURL)
	defer cli.SetServersOf(func(*pgstore.Store, context.Context) ([]pgstore.Session, error) {
		return nil, errors.New("ERROR: permission denied for view pg_stat_activity (SQLSTATE 42501)")
	})()
	stdout, stderr, err := migrateSplit(t, "--from", dbURL, "--to", filepath.Join(t.TempDir(), "locks.yml"))
	if err != nil || !strings.Contains(stdout, "copied 7 locks") {
		t.Fatalf("migrate: %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "warning: could not check whether Locker servers are connected to the source database") ||
		!strings.Contains(stderr, "permission denied for view pg_stat_activity") || !strings.Contains(stderr, "make sure that every replica that uses it is stopped") {
		t.Errorf("stderr: %s", stderr)
	}
}

// The refusal says how many connections, by which names, from which
// addresses, and how many from addresses the role may not see.
func TestMigrateRefusalNamesTheServersAddresses(t *testing.T) {
	dbURL := pgtest.Schema(t)
	populate(t, dbURL)
	defer cli.SetServersOf(func(*pgstore.Store, context.Context) ([]pgstore.Session, error) {
		return []pgstore.Session{
			{Name: "locker server s", Addr: "10.0.0.5"}, {Name: "locker server s", Addr: "10.0.0.6"},
			{Name: "ops", Addr: "10.0.0.5"}, {Name: "locker server s"},
		}, nil
	})()
	file := filepath.Join(t.TempDir(), "locks.yml")
	_, _, err := migrateSplit(t, "--from", dbURL, "--to", file)
	want := `Locker servers are connected to the source database ` + cli.RedactStore(dbURL) + `: 4 connections named "locker server s" or "ops", from 10.0.0.5 (2), 10.0.0.6 (1), and 1 from addresses this database role may not see`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("migrate: %v, want %q", err, want)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the refused migration made %s: %v", file, err)
	}
}
