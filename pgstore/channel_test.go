package pgstore_test

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestLongSchemaNamesStillNotify: the NOTIFY channel is named after the
// schema; a schema whose name makes it longer than PostgreSQL's 63 bytes
// (or holds a quote) still carries changes from one replica to another.
func TestLongSchemaNamesStillNotify(t *testing.T) {
	base := os.Getenv(pgtest.EnvVar)
	if base == "" {
		t.Skip(pgtest.EnvVar + " is not set")
	}
	for _, schema := range []string{"locker_" + strings.Repeat("s", 56), `odd"schema`} {
		conn, err := pgx.Connect(bg, base)
		if err != nil {
			t.Fatal(err)
		}
		quoted := pgx.Identifier{schema}.Sanitize()
		conn.Exec(bg, "DROP SCHEMA IF EXISTS "+quoted+" CASCADE")
		if _, err := conn.Exec(bg, "CREATE SCHEMA "+quoted); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Exec(bg, "DROP SCHEMA "+quoted+" CASCADE"); conn.Close(bg) })
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", quoted)
		u.RawQuery = q.Encode()

		a, err := pgstore.Open(bg, u.String(), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := pgstore.Open(bg, u.String(), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		heard := make(chan string, 16)
		b.Watch(func(name string, _ []lock.Event) { heard <- name })
		if _, _, err := a.Update(bg, "x", takeK); err != nil {
			t.Fatal(err)
		}
		select {
		case name := <-heard:
			if name != "x" {
				t.Errorf("schema %q: heard %q", schema, name)
			}
		case <-time.After(patience):
			t.Errorf("schema %q (%d bytes): a change on one replica is never heard on the other", schema, len(schema))
		}
	}
}
