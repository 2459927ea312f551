package pgstore_test

import (
	"context"
	"net/url"
	"os"
	"strings"
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

// A search_path that names no schema the user may use (one with capitals
// left unquoted, which PostgreSQL folds to lower case; one not made yet;
// one without USAGE) says so, and how to quote: it said "no schema has
// been selected to create in".
func TestASearchPathOfNoSchemaSaysSo(t *testing.T) {
	ctx := context.Background()
	base := os.Getenv(pgtest.EnvVar)
	if base == "" {
		t.Skip(pgtest.EnvVar + " is not set")
	}
	// A database that is set but cannot be reached fails the test, as
	// pgtest.Schema does: it was skipped.
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", pgtest.EnvVar, err)
	}
	defer admin.Close(ctx)
	schema := uniqueName("Locker_Test_")
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	p, _ := url.Parse(pgtest.Schema(t))
	q := p.Query()
	q.Set("search_path", schema)
	p.RawQuery = q.Encode()
	_, err = pgstore.Open(ctx, p.String(), pgstore.Options{})
	if err == nil {
		t.Fatal("opened")
	}
	for _, want := range []string{"names no schema", "USAGE", "double-quoted"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	q.Set("search_path", `"`+schema+`"`)
	p.RawQuery = q.Encode()
	openStore(t, p.String(), pgstore.Options{})
}
