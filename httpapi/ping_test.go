package httpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
)

// streamLines opens GET path (an event stream) and returns its lines as
// sent, "\n" included, until the test ends.
func streamLines(t *testing.T, s *httpStack, path string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	out := make(chan string, 1000)
	go func() {
		defer close(done)
		defer close(out)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			out <- line
		}
	}()
	return out
}

// nextLines returns the stream's next n lines, joined.
func nextLines(t *testing.T, lines <-chan string, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended after %q", b.String())
			}
			b.WriteString(l)
		case <-time.After(10 * time.Second):
			t.Fatalf("the stream sent nothing for 10s after %q", b.String())
		}
	}
	return b.String()
}

// TestEventsPing: GET /events?ping=true pings with an event (event: ping,
// data: {}) where the stream pinged with a comment, and once at the start:
// a browser passes no comment to the page, so the dashboard could not tell
// a stream that hangs (a buffering proxy, a half-open connection) from one
// with nothing to say, and said "live". Without the parameter the stream is
// as it was, byte for byte: the Go client would hand any event with data
// to its callback, and curl users parse the documented names.
func TestEventsPing(t *testing.T) {
	httpapi.SetHeartbeat(t, 50*time.Millisecond)
	s := newHTTPStack(t, stackOptions{})
	const start = "retry: 1000\n: connected\n\n"

	// Other parameters, even ones that do not parse, are ignored as before.
	for _, path := range []string{"/events", "/events?ping=false", "/events?ping=0", "/events?x=1;y", "/events?%zz"} {
		lines := streamLines(t, s, path)
		want := start + ": ping\n\n: ping\n\n"
		if got := nextLines(t, lines, 7); got != want {
			t.Errorf("GET %s: the stream begins %q, want %q", path, got, want)
		}
	}

	for _, path := range []string{"/events?ping=true", "/events?ping=1"} {
		lines := streamLines(t, s, path)
		ping := "event: ping\ndata: {}\n\n"
		if got, want := nextLines(t, lines, 9), start+ping+ping; got != want {
			t.Errorf("GET %s: the stream begins %q, want %q", path, got, want)
		}
		// Changes come as before, between pings.
		s.do("PUT", "/lock/p", `{"key":"k"}`).expect(t, 200, "lock")
		s.do("DELETE", "/lock/p", `{"key":"k"}`).expect(t, 200, "unlock")
		acquired, pinged := false, false
		for !pinged {
			switch l := nextLines(t, lines, 1); l {
			case "event: acquired\n":
				acquired = true
			case "event: ping\n":
				pinged = acquired
			case ": ping\n":
				t.Fatalf("GET %s: a ping comment besides the ping events", path)
			}
		}
	}

	// A value that is not true or false is refused, not taken for one.
	for _, q := range []string{"ping=yes", "ping=true&ping=false", "ping=true;x"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a stream would run until then
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events?"+q, nil)
		resp, err := s.Srv.Client().Do(req)
		if err != nil {
			t.Fatalf("GET /events?%s: %v", q, err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 400 {
			t.Errorf("GET /events?%s: %d, want 400", q, resp.StatusCode)
		}
	}
}
