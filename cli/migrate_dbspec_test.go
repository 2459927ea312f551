package cli_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// keywordValue writes a database URL as a libpq keyword=value connection
// string, with a password (trust authentication ignores it).
func keywordValue(t *testing.T, dbURL, password string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	kv := []string{"host=" + u.Hostname(), "password='" + password + "'", "dbname=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		kv = append(kv, "port="+p)
	}
	if n := u.User.Username(); n != "" {
		kv = append(kv, "user="+n)
	}
	for k, vs := range u.Query() {
		kv = append(kv, k+"="+vs[0])
	}
	return strings.Join(kv, " ")
}

// TestMigrateWithAConnectionString: a libpq keyword=value string, which the
// server takes as LOCKER_DATABASE_URL, names a database as --to and as
// --from, not a data file (a review got a file named after it, and the
// password printed); its password is never printed.
func TestMigrateWithAConnectionString(t *testing.T) {
	dbURL := pgtest.Schema(t)
	kv := keywordValue(t, dbURL, "hunter2 two")
	cwd := t.TempDir()
	t.Chdir(cwd)
	file := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, file)
	want := read(t, file)
	out, err := migrate(t, "--from", file, "--to", kv)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied 7 locks (4 held)") || !strings.Contains(out, "password=xxxxx") || strings.Contains(out, "hunter2") {
		t.Errorf("output: %s", out)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
		t.Errorf("migrate wrote files in the working directory: %v", entries)
	}
	sameLocks(t, want, read(t, dbURL))
	checkFenceGoesOn(t, dbURL, want.fence)

	back := filepath.Join(t.TempDir(), "back.yml")
	out, err = migrate(t, "--from", kv, "--to", back)
	if err != nil || strings.Contains(out, "hunter2") {
		t.Fatalf("migrating back: %v\n%s", err, out)
	}
	got := read(t, back)
	delete(got.locks, "after-migration")
	sameLocks(t, want, got)

	// The same database named both ways is the same store.
	out, err = migrate(t, "--from", dbURL, "--to", kv, "--force")
	if err == nil || !strings.Contains(err.Error(), "the same store") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the same schema as URL and as connection string: %v\n%s", err, out)
	}
	// --original writes a file, not a database.
	out, err = migrate(t, "--from", file, "--to", kv, "--original")
	if err == nil || !strings.Contains(err.Error(), "not a database") {
		t.Errorf("--original to a connection string: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
		t.Errorf("migrate wrote files in the working directory: %v", entries)
	}
}

// TestMigrateDatabaseThatDoesNotParse: a URL or connection string pgx
// cannot parse is refused as a database, saying so, without its password.
func TestMigrateDatabaseThatDoesNotParse(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	for _, tc := range []struct{ to, want string }{
		{"postgres://locker:hunter%zz2@db/locks", "the target database postgres://locker:xxxxx@db/locks: cannot parse it as a PostgreSQL URL"},
		{"host=db user=locker password='hunter2 is unterminated", "the target database host=db user=locker password=xxxxx: cannot parse it as a PostgreSQL connection string"},
		// Unquoted, the password's second word is read as a keyword,
		// which pgx's error quotes.
		{"host=db password=my hunter2 dbname=x", "the target database host=db password=xxxxx ...: cannot parse it as a PostgreSQL connection string"},
	} {
		out, err := migrate(t, "--from", src, "--to", tc.to)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error()+out, "hunter") {
			t.Errorf("--to %s: %v\n%s\nwant an error containing %q", tc.to, err, out, tc.want)
		}
	}
	if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
		t.Errorf("migrate wrote files in the working directory: %v", entries)
	}
}

func TestRedactStore(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
		db         bool
	}{
		{"locks.yml", "locks.yml", false},
		{"/var/lib/locker/locks.yml", "/var/lib/locker/locks.yml", false},
		{"./host=x", "./host=x", false},
		{"data/a=b.yml", "data/a=b.yml", false},
		{"postgres://locker:pw@db:5432/c?search_path=l&sslmode=require", "postgres://locker:xxxxx@db:5432/c?search_path=l&sslmode=require", true},
		{"postgresql://db/c?password=pw&sslpassword=pw2", "postgresql://db/c?password=xxxxx&sslpassword=xxxxx", true},
		{"postgres://locker:p@w:d@db/c", "postgres://locker:xxxxx@db/c", true},
		{"postgres://locker:pw%zz@db/c?password=pw", "postgres://locker:xxxxx@db/c?password=xxxxx", true},
		{"host=127.0.0.1 user=postgres password=hunter2 dbname=x", "host=127.0.0.1 user=postgres password=xxxxx dbname=x", true},
		{"dbname=x password = 'hunter 2' sslmode=disable", "dbname=x password = xxxxx sslmode=disable", true},
		{"dbname=x password='it\\'s' sslpassword=pw", "dbname=x password=xxxxx sslpassword=xxxxx", true},
		{"search_path=l host=db", "search_path=l host=db", true},
		{"host=db password='hunter2", "host=db password=xxxxx", true},
		{"host=db user='a password=hunter2", "host=db user=xxxxx", true},
		{"host=db oops password=hunter2", "host=db ...", true},
	} {
		if got := cli.IsDatabase(tc.spec); got != tc.db {
			t.Errorf("IsDatabase(%q) = %v, want %v", tc.spec, got, tc.db)
		}
		if got := cli.RedactStore(tc.spec); got != tc.want {
			t.Errorf("RedactStore(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}
