package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
)

// TestLargeBodiesAreBounded: request bodies over 4 KiB received at once are
// bounded, past which one gets 503 (and its connection is closed) instead
// of the server setting aside up to a megabyte more for it. Each is read
// into memory whole while its client takes up to LOCKER_READ_TIMEOUT to
// send it: 400 connections sending nearly 1 MiB each and then nothing
// took the server's heap to 480 MB. Small bodies, every lock request's,
// are never refused so.
func TestLargeBodiesAreBounded(t *testing.T) {
	httpapi.SetLargeBodies(t, 2)
	s := newHTTPStack(t, stackOptions{})
	// Sends a request announcing a 1 MiB body, 64 KiB of it, and no more.
	stall := func() net.Conn {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "PUT /lock/x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{\"key\":\"k\"%s", 1<<20, strings.Repeat(" ", 64<<10))
		return c
	}
	held := []net.Conn{stall(), stall()}
	const patience = 10 * time.Second
	// Once both are being received, another is refused. (Until then one
	// of these may be received instead: it is closed, and tried again.)
	deadline := time.Now().Add(patience)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("with 2 large bodies held back by their clients, and a bound of 2, no other large body was refused within %s", patience)
		}
		c := stall()
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			continue // being received: not refused
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "too many request bodies") {
			t.Errorf("refusal %s, want a JSON error saying why", body)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close {
			t.Fatalf("a large body past the bound got %d (close %v), want 503 and the connection closed", resp.StatusCode, resp.Close)
		}
		break
	}
	// A lock request's small body is taken as ever.
	if r := s.do("PUT", "/lock/y", `{"key":"k"}`); r.Status != http.StatusOK {
		t.Fatalf("a small body while large ones are held back: %d %s", r.Status, r.Body)
	}
	// A large one too once the held-back ones are gone: their places
	// come back.
	for _, c := range held {
		c.Close()
	}
	large := `{"key":"k"` + strings.Repeat(" ", 8<<10) + "}"
	deadline = time.Now().Add(patience)
	for {
		r := s.do("PUT", "/lock/z", large)
		if r.Status == http.StatusOK {
			break
		}
		if r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a large body once the held-back ones are gone: %d %s", r.Status, r.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
