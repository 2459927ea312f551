package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
	"github.com/cloudfoundry-community/locker/metrics"
)

// TestStuckGaugesThroughServer: the oldest hold and wait gauges as the server
// wires them (lockGauges), scraped from the real HTTP API, with a test clock
// shared by the store (a lock's Since) and the gauges: the oldest hold is
// the lock taken first, whoever holds it now; it moves to the next when
// that lock is let go, and back to 0 when none is held. The service times a
// waiter by the real (monotonic) clock, and so does the gauge: its age is
// checked between the bounds the test can know, from when the waiter was
// started to when the test saw it, and the test clock moving on (as the
// lease clock does, catching up with a step of the wall clock) changes
// nothing of it.
func TestStuckGaugesThroughServer(t *testing.T) {
	var mu sync.Mutex
	t0 := time.Now().UTC().Round(0)
	clock := t0
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	store := memstore.New(memstore.Options{Now: now})
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.WatchLocks(lockGauges(svc, now))
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{Metrics: m.Handler()}))
	t.Cleanup(func() {
		svc.Close()
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		store.Close()
	})

	call := func(method, path, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	gauge := func(name string) float64 {
		t.Helper()
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		t.Fatalf("no %s in the scrape:\n%s", name, b.String())
		return 0
	}
	want := func(name string, v float64) {
		t.Helper()
		if got := gauge(name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}

	want("locker_oldest_hold_seconds", 0)
	want("locker_oldest_wait_seconds", 0)

	if st := call("PUT", "/lock/stuck", `{"key":"k","lock_by":"a"}`); st != 200 {
		t.Fatalf("PUT stuck: %d", st)
	}
	advance(90 * time.Minute)
	if st := call("PUT", "/lock/newer", `{"key":"k"}`); st != 200 {
		t.Fatalf("PUT newer: %d", st)
	}
	advance(time.Hour)
	// A second holder of the same lock, later: the lock is still held
	// since it was first taken.
	if st := call("PUT", "/lock/stuck", `{"key":"k","lock_by":"b"}`); st != 200 {
		t.Fatalf("PUT stuck (b): %d", st)
	}
	want("locker_oldest_hold_seconds", (150 * time.Minute).Seconds())
	if st := call("DELETE", "/lock/stuck", `{"key":"k","lock_by":"a"}`); st != 200 {
		t.Fatalf("DELETE stuck (a): %d", st)
	}
	want("locker_oldest_hold_seconds", (150 * time.Minute).Seconds())
	if st := call("DELETE", "/lock/stuck", `{"key":"k","lock_by":"b"}`); st != 200 {
		t.Fatalf("DELETE stuck (b): %d", st)
	}
	want("locker_oldest_hold_seconds", time.Hour.Seconds())

	// A request waiting for "newer".
	started := time.Now()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/lock/newer", strings.NewReader(`{"key":"other","wait":"10m"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(20 * time.Second)
	for gauge("locker_waiters") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the waiter never showed in locker_waiters")
		}
		time.Sleep(10 * time.Millisecond)
	}
	seen := time.Now()
	advance(40 * time.Minute)
	// The waiter joined after started and before seen (real clock); the
	// gauges' clock is t0 + 3h10m now, which its age does not follow.
	lo := time.Since(seen).Seconds()
	wait := gauge("locker_oldest_wait_seconds")
	if hi := time.Since(started).Seconds(); wait > hi || wait < lo {
		t.Errorf("locker_oldest_wait_seconds = %v, want within [%v, %v]", wait, lo, hi)
	}

	if st := call("DELETE", "/lock/newer", `{"key":"k"}`); st != 200 {
		t.Fatalf("DELETE newer: %d", st)
	}
	if st := <-done; st != 200 {
		t.Fatalf("the waiter's PUT: %d, want 200", st)
	}
	want("locker_oldest_wait_seconds", 0)
	want("locker_waiters", 0)
	// The waiter holds "newer" now, taken as the lock went free: held since then.
	want("locker_oldest_hold_seconds", 0)
	advance(time.Minute)
	want("locker_oldest_hold_seconds", 60)
	if st := call("DELETE", "/lock/newer", `{"key":"other"}`); st != 200 {
		t.Fatalf("DELETE newer (waiter's): %d", st)
	}
	want("locker_oldest_hold_seconds", 0)
	want("locker_locks_held", 0)
}
