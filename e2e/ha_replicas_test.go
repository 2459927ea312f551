package e2e

// High availability (issue 7) through the real binary: waits across
// replicas, a waiter whose replica is killed, and `locker migrate`.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// haDatabase returns a database URL for one test: a new schema in
// LOCKER_TEST_DATABASE_URL's database when that is set (dropped at the end),
// a private PostgreSQL instance otherwise.
func haDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("LOCKER_TEST_DATABASE_URL")
	if base == "" {
		return startHAPostgres(t).URL
	}
	return pgtest.SchemaIn(t, base)
}

type haLock struct {
	Key      string         `json:"key"`
	LockedBy map[string]int `json:"locked_by"`
	Fence    uint64         `json:"fence"`
	Waiters  int            `json:"waiters"`
	Holds    map[string]struct {
		Count    int        `json:"count"`
		Acquired time.Time  `json:"acquired"`
		Expires  *time.Time `json:"expires"`
	} `json:"holds"`
	Error string `json:"error"`
}

// haCall sends a request and decodes the answer; it fails the test unless
// the status is want.
func haCall(t *testing.T, method, u, body string, want int) haLock {
	t.Helper()
	status, raw := do(t, nil, method, u, body)
	if status != want {
		t.Fatalf("%s %s %s: %d %s, want %d", method, u, body, status, raw, want)
	}
	var l haLock
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Fatalf("%s %s: not JSON (%v): %s", method, u, err, raw)
	}
	return l
}

type haResult struct {
	status int
	body   string
	err    error
}

