package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// The Date header is the service's lease clock, by which the times in the
// answers were written: the dashboard counts leases down by it when it
// differs from the browser's clock, and while the lease clock catches up
// with a step of the wall clock the two differ.
func TestDateHeaderIsTheLeaseClock(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	now := func() time.Time { return at }
	s := newHTTPStack(t, stackOptions{Service: lockservice.Config{Now: now}, Store: filestore.Options{Now: now}})
	for _, path := range []string{"/locks", "/lock/x", "/healthz"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.Header.Get("Date"), at.Format(http.TimeFormat); got != want {
			t.Errorf("GET %s: Date %q, want %q", path, got, want)
		}
	}
}
