package pgstore_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// TestReadOnlyDatabaseIsNotReady: a database that answers but takes no
// changes (a standby that a failover left the replicas' address pointing
// at, or default_transaction_read_only) refuses every change with 503;
// /readyz must not call such a replica ready, as it did when it only
// pinged, but say why.
func TestReadOnlyDatabaseIsNotReady(t *testing.T) {
	dbURL := pgtest.Schema(t)
	w, err := pgstore.Open(context.Background(), dbURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Ready(bg); err != nil {
		t.Fatalf("a writable database: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-c default_transaction_read_only=on")
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	r, err := pgstore.Open(context.Background(), u.String(), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := r.Update(bg, "ro", takeK); lock.ErrorCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("a change on a read-only database: %v, want unavailable", err)
	}
	err = r.Ready(bg)
	if lock.ErrorCode(err) != lock.EUNAVAILABLE {
		t.Fatalf("Ready on a read-only database: %v, want unavailable", err)
	}
	if s := lock.ErrorSummary(err); !strings.Contains(s, "read-only") {
		t.Errorf("Ready on a read-only database says %q, which does not say read-only", s)
	}
}
