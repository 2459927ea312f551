package e2e

// An acknowledged hold survives a crash of PostgreSQL even where the
// database's own default is synchronous_commit = off.

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestHAHoldsSurviveDatabaseCrashWithAsyncCommit: an administrator who set
// synchronous_commit off for the database (for another program's sake, say)
// has PostgreSQL acknowledge commits before they are on disk; a crash then
// loses the last of them. A replica's 200 must still mean the hold is on
// disk, and a token handed out before the crash must not be handed out
// again after it.
func TestHAHoldsSurviveDatabaseCrashWithAsyncCommit(t *testing.T) {
	pg := startHAPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The database's default, not the URL's: the WAL writer flushes
	// asynchronous commits only every 10s (its longest pause).
	for _, q := range []string{
		`ALTER DATABASE postgres SET synchronous_commit = off`,
		`ALTER SYSTEM SET wal_writer_delay = '10s'`,
		`SELECT pg_reload_conf()`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)

	r := &haReplica{env: []string{"LOCKER_DATABASE_URL=" + pg.URL}}
	if err := r.start(t); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var top uint64
	for i := range n {
		l := haCall(t, http.MethodPut, fmt.Sprintf("%s/lock/crash-%d?key=k", r.URL(), i), "", http.StatusOK)
		top = max(top, l.Fence)
	}
	// A crash right after the answers: no shutdown checkpoint.
	if out, err := pg.ctl("stop", "-m", "immediate"); err != nil {
		t.Fatalf("stopping PostgreSQL: %v\n%s", err, out)
	}
	if out, err := pg.ctl("start"); err != nil {
		t.Fatalf("starting PostgreSQL: %v\n%s\n%s", err, out, pg.log())
	}
	haWaitUntil(t, "the replica to be ready again", 30*time.Second, func() bool {
		status, _ := do(t, nil, http.MethodGet, r.URL()+"/readyz", "")
		return status == http.StatusOK
	})
	for i := range n {
		status, raw := do(t, nil, http.MethodGet, fmt.Sprintf("%s/lock/crash-%d", r.URL(), i), "")
		if status != http.StatusOK {
			t.Errorf("crash-%d, granted with 200 before the crash: %d %s after it", i, status, raw)
		}
	}
	l := haCall(t, http.MethodPut, r.URL()+"/lock/after-crash?key=k", "", http.StatusOK)
	if l.Fence <= top {
		t.Errorf("a token after the crash (%d) is not above those handed out before it (up to %d)", l.Fence, top)
	}
}
