package pgstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// listenerPID is the pid of the session named name whose last statement
// was LISTEN (a store's listener), 0 when there is none.
func listenerPID(t *testing.T, name string) int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int32
	err = conn.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN %'`, name).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// A server whose URL names its connections otherwise is found by a tool
// given the URL without that name (as locker migrate is, by an operator
// who set PGAPPNAME or application_name for the servers only): the server
// holds its schema's presence lock, whatever its connections are named.
// A review found such servers missed, and locker migrate copying while
// they ran (two holders once clients moved to the target).
func TestServersFindsAServerNamedOtherwise(t *testing.T) {
	u := pgtest.Schema(t)
	name := uniqueName("something-else-")
	server := openStore(t, withParam(t, u, "application_name", name), pgstore.Options{})
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})

	got := serversEventually(t, tool, func(n int) bool { return n >= 1 })
	if len(got) != 1 {
		t.Fatalf("Servers: %+v, want the server's listener, once", got)
	}
	if got[0].Name != name || (got[0].Addr != "127.0.0.1" && got[0].Addr != "::1" && got[0].Addr != "local") {
		t.Errorf("session %+v: want the server's name and address", got[0])
	}
	server.Close()
	if got := serversEventually(t, tool, func(n int) bool { return n == 0 }); len(got) > 0 {
		t.Errorf("after the server stopped: %+v", got)
	}
}

// A server named as a server of its schema holds the presence lock too:
// its listener is listed once, not once per way it was found.
func TestServersCountsASessionOnce(t *testing.T) {
	u := pgtest.Schema(t)
	openStore(t, u, pgstore.Options{})
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})
	got := serversEventually(t, tool, func(n int) bool { return n >= 2 })
	all, _ := sessions(t, "locker server "+schemaOf(t, u))
	if len(got) != all {
		t.Errorf("Servers: %d sessions, want the %d the server has: %+v", len(got), all, got)
	}
}

// A tool's store (Options.Tool) does not announce itself as a server: on
// a schema no server uses, Servers finds nothing, its own listener
// included.
func TestAToolIsNotAServer(t *testing.T) {
	u := pgtest.Schema(t)
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})
	other := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate 2", Tool: true})
	time.Sleep(200 * time.Millisecond)
	for _, s := range []*pgstore.Store{tool, other} {
		if got, err := s.Servers(context.Background()); err != nil || len(got) != 0 {
			t.Errorf("Servers with only tools connected: %+v, %v", got, err)
		}
	}
}

// The presence lock is the listener's: when that connection is lost
// (here ended by pg_terminate_backend) and made again, the lock is taken
// again on the new one.
func TestPresenceIsTakenAgainAfterTheListenerReconnects(t *testing.T) {
	u := pgtest.Schema(t)
	name := uniqueName("something-else-")
	openStore(t, withParam(t, u, "application_name", name), pgstore.Options{})
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})
	if got := serversEventually(t, tool, func(n int) bool { return n == 1 }); len(got) != 1 {
		t.Fatalf("Servers before: %+v", got)
	}
	old := listenerPID(t, name)
	if old == 0 {
		t.Fatal("no listener")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		pid := listenerPID(t, name)
		if pid != 0 && pid != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener was not made again (pid %d, was %d)", pid, old)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := serversEventually(t, tool, func(n int) bool { return n == 1 }); len(got) != 1 {
		t.Errorf("Servers after the listener was made again: %+v, want it", got)
	}
}

// Servers of another schema in the same database, however named, are not
// this store's.
func TestServersOfAnotherSchemaAreNotSeen(t *testing.T) {
	openStore(t, withParam(t, pgtest.Schema(t), "application_name", uniqueName("something-else-")), pgstore.Options{})
	openStore(t, pgtest.Schema(t), pgstore.Options{})
	u := pgtest.Schema(t)
	tool := openStore(t, u, pgstore.Options{ApplicationName: "locker migrate", Tool: true})
	mine := openStore(t, withParam(t, u, "application_name", uniqueName("mine-")), pgstore.Options{})
	got := serversEventually(t, tool, func(n int) bool { return n >= 1 })
	time.Sleep(300 * time.Millisecond)
	got, err := tool.Servers(context.Background())
	if err != nil || len(got) != 1 {
		t.Errorf("Servers: %+v, %v; want only this schema's server's listener", got, err)
	}
	mine.Close()
	if got := serversEventually(t, tool, func(n int) bool { return n == 0 }); len(got) > 0 {
		t.Errorf("after this schema's server stopped: %+v (another schema's?)", got)
	}
}
