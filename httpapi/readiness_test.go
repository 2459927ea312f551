package httpapi_test

import (
	"context"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// gatedStore is a memory store whose readiness checks a test counts and
// holds: each check reads the store's state when it begins, and answers
// once the test lets it.
type gatedStore struct {
	*memstore.Store
	mu     sync.Mutex
	checks int
	err    error         // what a check beginning now finds
	gate   chan struct{} // closed: checks answer
}

func (s *gatedStore) Ready(ctx context.Context) error {
	s.mu.Lock()
	s.checks++
	err, gate := s.err, s.gate
	s.mu.Unlock()
	select {
	case <-gate:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *gatedStore) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.checks }

// TestConcurrentReadyzShareAStoreCheck: /readyz is open to anyone, and each
// request checked the store (a query with PostgreSQL): a flood of them made
// the store work once per request. Requests that come while a check is
// being made now wait for it to end and share the next one, which begins
// after they came: so a check that began before a request never answers it
// (the store failed meanwhile here, and they must say so), and however many
// ask at once the store is checked once at a time.
func TestConcurrentReadyzShareAStoreCheck(t *testing.T) {
	store := &gatedStore{Store: memstore.New(memstore.Options{}), gate: make(chan struct{})}
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{Auth: httpapi.Credentials{User: "u", Pass: "p"}})
	probe := func(out chan<- int) {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		out <- rec.Code
	}
	first := make(chan int, 1)
	go probe(first)
	for store.count() != 1 {
		runtime.Gosched()
	}
	// The store fails after the first check began (and found it ready);
	// 50 requests come meanwhile.
	store.mu.Lock()
	store.err = lock.Errorf(lock.EUNAVAILABLE, "the lock database is unreachable")
	store.mu.Unlock()
	const n = 50
	rest := make(chan int, n)
	for range n {
		go probe(rest)
	}
	for store.count() < 1+n && api.ReadyWaiting() < n {
		runtime.Gosched()
	}
	close(store.gate)
	if code := <-first; code != 200 {
		t.Errorf("the first request: %d, want 200 (its check found the store ready)", code)
	}
	for range n {
		if code := <-rest; code != 503 {
			t.Errorf("a request that came during the first check: %d, want 503 (the check after it came, which finds the store failing)", code)
		}
	}
	if c := store.count(); c != 2 {
		t.Errorf("%d concurrent /readyz checked the store %d times, want 2: the first, and one shared by the %d that came during it", 1+n, c, n)
	}
	// Alone, each request checks.
	base := store.count()
	for i := range 3 {
		one := make(chan int, 1)
		probe(one)
		<-one
		if c, want := store.count(), base+1+i; c != want {
			t.Errorf("after request %d alone: %d checks, want %d", i+1, c, want)
		}
	}
}

// TestHealthzBoundedWhileAStoreCheckHangs: /healthz answers within its own
// bound (half a second) when the check it would share does not end, and
// says why; the /readyz that began that check still waits for it.
func TestHealthzBoundedWhileAStoreCheckHangs(t *testing.T) {
	store := &gatedStore{Store: memstore.New(memstore.Options{}), gate: make(chan struct{})}
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{})
	ready := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		ready <- rec.Code
	}()
	for store.count() != 1 {
		runtime.Gosched()
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if want := `"store":"unavailable: the store did not answer its check in time"`; rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/healthz while the store's check hangs: %d %s, want 200 with %s", rec.Code, rec.Body, want)
	}
	select {
	case code := <-ready:
		t.Fatalf("/readyz answered %d before its check ended", code)
	default:
	}
	close(store.gate)
	if code := <-ready; code != 200 {
		t.Errorf("/readyz: %d, want 200", code)
	}
}
