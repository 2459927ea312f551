package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// connectionString writes a database URL as a libpq keyword=value
// connection string with a password (trust authentication ignores it).
func connectionString(t *testing.T, dbURL, password string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	kv := []string{"host=" + u.Hostname(), "port=" + u.Port(), "user=" + u.User.Username(), "password=" + password, "dbname=" + strings.TrimPrefix(u.Path, "/")}
	for k, vs := range u.Query() {
		kv = append(kv, k+"="+vs[0])
	}
	return strings.Join(kv, " ")
}

// locker migrate --to 'host=... password=... dbname=...': a keyword=value
// connection string, as LOCKER_DATABASE_URL takes, is the database, not a
// file of that name in the working directory (as a review found, with the
// password printed); a server started on it then serves the locks.
func TestMigrateToAConnectionString(t *testing.T) {
	kv := connectionString(t, haDatabase(t), "hunter2")
	file := filepath.Join(t.TempDir(), "locks.yml")
	fileSrv := startServer(t, []string{"LOCKER_CONFIG=" + file})
	haCall(t, http.MethodPut, fileSrv.URL+"/lock/deploy", `{"key":"k","lock_by":"a"}`, http.StatusOK)
	want := haCall(t, http.MethodGet, fileSrv.URL+"/lock/deploy", "", http.StatusOK)
	if err := fileSrv.Stop(); err != nil {
		t.Fatal(err)
	}

	cwd := t.TempDir()
	out, code := runLockerIn(t, cwd, nil, "migrate", "--from", file, "--to", kv)
	if code != 0 || !strings.Contains(out, "copied 1 lock (1 held)") || !strings.Contains(out, "password=xxxxx") {
		t.Fatalf("migrate: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password is printed: %s", out)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
		t.Errorf("migrate wrote files in the working directory: %v", entries)
	}

	srv := startServer(t, []string{"LOCKER_DATABASE_URL=" + kv})
	got := haCall(t, http.MethodGet, srv.URL+"/lock/deploy", "", http.StatusOK)
	if got.Key != want.Key || got.Fence != want.Fence || got.LockedBy["a"] != 1 {
		t.Errorf("on PostgreSQL: %+v, want %+v", got, want)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	// And back, --from the connection string.
	back := filepath.Join(t.TempDir(), "back.yml")
	out, code = runLockerIn(t, cwd, nil, "migrate", "--from", kv, "--to", back)
	if code != 0 || !strings.Contains(out, "copied 1 lock (1 held)") || strings.Contains(out, "hunter2") {
		t.Fatalf("migrating back: exit %d\n%s", code, out)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
		t.Errorf("migrate wrote files in the working directory: %v", entries)
	}
}

// A migration refused because the target file holds locks changes
// nothing, even when that file is in the original locker's format, which
// opening it would convert (a review found live.json rewritten in Locker's
// format, unreadable by the original locker, after "refusing").
func TestMigrateRefusedLeavesAnOriginalLockerTargetAlone(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.yml")
	srv := startServer(t, []string{"LOCKER_CONFIG=" + src})
	haCall(t, http.MethodPut, srv.URL+"/lock/deploy", `{"key":"k"}`, http.StatusOK)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	const original = `{"prod":{"key":"deploy","locked_by":{"ci":1}},"staging":{"key":"","locked_by":{}}}` + "\n"
	tgt := t.TempDir()
	live := filepath.Join(tgt, "live.json")
	if err := os.WriteFile(live, []byte(original), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runLocker(t, nil, "migrate", "--from", src, "--to", live)
	if code != 1 || !strings.Contains(out, "already holds 2 locks") || !strings.Contains(out, "left as it is") {
		t.Errorf("migrate: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(live); err != nil || string(b) != original {
		t.Errorf("the refused target was changed: %.60q..., %v", b, err)
	}
	if entries, _ := os.ReadDir(tgt); len(entries) != 1 {
		t.Errorf("files were made beside the refused target: %v", entries)
	}
}

// locker migrate refuses a database that running replicas use, as its
// source (they would change locks during and after the copy, and the
// target would miss those changes: two holders once clients move over)
// and as its target (they would serve a half-copied database), naming how
// many connections and from where; a replica of another installation (its
// own schema) in the same database does not count; --ignore-servers goes
// on anyway; once the replicas stop, it copies.
func TestMigrateRefusedWhileReplicasRun(t *testing.T) {
	db := haDatabase(t)
	replica := startServer(t, []string{"LOCKER_DATABASE_URL=" + db})
	haCall(t, http.MethodPut, replica.URL+"/lock/deploy", `{"key":"k","lock_by":"a"}`, http.StatusOK)
	// Another installation, in its own schema of the same database when
	// LOCKER_TEST_DATABASE_URL is set.
	other := startServer(t, []string{"LOCKER_DATABASE_URL=" + haDatabase(t)})
	defer other.Stop()

	dir := t.TempDir()
	file := filepath.Join(dir, "back.yml")
	out, code := runLocker(t, nil, "migrate", "--from", db, "--to", file)
	if code != 1 || !strings.Contains(out, "Locker servers are connected to the source database") ||
		!strings.Contains(out, "from 127.0.0.1") || !strings.Contains(out, "Stop every Locker replica") || !strings.Contains(out, "--ignore-servers") {
		t.Errorf("migrate from the database a replica uses: exit %d\n%s", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the refused migration made files: %v", entries)
	}
	out, code = runLocker(t, nil, "migrate", "--from", db, "--to", filepath.Join(dir, "orig.json"), "--original")
	if code != 1 || !strings.Contains(out, "Locker servers are connected to the source database") {
		t.Errorf("migrate --original from the database a replica uses: exit %d\n%s", code, out)
	}

	src := filepath.Join(t.TempDir(), "locks.yml")
	fileSrv := startServer(t, []string{"LOCKER_CONFIG=" + src})
	haCall(t, http.MethodPut, fileSrv.URL+"/lock/other", `{"key":"k"}`, http.StatusOK)
	if err := fileSrv.Stop(); err != nil {
		t.Fatal(err)
	}
	out, code = runLocker(t, nil, "migrate", "--from", src, "--to", db, "--force")
	if code != 1 || !strings.Contains(out, "Locker servers are connected to the target database") || !strings.Contains(out, "half-copied") {
		t.Errorf("migrate into the database a replica uses: exit %d\n%s", code, out)
	}
	if status, body := do(t, nil, http.MethodGet, replica.URL+"/lock/other", ""); status != http.StatusNotFound {
		t.Errorf("the refused migration wrote into the target: %d %s", status, body)
	}

	out, code = runLocker(t, nil, "migrate", "--from", db, "--to", file, "--ignore-servers")
	if code != 0 || !strings.Contains(out, "copied 1 lock") || !strings.Contains(out, "Locker servers are connected to the source database") {
		t.Errorf("migrate --ignore-servers: exit %d\n%s", code, out)
	}

	if err := replica.Stop(); err != nil {
		t.Fatal(err)
	}
	out, code = runLocker(t, nil, "migrate", "--from", db, "--to", filepath.Join(dir, "after.yml"))
	if code != 0 || !strings.Contains(out, "copied 1 lock (1 held)") || strings.Contains(out, "connected") {
		t.Errorf("migrate once the replica stopped: exit %d\n%s", code, out)
	}
}

// locker migrate refuses a database whose replicas name their connections
// otherwise than the URL it is given does (application_name in their own
// URL, or PGAPPNAME), where looking by name finds none: each replica holds
// its schema's presence lock, whatever its name. A review found migrate
// copying while such replicas ran (two holders once clients moved to the
// target). Once they stop, it copies.
func TestMigrateRefusedWhileReplicasNamedOtherwiseRun(t *testing.T) {
	db := haDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "something-else")
	u.RawQuery = q.Encode()
	byURL := startServer(t, []string{"LOCKER_DATABASE_URL=" + u.String()})
	haCall(t, http.MethodPut, byURL.URL+"/lock/deploy", `{"key":"k","lock_by":"a"}`, http.StatusOK)
	byEnv := startServer(t, []string{"LOCKER_DATABASE_URL=" + db, "PGAPPNAME=ops-named"})

	dir := t.TempDir()
	out, code := runLocker(t, nil, "migrate", "--from", db, "--to", filepath.Join(dir, "back.yml"))
	if code != 1 || !strings.Contains(out, "Locker servers are connected to the source database") ||
		!strings.Contains(out, `"something-else"`) || !strings.Contains(out, `"ops-named"`) || !strings.Contains(out, "from 127.0.0.1") {
		t.Errorf("migrate from the database replicas named otherwise use: exit %d\n%s", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the refused migration made files: %v", entries)
	}

	for _, s := range []*server{byURL, byEnv} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	out, code = runLocker(t, nil, "migrate", "--from", db, "--to", filepath.Join(dir, "after.yml"))
	if code != 0 || !strings.Contains(out, "copied 1 lock (1 held)") || strings.Contains(out, "connected") {
		t.Errorf("migrate once the replicas stopped: exit %d\n%s", code, out)
	}
}
