package httpapi_test

// GET /events: Server-Sent Events of every change, in order; slow consumers
// are dropped without holding up lock operations.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// sseMessage is one message of an event stream: an event, or a comment.
type sseMessage struct {
	Event   string
	Data    string
	Comment string
}

// readSSE parses an event stream onto out until it ends, then closes out.
func readSSE(r io.Reader, out chan<- sseMessage) {
	defer close(out)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var m sseMessage
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m.Event != "" || m.Data != "" {
				out <- m
			}
			m = sseMessage{}
		case strings.HasPrefix(line, ":"):
			out <- sseMessage{Comment: strings.TrimSpace(line[1:])}
		case strings.HasPrefix(line, "event:"):
			m.Event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			m.Data += strings.TrimPrefix(line[len("data:"):], " ")
		}
	}
}

// subscribe opens GET /events and returns its messages once the server has
// said it is connected (so every later change is on the stream).
func (s *httpStack) subscribe(t *testing.T) <-chan sseMessage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.creds != nil {
		req.SetBasicAuth(s.creds.User, s.creds.Pass)
	}
	resp, err := s.Srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /events: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); resp.Body.Close(); wg.Wait() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseMessage, 10000)
	wg.Add(1)
	go func() { defer wg.Done(); readSSE(resp.Body, out) }()
	for m := range nextMessages(t, out) {
		if m.Comment == "connected" {
			return out
		}
	}
	t.Fatalf("GET /events: no \"connected\" comment")
	return nil
}

// nextMessages yields messages as they arrive, failing after 10s of silence.
func nextMessages(t *testing.T, c <-chan sseMessage) func(func(sseMessage) bool) {
	return func(yield func(sseMessage) bool) {
		for {
			select {
			case m, ok := <-c:
				if !ok {
					return
				}
				if !yield(m) {
					return
				}
			case <-time.After(10 * time.Second):
				t.Errorf("event stream: nothing for 10s")
				return
			}
		}
	}
}

// nextEvent returns the stream's next event, skipping comments.
func nextEvent(t *testing.T, c <-chan sseMessage) (string, eventJSON) {
	t.Helper()
	for m := range nextMessages(t, c) {
		if m.Comment != "" {
			continue
		}
		var ev eventJSON
		if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
			t.Fatalf("event %q has data that is not an event: %q", m.Event, m.Data)
		}
		if ev.Type != m.Event {
			t.Errorf("SSE event name %q but data type %q", m.Event, ev.Type)
		}
		return m.Event, ev
	}
	t.Fatalf("event stream ended")
	return "", eventJSON{}
}

func TestEventsStreamEveryChangeInOrder(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Auth: userCreds})
	streams := []<-chan sseMessage{s.subscribe(t), s.subscribe(t)}

	s.do("PUT", "/lock/e", `{"key":"k","lock_by":"a"}`).expect(t, 200, "lock")
	s.do("PUT", "/lock/e", `{"key":"k","lock_by":"b"}`).expect(t, 200, "lock shared")
	s.do("PUT", "/lock/e", `{"key":"other"}`).expect(t, 423, "conflict: no event")
	s.do("DELETE", "/lock/e", `{"key":"k","locked_by":"nobody"}`).expect(t, 200, "no-op unlock: no event")
	s.do("PUT", "/lock/a%2Fb", `{"key":"k"}`).expect(t, 200, "another lock")
	s.do("DELETE", "/lock/e", `{"key":"k","locked_by":"a"}`).expect(t, 200, "unlock")
	s.do("POST", "/lock/e/refresh", `{"key":"k","lock_by":"b","ttl":"1h"}`).expect(t, 200, "refresh")
	s.do("DELETE", "/lock/e?force=true", "").expect(t, 200, "force")
	s.do("PUT", "/lock/t", `{"key":"k","ttl":"100ms"}`).expect(t, 200, "lock with ttl")

	want := []struct {
		typ, lock, holder string
		count             int
		by                string
	}{
		{"acquired", "e", "a", 1, ""},
		{"acquired", "e", "b", 1, ""},
		{"acquired", "a/b", "k", 1, ""},
		{"released", "e", "a", 0, ""},
		{"refreshed", "e", "b", 1, ""},
		{"forced", "e", "b", 0, userCreds.User},
		{"acquired", "t", "k", 1, ""},
		{"expired", "t", "k", 0, ""},
	}
	for i, c := range streams {
		var fence uint64
		for j, w := range want {
			typ, ev := nextEvent(t, c)
			if typ != w.typ || ev.Lock != w.lock || ev.Holder != w.holder || ev.Count != w.count || ev.By != w.by || ev.Time.IsZero() {
				t.Fatalf("stream %d event %d = %s %+v, want %+v", i, j, typ, ev, w)
			}
			if ev.Lock == "e" {
				if fence == 0 {
					fence = ev.Fence
				} else if ev.Fence != fence {
					t.Errorf("stream %d event %d: fence %d, want %d for the same holding", i, j, ev.Fence, fence)
				}
			}
		}
	}
}

