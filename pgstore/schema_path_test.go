package pgstore_test

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// A start makes Locker's tables in its own schema (the first on
// search_path, current_schema(), which names its connections and its
// channel) even when another schema further on the path has an
// installation: a review found that the check for a made schema
// (to_regclass, which searches the whole path) took the other
// installation's tables for its own, so that a server of schema b on
// search_path=b,a served a's locks while named, and notifying, as b's.
func TestAStartMakesItsOwnSchemaBesideAnotherOnThePath(t *testing.T) {
	ctx := context.Background()
	ua := pgtest.Schema(t)
	a := openStore(t, ua, pgstore.Options{})
	if _, _, err := a.Update(ctx, "x", func(l *lock.Lock, env lock.Env) []lock.Event {
		events, _ := lock.Acquire(l, lock.Request{Key: "k", Holder: "h"}, env)
		return events
	}); err != nil {
		t.Fatal(err)
	}
	ub := pgtest.Schema(t)
	p, _ := url.Parse(ub)
	q := p.Query()
	q.Set("search_path", schemaOf(t, ub)+","+schemaOf(t, ua))
	p.RawQuery = q.Encode()
	b := openStore(t, p.String(), pgstore.Options{})
	locks, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 0 {
		t.Fatalf("a store of schema %s sees the locks of schema %s: %v", schemaOf(t, ub), schemaOf(t, ua), locks[0].Name)
	}
	admin, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var made bool
	if err := admin.QueryRow(ctx, `SELECT to_regclass(format('%I.locker_schema', $1::text)) IS NOT NULL`, schemaOf(t, ub)).Scan(&made); err != nil {
		t.Fatal(err)
	}
	if !made {
		t.Fatalf("no locker_schema in %s", schemaOf(t, ub))
	}
}
