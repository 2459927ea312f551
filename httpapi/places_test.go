package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lockservice"
)

// openStream opens GET /events on a connection of its own and returns its
// status and the function that ends it.
func openStream(t *testing.T, s *httpStack) (int, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /events: %v", err)
	}
	end := func() { cancel(); resp.Body.Close(); tr.CloseIdleConnections() }
	t.Cleanup(end)
	return resp.StatusCode, end
}

func waitersOf(t *testing.T, s *httpStack, name string) int {
	t.Helper()
	var v struct{ Waiters int }
	if r := s.do("GET", "/lock/"+name, ""); r.Status != 200 || json.Unmarshal(r.Body, &v) != nil {
		t.Fatalf("GET /lock/%s: %d %s", name, r.Status, r.Body)
	}
	return v.Waiters
}

// TestLongRequestsLeaveConnectionsForTheRest: event streams and blocking
// waits hold at most MaxLongRequests connections; past it they are refused
// with 503, changing nothing, while requests that answer at once (the
// release that would end the waits among them) still get through.
func TestLongRequestsLeaveConnectionsForTheRest(t *testing.T) {
	s := newHTTPStack(t, stackOptions{MaxLongRequests: 2})
	if r := s.do("PUT", "/lock/a?key=A", ""); r.Status != 200 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	status1, end1 := openStream(t, s)
	status2, _ := openStream(t, s)
	if status1 != 200 || status2 != 200 {
		t.Fatalf("two streams under a limit of 2: %d, %d", status1, status2)
	}

	// Every place held: another stream, and a wait, are refused at once.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
	if r := s.send(req); r.Status != 503 || !strings.Contains(string(r.Body), "too many connections are held by waiting requests and event streams (limit 2") {
		t.Fatalf("a third stream: %d %s", r.Status, r.Body)
	}
	start := time.Now()
	if r := s.do("PUT", "/lock/a?key=B&wait=10s", ""); r.Status != 503 || !strings.Contains(string(r.Body), "too many connections") {
		t.Fatalf("a wait with no place: %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refused wait took %v", d)
	}
	if n := waitersOf(t, s, "a"); n != 0 {
		t.Errorf("the refused wait left %d waiter(s)", n)
	}
	if r := s.do("PUT", "/pool/p/m", ""); r.Status != 200 {
		t.Fatalf("adding a pool member: %d %s", r.Status, r.Body)
	}
	if r := s.do("PUT", "/pool/p?key=A&wait=10s", ""); r.Status != 200 {
		t.Fatalf("a pool with a member free, with wait: %d %s", r.Status, r.Body)
	}
	if r := s.do("PUT", "/pool/p?key=B&wait=10s", ""); r.Status != 503 || !strings.Contains(string(r.Body), "too many connections") {
		t.Fatalf("a pool wait with no place: %d %s", r.Status, r.Body)
	}
	// Those that need not wait are served as ever: a free lock, the
	// holder taking its lock again, a pool member, a release.
	if r := s.do("PUT", "/lock/b?key=B&wait=10s", ""); r.Status != 200 {
		t.Errorf("a free lock, with wait: %d %s", r.Status, r.Body)
	}
	if r := s.do("PUT", "/lock/a?key=A&wait=10s", ""); r.Status != 200 {
		t.Errorf("the holder again, with wait: %d %s", r.Status, r.Body)
	}
	if r := s.do("DELETE", "/lock/b?key=B", ""); r.Status != 200 {
		t.Errorf("DELETE: %d %s", r.Status, r.Body)
	}

	// A stream that ends gives its place back: a wait takes it, and gives
	// it back when it ends (here, when its time runs out).
	end1()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.do("PUT", "/lock/a?key=B&wait=200ms", "")
		if r.Status == 423 && strings.Contains(string(r.Body), "gave up after waiting") {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("a wait once a stream ended: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond) // the stream's handler has yet to return
	}
	if status, _ := openStream(t, s); status != 200 {
		t.Fatalf("a stream once the wait ended: %d", status)
	}
}

// TestLongRequestsOverHTTP2CountEach: over HTTP/2 a client's streams and
// waits share its connection, and each holds a place: a connection may
// carry 100 requests at once, and counted once it let a client hold 100
// event streams for each place (a review: 4,000 streams on 40 connections
// took 330 MB and made an unrelated lock and unlock take 120 ms).
func TestLongRequestsOverHTTP2CountEach(t *testing.T) {
	s := newHTTPStack(t, stackOptions{MaxLongRequests: 2, HTTP2: true})
	if r := s.do("PUT", "/lock/a?key=A", ""); r.Status != 200 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := func(what string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
		resp, err := s.Srv.Client().Do(req)
		if err != nil || resp.ProtoMajor != 2 {
			t.Fatalf("%s, GET /events over HTTP/2: %v %v", what, resp, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp.StatusCode
	}
	if status := stream("the first stream"); status != 200 {
		t.Fatalf("the first stream: %d", status)
	}
	if r := s.do("PUT", "/lock/a?key=B&wait=100ms", ""); r.Status != 423 || !strings.Contains(string(r.Body), "gave up after waiting") {
		t.Fatalf("a wait on the stream's connection: %d %s", r.Status, r.Body)
	}
	if status := stream("the second stream"); status != 200 {
		t.Fatalf("the second stream, on the first one's connection: %d", status)
	}
	// Both places are held, by two requests of one connection.
	if status := stream("a third stream"); status != 503 {
		t.Fatalf("a third stream on that connection: %d", status)
	}
	if r := s.do("PUT", "/lock/a?key=B&wait=100ms", ""); r.Status != 503 || !strings.Contains(string(r.Body), "too many connections are held by waiting requests and event streams (limit 2") {
		t.Fatalf("a wait on that connection: %d %s", r.Status, r.Body)
	}
	c := s.Srv.Client()
	c.Transport = c.Transport.(*http.Transport).Clone()
	req, _ := http.NewRequest("PUT", s.URL+"/lock/a?key=C&wait=100ms", nil)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 503 || resp.ProtoMajor != 2 {
		t.Fatalf("a wait on another connection: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestLongRequestsRefusedAreLogged: an event stream refused because every
// place for long requests is held is logged (at WARN, with the limit), as a
// wait refused so is: a review found such 503s left no trace in the log.
func TestLongRequestsRefusedAreLogged(t *testing.T) {
	var logs syncBuffer
	s := newHTTPStack(t, stackOptions{MaxLongRequests: 1, Service: lockservice.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
	if status, _ := openStream(t, s); status != 200 {
		t.Fatalf("a stream: %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
	if r := s.send(req); r.Status != 503 {
		t.Fatalf("a second stream: %d %s", r.Status, r.Body)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "a limit of the server is reached") || !strings.Contains(out, "(limit 1;") {
		t.Errorf("the refused stream is not logged with its limit:\n%s", out)
	}
}
