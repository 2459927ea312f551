package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// failingStore is a memory store whose reads and changes fail with err
// once failing is set.
type failingStore struct {
	*memstore.Store
	failing *atomic.Bool
	err     error
}

func (s failingStore) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	if s.failing.Load() {
		return lock.Lock{}, nil, s.err
	}
	return s.Store.Update(ctx, name, m)
}

func (s failingStore) Get(ctx context.Context, name string) (lock.Lock, bool, error) {
	if s.failing.Load() {
		return lock.Lock{}, false, s.err
	}
	return s.Store.Get(ctx, name)
}

func (s failingStore) List(ctx context.Context) ([]*lock.Lock, error) {
	if s.failing.Load() {
		return nil, s.err
	}
	return s.Store.List(ctx)
}

func (s failingStore) ListPool(ctx context.Context, pool string) ([]*lock.Lock, error) {
	if s.failing.Load() {
		return nil, s.err
	}
	return s.Store.ListPool(ctx, pool)
}

func (s failingStore) History(ctx context.Context, name string) ([]lock.Event, error) {
	if s.failing.Load() {
		return nil, s.err
	}
	return s.Store.History(ctx, name)
}

// TestStoreErrorDetailsStayInTheLog: a store's failure is answered with
// its status and what anyone may read of it (its summary), never the
// database's address, user and name or a file's path, which the API (open
// to anyone without AUTH_USER, and to the read-only user) sent until a
// review read them in a 503; the log has them, once per failing request.
func TestStoreErrorDetailsStayInTheLog(t *testing.T) {
	const secret = "failed to connect to `user=postgres database=revweb`: 127.0.0.1:42060 (127.0.0.1): dial error"
	for _, tc := range []struct {
		name   string
		err    error
		status int
		want   string // the answer's error
		logged bool   // the request's failure is logged, with the details
	}{
		{"unavailable", &lock.Error{Code: lock.EUNAVAILABLE,
			Message: "the lock database is unavailable (" + secret + "); try again (a change in flight may or may not have been made: check the lock)",
			Summary: "the lock database is unavailable; try again (a change in flight may or may not have been made: check the lock)"},
			503, "the lock database is unavailable; try again (a change in flight may or may not have been made: check the lock)", true},
		{"nothing to leave out", lock.Errorf(lock.ENOSPACE, "the lock store is out of disk space; the change was not made"),
			507, "the lock store is out of disk space; the change was not made", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			failing := new(atomic.Bool)
			store := failingStore{memstore.New(memstore.Options{}), failing, tc.err}
			svc := lockservice.New(store, lockservice.Config{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			api := httpapi.New(svc, httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			call := func(method, path, body string) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
				return rec
			}
			if rec := call("PUT", "/lock/held", `{"key":"k"}`); rec.Code != 200 {
				t.Fatalf("PUT before the failure: %d %s", rec.Code, rec.Body)
			}
			if rec := call("PUT", "/pool/p/m", `{}`); rec.Code != 200 {
				t.Fatalf("adding a pool member before the failure: %d %s", rec.Code, rec.Body)
			}
			failing.Store(true)
			requests := []struct{ method, path, body string }{
				{"PUT", "/lock/x", `{"key":"k"}`},
				{"DELETE", "/lock/held", `{"key":"k"}`},
				{"POST", "/lock/held/refresh", `{"key":"k","ttl":"1m"}`},
				{"GET", "/locks", ``},
				{"GET", "/lock/held", ``},
				{"GET", "/lock/held/history", ``},
				{"GET", "/pools", ``},
				{"GET", "/pool/p", ``},
				{"PUT", "/pool/p", `{"key":"k"}`},
				{"PUT", "/pool/p/m2", `{}`},
				{"DELETE", "/pool/p/m", `{}`},
			}
			for _, r := range requests {
				rec := call(r.method, r.path, r.body)
				var body struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.status || body.Error != tc.want {
					t.Errorf("%s %s: %d %s, want %d with %q", r.method, r.path, rec.Code, rec.Body, tc.status, tc.want)
				}
			}
			out := logs.String()
			if n := strings.Count(out, "42060"); tc.logged && n != len(requests) {
				t.Errorf("the details were logged %d times, want once for each of the %d requests:\n%s", n, len(requests), out)
			}
			// Each line says whose request it was, as the lines of
			// changes do (a review found it did not).
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "request failed") && !strings.Contains(line, "remote=192.0.2.1:1234") {
					t.Errorf("a failed request is logged without the client's address: %s", line)
				}
			}
			if tc.logged && !strings.Contains(out, "level=WARN") {
				t.Errorf("the failures were not logged at WARN:\n%s", out)
			}
			if !tc.logged && strings.Contains(out, "request failed") {
				t.Errorf("a failure with nothing left out was logged per request:\n%s", out)
			}
		})
	}
}