// haAsync sends a request in the background.
func haAsync(method, u, body string) <-chan haResult {
	c := make(chan haResult, 1)
	go func() {
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			c <- haResult{err: err}
			return
		}
		resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
		if err != nil {
			c <- haResult{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		c <- haResult{status: resp.StatusCode, body: string(b), err: err}
	}()
	return c
}

func haWaitUntil(t *testing.T, what string, patience time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", patience, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func haWaiters(t *testing.T, base, name string) int {
	status, raw := do(t, nil, http.MethodGet, base+"/lock/"+name, "")
	if status != http.StatusOK {
		return -1
	}
	var l haLock
	json.Unmarshal([]byte(raw), &l)
	return l.Waiters
}

// A release through one replica hands the lock to a request waiting on
// another; a waiter whose replica is killed (its row stays in the shared
// queue) stops blocking the waiters behind it once its heartbeat is stale.
func TestHAWaitsAcrossReplicas(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	db := haDatabase(t)
	env := []string{"LOCKER_DATABASE_URL=" + db}
	a, b := startServer(t, env), startServer(t, env)

	haCall(t, http.MethodPut, a.URL+"/lock/deploy", `{"key":"first"}`, http.StatusOK)
	waiter := haAsync(http.MethodPut, b.URL+"/lock/deploy", `{"key":"second","wait":"60s"}`)
	haWaitUntil(t, "the waiter on b is queued", 10*time.Second, func() bool { return haWaiters(t, a.URL, "deploy") == 1 })
	haCall(t, http.MethodDelete, a.URL+"/lock/deploy", `{"key":"first"}`, http.StatusOK)
	select {
	case r := <-waiter:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"key":"second"`) {
			t.Fatalf("waiter on b: %d %s %v", r.status, r.body, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter on b did not get the lock within 30s of its release on a")
	}

	// Killed replica: its waiter is first in line when the lock is freed.
	haCall(t, http.MethodPut, a.URL+"/lock/q", `{"key":"holder"}`, http.StatusOK)
	doomed := haAsync(http.MethodPut, b.URL+"/lock/q", `{"key":"doomed","wait":"60s"}`)
	haWaitUntil(t, "the waiter on b is queued", 10*time.Second, func() bool { return haWaiters(t, a.URL, "q") == 1 })
	live := haAsync(http.MethodPut, a.URL+"/lock/q", `{"key":"live","wait":"90s"}`)
	haWaitUntil(t, "the waiter on a is queued behind it", 10*time.Second, func() bool { return haWaiters(t, a.URL, "q") == 2 })
	b.Kill()
	if r := <-doomed; r.err == nil {
		t.Fatalf("the killed replica answered its waiter: %d %s", r.status, r.body)
	}
	haCall(t, http.MethodDelete, a.URL+"/lock/q", `{"key":"holder"}`, http.StatusOK)
	// The dead replica's waiter is ignored after five missed heartbeats
	// (10s by default); then the live waiter gets the lock.
	select {
	case r := <-live:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"key":"live"`) {
			t.Fatalf("the waiter behind the dead one: %d %s %v", r.status, r.body, r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the waiter behind a killed replica's waiter did not get the lock within 60s; lock: %+v", haCall(t, http.MethodGet, a.URL+"/lock/q", "", http.StatusOK))
	}
	if n := haWaiters(t, a.URL, "q"); n != 0 {
		t.Errorf("%d waiters still counted", n)
	}
}

// A replica killed while its write waits in the database (here for a row
// lock that a psql session holds) takes the write with it: its client's
// request failed, and the lock, read back as the client is told to, is
// free, so the write must not be carried out once the row lock is let go
// (a review saw the lock held, without a lease, by the key whose request
// had failed, seconds after the read-back found it free).
func TestHAKilledReplicasWaitingWriteIsNotMade(t *testing.T) {
	db := haDatabase(t)
	env := []string{"LOCKER_DATABASE_URL=" + db}
	a, b := startServer(t, env), startServer(t, env)
	haCall(t, http.MethodPut, a.URL+"/lock/deploy", `{"key":"earlier"}`, http.StatusOK)
	haCall(t, http.MethodDelete, a.URL+"/lock/deploy", `{"key":"earlier"}`, http.StatusOK)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		t.Skipf("PostgreSQL %d has no client_connection_check_interval (14 and later)", version)
	}
	var self int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&self); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM locker_locks WHERE name = 'deploy' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	// blocked counts the sessions waiting for the row lock.
	blocked := func() int {
		c, err := pgx.Connect(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, self).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	put := haAsync(http.MethodPut, b.URL+"/lock/deploy", `{"key":"orphan"}`)
	haWaitUntil(t, "b's write waits for the row lock", 5*time.Second, func() bool { return blocked() == 1 })
	b.Kill()
	if r := <-put; r.err == nil {
		t.Fatalf("the killed replica answered: %d %s", r.status, r.body)
	}
	if l := haCall(t, http.MethodGet, a.URL+"/lock/deploy", "", http.StatusOK); len(l.LockedBy) != 0 {
		t.Fatalf("the lock, read back, is held: %+v", l)
	}
	// The database ends the write (its client is gone) within a second;
	// the row lock is let go well within the write's own deadline (8s
	// after its read), which would not stop it.
	for deadline := time.Now().Add(3 * time.Second); blocked() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if l := haCall(t, http.MethodGet, a.URL+"/lock/deploy", "", http.StatusOK); len(l.LockedBy) != 0 {
		t.Fatalf("the lock was taken by the write of a replica killed before it was made: %+v", l)
	}
}

// locker migrate moves a stopped file-store server's locks into PostgreSQL:
// a server on the database then serves the same locks, fences going on.
func TestHAMigrateFileToPostgres(t *testing.T) {
	db := haDatabase(t)
	file := filepath.Join(t.TempDir(), "locks.yml")
	fileSrv := startServer(t, []string{"LOCKER_CONFIG=" + file})
	for _, r := range []struct{ name, body string }{
		{"shared", `{"key":"deploy","lock_by":"a"}`},
		{"shared", `{"key":"deploy","lock_by":"a"}`},
		{"shared", `{"key":"deploy","lock_by":"b"}`},
		{"leased", `{"key":"k","ttl":"1h"}`},
		{"free", `{"key":"k"}`},
	} {
		haCall(t, http.MethodPut, fileSrv.URL+"/lock/"+r.name, r.body, http.StatusOK)
	}
	haCall(t, http.MethodDelete, fileSrv.URL+"/lock/free", `{"key":"k"}`, http.StatusOK)
	want := map[string]haLock{}
	var maxFence uint64
	for _, name := range []string{"shared", "leased", "free"} {
		want[name] = haCall(t, http.MethodGet, fileSrv.URL+"/lock/"+name, "", http.StatusOK)
		maxFence = max(maxFence, want[name].Fence)
	}

	// A password in the URL (trust authentication ignores it) must not be
	// printed.
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
	db = u.String()

	out, code := runLocker(t, nil, "migrate", "--from", file, "--to", db)
	if code == 0 || !strings.Contains(out, "in use by a running Locker server") {
		t.Fatalf("migrating from a running server's file: exit %d\n%s", code, out)
	}
	if err := fileSrv.Stop(); err != nil {
		t.Fatal(err)
	}
	out, code = runLocker(t, nil, "migrate", "--from", file, "--to", db)
	if code != 0 || !strings.Contains(out, "copied 3 locks (2 held)") {
		t.Fatalf("migrate: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Errorf("output shows the URL's secrets: %s", out)
	}

	pgSrv := startServer(t, []string{"LOCKER_DATABASE_URL=" + db})
	for name, w := range want {
		got := haCall(t, http.MethodGet, pgSrv.URL+"/lock/"+name, "", http.StatusOK)
		if got.Key != w.Key || fmt.Sprint(got.LockedBy) != fmt.Sprint(w.LockedBy) || got.Fence != w.Fence {
			t.Errorf("%s on PostgreSQL: %+v, want %+v", name, got, w)
		}
		for h, wh := range w.Holds {
			gh := got.Holds[h]
			if !gh.Acquired.Equal(wh.Acquired) || (gh.Expires == nil) != (wh.Expires == nil) || (gh.Expires != nil && !gh.Expires.Equal(*wh.Expires)) {
				t.Errorf("%s holder %s on PostgreSQL: %+v, want %+v", name, h, gh, wh)
			}
		}
	}
	// The holders can release what they hold, and new tokens are higher.
	haCall(t, http.MethodDelete, pgSrv.URL+"/lock/shared", `{"key":"deploy","locked_by":"b"}`, http.StatusOK)
	l := haCall(t, http.MethodPut, pgSrv.URL+"/lock/new", `{"key":"k"}`, http.StatusOK)
	if l.Fence <= maxFence {
		t.Errorf("first fence after migrating: %d, want above %d", l.Fence, maxFence)
	}
}

// While the database is down, replicas answer at once with 503 and a JSON
// error (waiting requests too), report not ready, and stay alive; when it is
// back they recover by themselves: state intact, LISTEN re-established.
func TestHADatabaseOutage(t *testing.T) {
	pg := startHAPostgres(t)
	env := []string{"LOCKER_DATABASE_URL=" + pg.URL}
	a, b := startServer(t, env), startServer(t, env)
	haCall(t, http.MethodPut, a.URL+"/lock/held", `{"key":"k"}`, http.StatusOK)
	haCall(t, http.MethodPut, a.URL+"/lock/w", `{"key":"first"}`, http.StatusOK)
	waiter := haAsync(http.MethodPut, b.URL+"/lock/w", `{"key":"second","wait":"90s"}`)
	haWaitUntil(t, "the waiter on b is queued", 10*time.Second, func() bool { return haWaiters(t, a.URL, "w") == 1 })
	// An event stream open on b when the database goes: changes made by
	// a go unreported to it until b listens again, so it is ended at
	// once with a "dropped" event saying to read again (a dashboard
	// stayed stale and "live" otherwise).
	early, err := http.Get(b.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	dropped := make(chan struct{})
	go func() {
		defer early.Body.Close()
		all, _ := io.ReadAll(early.Body)
		if strings.Contains(string(all), "event: dropped") && strings.Contains(string(all), "read the locks again") {
			close(dropped)
		}
	}()

	if out, err := pg.ctl("stop", "-m", "fast"); err != nil {
		t.Fatalf("stopping PostgreSQL: %v\n%s", err, out)
	}
	for _, s := range []*server{a, b} {
		status, raw := do(t, nil, http.MethodPut, s.URL+"/lock/x", `{"key":"k"}`)
		var body struct{ Error string }
		if status != http.StatusServiceUnavailable || json.Unmarshal([]byte(raw), &body) != nil || !strings.Contains(body.Error, "database") {
			t.Errorf("PUT while the database is down: %d %s, want 503 with a JSON error about the database", status, raw)
		}
		// The open health checks say why without the database's
		// address and user (the log has them).
		port := fmt.Sprint(pg.port)
		if status, raw := do(t, nil, http.MethodGet, s.URL+"/readyz", ""); status != http.StatusServiceUnavailable ||
			!strings.Contains(raw, `"not ready: the lock database is unreachable"`) || strings.Contains(raw, port) {
			t.Errorf("/readyz while the database is down: %d %s", status, raw)
		}
		if status, raw := do(t, nil, http.MethodGet, s.URL+"/healthz", ""); status != http.StatusOK ||
			!strings.Contains(raw, `"store":"unavailable: the lock database is unreachable"`) || strings.Contains(raw, port) {
			t.Errorf("/healthz while the database is down: %d %s", status, raw)
		}
		if out := s.Output(); !strings.Contains(out, "the store is not ready") || !strings.Contains(out, port) {
			t.Errorf("the log does not say why the store is not ready:\n%s", out)
		}
	}
	select {
	case r := <-waiter:
		if r.err != nil || r.status != http.StatusServiceUnavailable {
			t.Errorf("waiting request while the database is down: %d %s %v, want 503", r.status, r.body, r.err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("a waiting request did not end within 60s of the database going down")
	}

	select {
	case <-dropped:
	case <-time.After(30 * time.Second):
		t.Fatalf("b's event stream, open when the database went, was not ended with a \"dropped\" event:\n%s", b.Output())
	}
	// While b cannot listen, a new stream would look live and miss
	// changes: refused.
	if status, raw := do(t, nil, http.MethodGet, b.URL+"/events", ""); status != http.StatusServiceUnavailable || !strings.Contains(raw, "cannot hear of changes") {
		t.Errorf("GET /events on b while it cannot listen: %d %s, want 503", status, raw)
	}
	// Events seen on b come only through LISTEN (the event stream does not
	// poll): once b is ready again, a stream shows later changes.
	seen := make(chan struct{})
	go func() {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Get(b.URL + "/events")
			if err != nil {
				t.Errorf("b's event stream: %v", err)
				return
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				continue // not listening yet
			}
			var stream strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				stream.Write(buf[:n])
				if strings.Contains(stream.String(), `"lock":"after"`) {
					resp.Body.Close()
					close(seen)
					return
				}
				if err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	}()

	if out, err := pg.ctl("start"); err != nil {
		t.Fatalf("starting PostgreSQL again: %v\n%s", err, out)
	}
	for _, s := range []*server{a, b} {
		haWaitUntil(t, "the replica is ready again", 30*time.Second, func() bool {
			status, _ := do(t, nil, http.MethodGet, s.URL+"/readyz", "")
			return status == http.StatusOK
		})
	}
	if l := haCall(t, http.MethodGet, b.URL+"/lock/held", "", http.StatusOK); l.Key != "k" || l.LockedBy["k"] != 1 {
		t.Errorf("lock after the outage: %+v", l)
	}
	// LISTEN is back on b: a change made through a shows in b's stream.
	// (Changes made before b listens again are lost to it: try again.)
	deadline := time.Now().Add(30 * time.Second)
	for {
		haCall(t, http.MethodPut, a.URL+"/lock/after", `{"key":"k"}`, http.StatusOK)
		haCall(t, http.MethodDelete, a.URL+"/lock/after", `{"key":"k"}`, http.StatusOK)
		select {
		case <-seen:
			return
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's event stream shows no change made through a within 30s of the database's return:\n%s", b.Output())
		}
	}
}