// TestEventsLargeChange: a force release of a lock with as many holders as
// a lock may have (one change, an event for each) reaches a consumer that
// keeps up whole, and the stream goes on.
func TestEventsLargeChange(t *testing.T) {
	t.Parallel()
	s := newHTTPStack(t, stackOptions{})
	const holders = lock.MaxHolders
	// The holds are taken by a few clients at once, so that the store
	// writes them in shared batches (one fsync a batch): one at a time,
	// the 1000 fsyncs took most of a minute on a slow disk.
	const clients = 8
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < holders; i += clients {
				if r := s.do("PUT", fmt.Sprintf("/lock/big?key=k&lock_by=h%d", i), ""); r.Status != 200 {
					t.Errorf("lock h%d: status %d, want 200; body %s", i, r.Status, r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c := s.subscribe(t)
	s.do("DELETE", "/lock/big?force=true", "").expect(t, 200, "force")
	s.do("PUT", "/lock/after?key=k", "").expect(t, 200, "lock after")
	for i := range holders {
		if typ, ev := nextEvent(t, c); typ != "forced" || ev.Lock != "big" {
			t.Fatalf("event %d: %s %+v, want forced of big", i, typ, ev)
		}
	}
	if typ, ev := nextEvent(t, c); typ != "acquired" || ev.Lock != "after" {
		t.Fatalf("after the large change: %s %+v", typ, ev)
	}
}

// stuckSubscriber opens GET /events on its own connection and reads no
// more than the stream's first line: the client then stops reading. The
// stack's send buffers must be small (SmallSendBuffers), so that the
// server's writes block once the client's receive buffer is full. With
// smallReceive, that buffer is small too, so that they surely do; but the
// client must not read any more then: that can stall loopback TCP for good.
func stuckSubscriber(t *testing.T, s *httpStack, smallReceive bool) (net.Conn, *http.Response) {
	t.Helper()
	c := sendGet(t, s, "/events", smallReceive)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	line, err := bufio.NewReader(io.LimitReader(resp.Body, 64)).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line of the stream = %q, %v", line, err)
	}
	return c, resp
}

// floodChanges makes many changes with long holder names: far more than an
// event stream's buffer and the socket buffers can take. It returns their
// number, once they have all completed (lock operations never wait for a
// stream).
func floodChanges(t *testing.T, s *httpStack) int {
	t.Helper()
	const workers, cycles = 4, 300
	holder := strings.Repeat("h", 400)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("/lock/slow-%d", w)
				for range cycles {
					body := jsonBody(map[string]string{"key": "k", "lock_by": holder})
					if r := s.do("PUT", name, body); r.Status != 200 {
						t.Errorf("PUT %s: %d %s", name, r.Status, r.Body)
						return
					}
					if r := s.do("DELETE", name, body); r.Status != 200 {
						t.Errorf("DELETE %s: %d %s", name, r.Status, r.Body)
						return
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("%d lock changes did not complete in 3 minutes while a subscriber did not read: lock operations are blocked", 2*workers*cycles)
	}
	if t.Failed() {
		t.FailNow()
	}
	return 2 * workers * cycles
}

func TestEventsSlowConsumerIsDropped(t *testing.T) {
	t.Parallel()
	// The stream's write waits while the flood runs, and it must still be
	// waiting when the test reads: on a loaded machine the flood took
	// longer than the default 30 s, and the stream was cut before it
	// could say "dropped". The flood's own bound is 3 minutes.
	s := newHTTPStack(t, stackOptions{SmallSendBuffers: true, StreamWriteTimeout: 5 * time.Minute})
	c, resp := stuckSubscriber(t, s, false)
	changes := floodChanges(t, s)

	// Now read what the stream has: it ends (the server closes it) with
	// "event: dropped", and holds fewer events than there were changes.
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the dropped stream: %v (after %d bytes) tail %q", err, len(rest), tail(string(rest), 2000))
	}
	n := strings.Count(string(rest), "\nevent: acquired\n") + strings.Count(string(rest), "\nevent: released\n")
	if !strings.Contains(string(rest), "event: dropped\n") {
		t.Fatalf("the stream ended without \"event: dropped\" after %d events; tail: %q", n, tail(string(rest), 300))
	}
	if n >= changes {
		t.Errorf("the dropped stream carried all %d events", n)
	}
	if i := strings.Index(string(rest), "event: dropped\n"); strings.Contains(string(rest)[i:], "event: acquired") {
		t.Errorf("events after \"dropped\"")
	}

	// The server still streams to a new subscriber.
	fresh := s.subscribe(t)
	s.do("PUT", "/lock/after", `{"key":"k"}`).expect(t, 200, "lock after the drop")
	if typ, ev := nextEvent(t, fresh); typ != "acquired" || ev.Lock != "after" {
		t.Errorf("new subscriber got %s %+v", typ, ev)
	}
}

// TestEventsStuckConsumerDoesNotHoldShutdown: a stream whose client stopped
// reading, its writes blocked, ends once the server is stopping, so that
// shutdown completes. (A review: 60,000 changes, then SIGTERM; the stream's
// handler waited in its write, and the server gave up its shutdown after
// 30s and exited 1.)
func TestEventsStuckConsumerDoesNotHoldShutdown(t *testing.T) {
	t.Parallel()
	s := newHTTPStack(t, stackOptions{SmallSendBuffers: true})
	stuckSubscriber(t, s, true)
	floodChanges(t, s)

	s.Svc.Close() // what the server does first when it stops
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a stream whose client does not read: %v", err)
	}
}

// TestEventsStuckConsumerIsCut: a stream whose client takes nothing for the
// write timeout is ended and its connection closed, so that it does not
// hold the connection, and its place under LOCKER_MAX_CONNECTIONS, for
// ever.
func TestEventsStuckConsumerIsCut(t *testing.T) {
	t.Parallel()
	closed := make(closedConns, 100)
	s := newHTTPStack(t, stackOptions{SmallSendBuffers: true, ConnState: closed.connState, StreamWriteTimeout: 200 * time.Millisecond})
	c, _ := stuckSubscriber(t, s, true)
	floodChanges(t, s)
	closed.wait(t, c, "the connection of a stream whose client takes nothing")
}

// sendBufferConn records the send buffer asked for its connection.
type sendBufferConn struct {
	net.Conn
	asked *atomic.Int64
}

func (c sendBufferConn) SetWriteBuffer(n int) error {
	c.asked.Store(int64(n))
	return c.Conn.(*net.TCPConn).SetWriteBuffer(n)
}

// TestEventsStreamHasASmallSendBuffer: an HTTP/1 event stream asks the
// kernel for a small send buffer, so that a write waiting
// streamWriteTimeout means a client that does not read, not one that
// reads slowly behind megabytes of buffer (Linux wakes a waiting write
// once half the buffer has drained). Other requests keep theirs.
func TestEventsStreamHasASmallSendBuffer(t *testing.T) {
	var asked atomic.Int64
	s := newHTTPStack(t, stackOptions{WrapConn: func(c net.Conn) net.Conn { return sendBufferConn{c, &asked} }})
	s.do("GET", "/locks", "").expect(t, 200, "a listing")
	if n := asked.Load(); n != 0 {
		t.Fatalf("a listing asked for a send buffer of %d", n)
	}
	c, _ := stuckSubscriber(t, s, false)
	defer c.Close()
	if n := asked.Load(); n <= 0 || n > 256<<10 {
		t.Fatalf("an event stream asked for a send buffer of %d bytes, want a small one", n)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestEventsHEAD: HEAD /events answers the headers and ends, so that the
// connection serves the client's next request.
func TestEventsHEAD(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	c := &http.Client{Timeout: 5 * time.Second}
	for range 2 { // the second on the same keep-alive connection
		resp, err := c.Head(s.URL + "/events")
		if err != nil {
			t.Fatalf("HEAD /events: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HEAD /events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// The headers GET sends.
		if h := resp.Header; h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
			t.Errorf("HEAD /events: Cache-Control %q, X-Accel-Buffering %q; want GET's, no-cache and no", h.Get("Cache-Control"), h.Get("X-Accel-Buffering"))
		}
	}
	if resp, err := c.Get(s.URL + "/locks"); err != nil {
		t.Fatalf("GET /locks after HEAD /events: %v", err)
	} else {
		resp.Body.Close()
	}
}

// deafStore is a memory store that cannot hear of other servers' changes
// (a replica whose LISTEN connection is down).
type deafStore struct{ *memstore.Store }

func (deafStore) Reporting() error {
	return lock.Errorf(lock.EUNAVAILABLE, "this server cannot hear of changes now (a test's)")
}

// TestEventsRefusedWhileDeaf: a stream started while the store cannot
// hear of other servers' changes would look live and miss them: 503, and
// the client tries again (a HA review found streams opened during an
// outage silent and "live").
func TestEventsRefusedWhileDeaf(t *testing.T) {
	svc := lockservice.New(deafStore{memstore.New(memstore.Options{})}, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	rctx, stop := context.WithTimeout(ctx, 2*time.Second) // a stream would run until then
	defer stop()
	httpapi.New(svc, httpapi.Config{}).ServeHTTP(rec, httptest.NewRequest("GET", "/events", nil).WithContext(rctx))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"error":"this server cannot hear of changes now (a test's)"`) {
		t.Fatalf("GET /events: %d %s", rec.Code, rec.Body)
	}
}
