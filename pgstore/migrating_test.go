package pgstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestMarkMigratingAsAUserThatMayNotCreate: locker migrate marks its target
// with a table, which a database user that may only read and write
// Locker's tables (docs/ha.md) cannot create. Such a user's copy goes on
// unmarked, as copies did before the mark (MarkMigrating says it did not
// mark), instead of failing. A mark made by the owner is seen by such a
// user's server, which refuses to start saying why, although it may not
// read the mark's note.
func TestMarkMigratingAsAUserThatMayNotCreate(t *testing.T) {
	ctx := context.Background()
	u := pgtest.Schema(t)
	owner, err := pgstore.Open(ctx, u, pgstore.Options{Tool: true})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	rwURL := readWriteUser(t, u)
	rw, err := pgstore.Open(ctx, rwURL, pgstore.Options{Tool: true, Migrating: true})
	if err != nil {
		t.Fatal(err)
	}
	marked, err := rw.MarkMigrating(ctx, "from the test")
	rw.Close()
	if err != nil || marked {
		t.Fatalf("MarkMigrating as a user that may not create: %v, %v; want false, nil", marked, err)
	}
	s, err := pgstore.Open(ctx, rwURL, pgstore.Options{})
	if err != nil {
		t.Fatalf("a server's start after the unmarked copy: %v", err)
	}
	s.Close()

	if marked, err := owner.MarkMigrating(ctx, "from the owner's test"); err != nil || !marked {
		t.Fatalf("MarkMigrating as the owner: %v, %v", marked, err)
	}
	_, err = pgstore.Open(ctx, rwURL, pgstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "unfinished locker migrate") {
		t.Fatalf("a server's start as the read-write user on a marked store: %v, want the unfinished copy named", err)
	}
	if err := owner.UnmarkMigrating(ctx); err != nil {
		t.Fatal(err)
	}
	s, err = pgstore.Open(ctx, rwURL, pgstore.Options{})
	if err != nil {
		t.Fatalf("a server's start once the mark is gone: %v", err)
	}
	s.Close()
}
