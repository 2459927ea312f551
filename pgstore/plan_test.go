package pgstore

import (
	"context"
	"net/url"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestWritesArePlannedOnce: PostgreSQL plans a change's write once and
// then reuses the plan (a generic plan), rather than planning it again for
// every change (custom plans), which costs more than the write. It plans
// a prepared statement once only when no parameter changes its plan; this
// fails if one does.
func TestWritesArePlannedOnce(t *testing.T) {
	u, err := url.Parse(pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1") // every statement on one connection: its prepared statements are the ones counted
	u.RawQuery = q.Encode()
	ctx := context.Background()
	s, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// A history of some size, as in production: on empty tables PostgreSQL
	// finds every plan cheap and reuses one anyway.
	if _, err := s.pool.Exec(ctx, `INSERT INTO locker_history (name, event)
		SELECT 'other-' || (i % 1000), '{}' FROM generate_series(1, 50000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE locker_history`); err != nil {
		t.Fatal(err)
	}

	const cycles = 120 // 240 writes, 30 of them trimming
	for i := 0; i < cycles; i++ {
		for _, m := range []lock.Mutation{
			func(l *lock.Lock, env lock.Env) []lock.Event {
				evs, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "h"}, env)
				return evs
			},
			func(l *lock.Lock, env lock.Env) []lock.Event {
				evs, _ := lock.Release(l, "k", "h", env)
				return evs
			},
		} {
			if _, events, err := s.Update(ctx, "prod", m); err != nil || len(events) == 0 {
				t.Fatalf("cycle %d: %d events, %v", i, len(events), err)
			}
		}
	}
	for _, c := range []struct {
		name, sql string
		min       int64
	}{{"writeChange", writeChange, 200}, {"writeTrimming", writeTrimming, 20}} {
		var generic, custom int64
		err := s.pool.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`, c.sql).Scan(&generic, &custom)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: %d generic plans, %d custom plans", c.name, generic, custom)
		// PostgreSQL tries five custom plans before it compares them with
		// the generic one.
		if custom > 5 || generic < c.min {
			t.Errorf("%s: %d generic plans, %d custom plans: planned again for every change", c.name, generic, custom)
		}
	}
}
