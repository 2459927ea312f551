package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// withParam is URL u with the query parameter k set to v.
func withParam(t *testing.T, u, k, v string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

// schemaOf is the search_path of a pgtest URL.
func schemaOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get("search_path")
}

// sessions counts the sessions of the test database named name, and of
// them those whose last statement was LISTEN (the store's listener).
func sessions(t *testing.T, name string) (all, listening int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE query LIKE 'LISTEN %')
		FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, name).Scan(&all, &listening)
	if err != nil {
		t.Fatal(err)
	}
	return all, listening
}

func openStore(t *testing.T, u string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// userOf returns the user name in URL u.
func userOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.User.Username()
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// A server's connections, its pool's and its listener's, are named in
// pg_stat_activity as a Locker server of its schema, so that an operator
// (and locker migrate) can tell them from others.
func TestConnectionsAreNamedAsAServerOfTheSchema(t *testing.T) {
	u := pgtest.Schema(t)
	openStore(t, u, pgstore.Options{})
	all, listening := sessions(t, "locker server "+schemaOf(t, u))
	if all < 2 || listening != 1 {
		t.Errorf("sessions named %q: %d, %d of them listening; want the pool's and the listener's", "locker server "+schemaOf(t, u), all, listening)
	}
}

// An application_name the operator put in the URL is kept: it is theirs to
// monitor by (libpq's fallback_application_name convention).
func TestTheURLsApplicationNameIsKept(t *testing.T) {
	name := uniqueName("ops-")
	u := withParam(t, pgtest.Schema(t), "application_name", name)
	openStore(t, u, pgstore.Options{})
	if all, listening := sessions(t, name); all < 2 || listening != 1 {
		t.Errorf("sessions named %q as the URL says: %d, %d listening; want the pool's and the listener's", name, all, listening)
	}
	if all, _ := sessions(t, "locker server "+schemaOf(t, u)); all != 0 {
		t.Errorf("%d sessions renamed despite the URL", all)
	}
}

// Options.ApplicationName names every connection, over the URL's.
func TestApplicationNameOption(t *testing.T) {
	name := uniqueName("tool-")
	u := withParam(t, pgtest.Schema(t), "application_name", "ops")
	openStore(t, u, pgstore.Options{ApplicationName: name})
	if all, listening := sessions(t, name); all < 2 || listening != 1 {
		t.Errorf("sessions named %q: %d, %d listening; want the pool's and the listener's", name, all, listening)
	}
}

// serversEventually calls Servers until it returns want sessions (closed
// connections leave pg_stat_activity a moment after they are closed).
func serversEventually(t *testing.T, s *pgstore.Store, want func(int) bool) []pgstore.Session {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Servers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want(len(got)) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Servers lists the other Locker servers' sessions on the store's schema,
// with their addresses: not its own, not those of a server of another
// schema in the same database.
func TestServersListsTheOtherServersOfTheSchema(t *testing.T) {
	u := pgtest.Schema(t)
	server := openStore(t, u, pgstore.Options{})
	openStore(t, pgtest.Schema(t), pgstore.Options{}) // another installation
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})

	got := serversEventually(t, tool, func(n int) bool { return n >= 2 })
	if len(got) < 2 {
		t.Fatalf("Servers: %+v, want the server's pool and listener", got)
	}
	for _, s := range got {
		if s.Addr != "127.0.0.1" && s.Addr != "::1" && s.Addr != "local" {
			t.Errorf("session %+v: want its client address", s)
		}
		if s.Name != "locker server "+schemaOf(t, u) {
			t.Errorf("session %+v: not the server's name", s)
		}
	}
	server.Close()
	if got := serversEventually(t, tool, func(n int) bool { return n == 0 }); len(got) > 0 {
		t.Errorf("after the server closed: %+v", got)
	}
}

// A server whose URL names its connections is found by that name, when
// the tool is given the same URL.
func TestServersFindsThemByTheURLsName(t *testing.T) {
	u := withParam(t, pgtest.Schema(t), "application_name", uniqueName("ops-"))
	openStore(t, u, pgstore.Options{})
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})
	if got := serversEventually(t, tool, func(n int) bool { return n >= 2 }); len(got) < 2 {
		t.Fatalf("Servers: %+v, want the server's pool and listener", got)
	}
}

// A role that is neither superuser nor in pg_read_all_stats sees other
// roles' sessions' names but not their addresses: they are listed, with
// no address, not left out.
func TestServersOfAnotherRoleWithoutTheirAddresses(t *testing.T) {
	u := pgtest.Schema(t)
	openStore(t, u, pgstore.Options{}) // as the test database's user
	as := userWith(t, u, "locker_test_role_",
		"GRANT ALL ON SCHEMA %[1]s TO %[2]s",
		"GRANT ALL ON ALL TABLES IN SCHEMA %[1]s TO %[2]s",
		"GRANT ALL ON ALL SEQUENCES IN SCHEMA %[1]s TO %[2]s")
	role := userOf(t, as)
	tool := openStore(t, as, pgstore.Options{ApplicationName: "locker migrate", Tool: true})
	got := serversEventually(t, tool, func(n int) bool { return n >= 2 })
	if len(got) < 2 {
		t.Fatalf("Servers as %s: %+v, want the server's pool and listener", role, got)
	}
	for _, s := range got {
		if s.Addr != "" || !strings.HasPrefix(s.Name, "locker server ") {
			t.Errorf("session %+v: want the name, and no address (not visible to %s)", s, role)
		}
	}
}
