package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
)

// sendGet sends GET path on a connection of its own, with a small receive
// buffer when smallReceive, and reads nothing of the answer.
func sendGet(t *testing.T, s *httpStack, path string, smallReceive bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if smallReceive {
		c.(*net.TCPConn).SetReadBuffer(4096)
	}
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: locker\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// manyLocks holds n locks of long names, so that GET /locks is far larger
// than the sockets' buffers.
func manyLocks(t *testing.T, s *httpStack, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("%05d-%s", i, strings.Repeat("n", 400))
		if _, err := s.Svc.Acquire(context.Background(), name, lock.Request{Key: "k", Holder: strings.Repeat("h", 400)}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAnswerNotReadIsCut: a client that asks for a large answer and reads
// none of it has its connection closed after the write timeout, instead of
// holding it (and its place under LOCKER_MAX_CONNECTIONS) for ever.
func TestAnswerNotReadIsCut(t *testing.T) {
	httpapi.SetResponseWriteTimeout(t, 200*time.Millisecond)
	closed := make(closedConns, 100)
	s := newHTTPStack(t, stackOptions{SmallSendBuffers: true, ConnState: closed.connState})
	manyLocks(t, s, 1000) // about 1.3 MB of listing
	c := sendGet(t, s, "/locks", true)
	closed.wait(t, c, "the connection of a GET /locks whose client reads nothing")
}

// closedConns hears of the connections a stack closes: its connState is
// the stack's ConnState hook.
type closedConns chan string

func (cc closedConns) connState(c net.Conn, cs http.ConnState) {
	if cs == http.StateClosed {
		select {
		case cc <- c.RemoteAddr().String():
		default: // the test is over
		}
	}
}

// wait waits until the server has closed the connection of c, the client's
// side, for 30s at most.
func (cc closedConns) wait(t *testing.T, c net.Conn, what string) {
	t.Helper()
	for timeout := time.After(30 * time.Second); ; {
		select {
		case addr := <-cc:
			if addr == c.LocalAddr().String() {
				return
			}
		case <-timeout:
			t.Fatalf("%s is still open after 30s", what)
		}
	}
}

// slowReader reads at most 16 KiB per 10ms: 1.6 MB/s.
type slowReader struct{ c net.Conn }

func (r slowReader) Read(b []byte) (int, error) {
	time.Sleep(10 * time.Millisecond)
	return r.c.Read(b[:min(len(b), 16<<10)])
}

// TestAnswerReadSlowlyIsNotCut: the deadline is for each part of an
// answer, not the whole: a client that reads steadily, slower than the
// whole listing could be sent within the timeout, gets all of it.
func TestAnswerReadSlowlyIsNotCut(t *testing.T) {
	const timeout = 1200 * time.Millisecond
	httpapi.SetResponseWriteTimeout(t, timeout)
	s := newHTTPStack(t, stackOptions{SmallSendBuffers: true})
	manyLocks(t, s, 2000) // about 2.6 MB of listing: ten parts
	want := s.do("GET", "/locks", "").Body
	c := sendGet(t, s, "/locks", false)
	// A receive buffer that holds less than a part: else the kernel grows
	// it to megabytes on loopback, takes the whole listing in at once, and
	// no write waits for the reader (the test could not fail).
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReaderSize(slowReader{c}, 16<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("after %d bytes in %v: %v", len(got), time.Since(start).Round(time.Millisecond), err)
	}
	if string(got) != string(want) {
		t.Fatalf("read %d bytes, want the %d of the listing", len(got), len(want))
	}
	if time.Since(start) < timeout {
		t.Logf("read in %v: faster than the timeout, the test proves little", time.Since(start))
	}
}
