package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestAFailingLookForGoneReplicasIsLogged: the look for gone replicas
// (watchReplicas) failed without a word: it keeps the replicas it passes
// over as they were, so nothing went wrong, but an operator never learned
// that it no longer saw replicas die. It logs the first failure at once,
// then at most once a minute (watchLogEvery) with the count of failures
// since, and once (INFO) when it works again, as listening does.
func TestAFailingLookForGoneReplicasIsLogged(t *testing.T) {
	dbURL := pgtest.Schema(t)
	b := make([]byte, 6)
	rand.Read(b)
	app := "locker_test_" + hex.EncodeToString(b)
	log := &captureLog{seen: make(chan struct{}, 1)}
	s, err := pgstore.Open(bg, dbURL+"&application_name="+app, pgstore.Options{
		Logger: slog.New(log), PresenceCheck: 20 * time.Millisecond, QueryTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	// The lock's own connection: in its transaction, pg_stat_activity
	// would be read once.
	locker, err := pgx.Connect(bg, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close(context.Background()) })

	// blind keeps the look's statement from being answered (the queue's
	// table locked: each look waits for it until QueryTimeout) until
	// enough() says so, then lets it work again and waits for the line
	// saying that it does.
	blind := func(enough func() bool) {
		t.Helper()
		log.reset("looking for gone replicas works again")
		tx, err := locker.Begin(bg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(bg, `LOCK TABLE locker_waiters IN ACCESS EXCLUSIVE MODE`); err != nil {
			tx.Rollback(bg)
			t.Fatal(err)
		}
		deadline := time.Now().Add(patience)
		for !enough() {
			if time.Now().After(deadline) {
				tx.Rollback(bg)
				t.Fatalf("timed out after %s with the look blind", patience)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := tx.Rollback(bg); err != nil {
			t.Fatal(err)
		}
		select {
		case <-log.seen:
		case <-time.After(patience):
			t.Error("the replica did not log that looking for gone replicas works again")
		}
	}
	warnings := func() []logRecord { return log.matching("looking for gone replicas") }

	// Within a minute: the first failure alone is logged, however many
	// follow. The look's statements are told apart in pg_stat_activity
	// by when they started: the third one started, two have failed.
	starts := map[time.Time]bool{}
	blind(func() bool {
		rows, err := admin.Query(bg, `SELECT query_start FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active' AND query LIKE '%held AS MATERIALIZED%'`, app)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var at time.Time
			if err := rows.Scan(&at); err != nil {
				t.Fatal(err)
			}
			starts[at] = true
		}
		return len(starts) >= 3
	})
	var warns []logRecord
	for _, r := range warnings() {
		if r.level >= slog.LevelWarn {
			warns = append(warns, r)
		}
	}
	if len(warns) != 1 || warns[0].msg != "looking for gone replicas failed; retrying" || warns[0].attrs["err"].String() == "" {
		t.Errorf("%d looks made while blind; warnings logged: %+v, want the first failure alone", len(starts), warns)
	}
	back := log.matching("looking for gone replicas works again")
	if len(back) != 1 || back[0].level != slog.LevelInfo {
		t.Fatalf("logged when it works again: %+v, want one INFO line", back)
	}
	if n := back[0].attrs["failed_looks"]; n.Kind() != slog.KindInt64 || n.Int64() < 2 {
		t.Errorf("failed_looks %v, want at least the 2 seen to fail", n)
	}
	if d := back[0].attrs["down_for"]; d.Kind() != slog.KindDuration || d.Duration() <= 0 {
		t.Errorf("down_for %v, want how long the look failed", d)
	}

	// Past the interval: each later line counts the failures since the
	// line before; together they count every failure.
	pgstore.SetWatchLogEvery(t, time.Nanosecond)
	blind(func() bool { return len(warnings()) >= 3 })
	warns = nil
	for _, r := range warnings() {
		if r.level >= slog.LevelWarn {
			warns = append(warns, r)
		}
	}
	back = log.matching("looking for gone replicas works again")
	if len(warns) < 3 || len(back) != 1 {
		t.Fatalf("logged %+v, then %+v", warns, back)
	}
	if warns[0].msg != "looking for gone replicas failed; retrying" {
		t.Errorf("first line %q", warns[0].msg)
	}
	total := int64(1)
	for _, w := range warns[1:] {
		n := w.attrs["failures_since_last_message"]
		if w.msg != "looking for gone replicas still fails; retrying" || n.Kind() != slog.KindInt64 || n.Int64() < 1 || w.attrs["down_for"].Kind() != slog.KindDuration {
			t.Errorf("later line %q %v", w.msg, w.attrs)
			continue
		}
		total += n.Int64()
	}
	if got := back[0].attrs["failed_looks"]; got.Kind() != slog.KindInt64 || got.Int64() != total {
		t.Errorf("the lines count %d failures, the INFO line %v", total, got)
	}
}
