package cli_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestMigrateSameStoreWrittenTwoWays: --from and --to that name one data
// file in different ways (x/../x, a symlink, a hard link) are refused as
// the same store, not as a store "in use by a running Locker server", and
// before either is opened.
func TestMigrateSameStoreWrittenTwoWays(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "data.yml")
	populate(t, src)
	link := filepath.Join(t.TempDir(), "link.yml")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.yml")
	if err := os.Link(src, hard); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{filepath.Join(dir, "..", filepath.Base(dir), "data.yml"), dir + "/./data.yml", link, hard} {
		out, err := migrate(t, "--from", src, "--to", to)
		if err == nil || !strings.Contains(err.Error(), "--from and --to are the same store") || strings.Contains(err.Error(), "in use") {
			t.Errorf("--to %s: %v\n%s", to, err, out)
		}
	}
}

// TestMigrateSameDatabaseWrittenTwoWays: two URLs that reach one schema of
// one database (127.0.0.1 and localhost, other parameters) are refused as
// the same store, even with --force (a review copied a store onto itself
// and doubled every lock's history); another schema is another store.
func TestMigrateSameDatabaseWrittenTwoWays(t *testing.T) {
	dbURL := pgtest.Schema(t)
	src := filepath.Join(t.TempDir(), "data.yml")
	populate(t, src)
	if out, err := migrate(t, "--from", src, "--to", dbURL); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	other := *u
	if host := u.Hostname(); host == "127.0.0.1" {
		other.Host = strings.Replace(u.Host, host, "localhost", 1)
	}
	q := other.Query()
	q.Set("application_name", "another-way")
	other.RawQuery = q.Encode()
	out, err := migrate(t, "--from", dbURL, "--to", other.String(), "--force")
	if err == nil || !strings.Contains(err.Error(), "--from and --to are the same store") {
		t.Fatalf("the same schema written two ways: %v\n%s", err, out)
	}
	if out, err := migrate(t, "--from", dbURL, "--to", pgtest.Schema(t)); err != nil {
		t.Fatalf("to another schema: %v\n%s", err, out)
	}
}
