package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/internal/syncbuf"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// sickStore is a memory store that is not ready, for the reason err.
type sickStore struct {
	*memstore.Store
	err error
}

func (s sickStore) Ready(context.Context) error { return s.err }

// syncBuffer is a log destination that handlers may write to at once.
type syncBuffer = syncbuf.Buffer

// TestHealthChecksKeepDetailsForTheLog: the open /healthz and /readyz say
// why the store is not ready without what only operators should read (a
// review read the database's user, name and address there); the log has
// it, once while the reason stays the same.
func TestHealthChecksKeepDetailsForTheLog(t *testing.T) {
	const secret = "failed to connect to `user=postgres database=revweb`: 127.0.0.1:42060 (127.0.0.1): dial error"
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"a summary", "the lock database is unreachable",
			&lock.Error{Code: lock.EUNAVAILABLE, Message: "the lock database is unreachable: " + secret, Summary: "the lock database is unreachable"}},
		{"not a domain error", "internal error", errors.New(secret)},
		{"nothing to leave out", "the lock store is out of disk space; the change was not made",
			lock.Errorf(lock.ENOSPACE, "the lock store is out of disk space; the change was not made")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			svc := lockservice.New(sickStore{memstore.New(memstore.Options{}), tc.err}, lockservice.Config{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			api := httpapi.New(svc, httpapi.Config{Auth: httpapi.Credentials{User: "u", Pass: "p"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			for _, probe := range []struct {
				path   string
				status int
				body   string
			}{
				{"/readyz", 503, `{"error":"not ready: ` + tc.want + `"}`},
				{"/healthz", 200, `"store":"unavailable: ` + tc.want + `"`},
				{"/readyz", 503, `{"error":"not ready: ` + tc.want + `"}`},
			} {
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, httptest.NewRequest("GET", probe.path, nil))
				if rec.Code != probe.status || !strings.Contains(rec.Body.String(), probe.body) || strings.Contains(rec.Body.String(), "42060") {
					t.Errorf("GET %s: %d %s, want %d with %s", probe.path, rec.Code, rec.Body, probe.status, probe.body)
				}
			}
			if n := strings.Count(logs.String(), "the store is not ready"); n != 1 {
				t.Errorf("the reason was logged %d times, want once:\n%s", n, logs.String())
			}
			if strings.Contains(tc.err.Error(), secret) {
				if !strings.Contains(logs.String(), "42060") {
					t.Errorf("the log does not have the details:\n%s", logs.String())
				}
			}
		})
	}
}

// switchStore is a memory store whose readiness a test turns off and on.
type switchStore struct {
	*memstore.Store
	mu  sync.Mutex
	err error
}

func (s *switchStore) Ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *switchStore) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// TestHealthChecksLogTheStoreReadyAgain: the health checks logged that the
// store was not ready, and nothing when it was ready again; and the same
// reason coming back within a minute of the first went unlogged (an
// operator review). They log once (INFO) when the store is ready again,
// with how long it was not, and a new outage at once, whatever its reason.
func TestHealthChecksLogTheStoreReadyAgain(t *testing.T) {
	var logs syncBuffer
	store := &switchStore{Store: memstore.New(memstore.Options{})}
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	probe := func(path string, want int) {
		t.Helper()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Fatalf("GET %s: %d %s, want %d", path, rec.Code, rec.Body, want)
		}
	}
	down := lock.Errorf(lock.EUNAVAILABLE, "the lock database is unreachable")
	for round := 1; round <= 2; round++ {
		probe("/readyz", 200) // ready from the start: nothing to say
		store.set(down)
		probe("/readyz", 503)
		probe("/healthz", 200)
		store.set(nil)
		probe("/readyz", 200)
		probe("/healthz", 200)
		probe("/readyz", 200)
		out := logs.String()
		if n := strings.Count(out, `level=WARN msg="the store is not ready"`); n != round {
			t.Errorf("round %d: %d not-ready lines, want %d:\n%s", round, n, round, out)
		}
		if n := strings.Count(out, `level=INFO msg="the store is ready again" not_ready_for=`); n != round {
			t.Errorf("round %d: %d ready-again lines, want %d:\n%s", round, n, round, out)
		}
	}
}
