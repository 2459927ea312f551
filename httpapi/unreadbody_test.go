package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
)

// TestUnreadBodyClosesConnection: a request answered without its body
// being read (an open route, an unknown path, a change refused before its
// route) that declares a body it does not send is answered at once and its
// connection closed, as a 401's is. net/http otherwise waits for the body
// before it answers, for as long as the server's ReadTimeout (here, which
// has none, for ever): a client without credentials held a place under
// LOCKER_MAX_CONNECTIONS for 30s with one request.
func TestUnreadBodyClosesConnection(t *testing.T) {
	t.Parallel()
	authed := newHTTPStack(t, stackOptions{Auth: httpapi.Credentials{User: "ci", Pass: "secret"}})
	open := newHTTPStack(t, stackOptions{})
	for _, c := range []struct {
		s      *httpStack
		head   string
		status int
	}{
		{authed, "PUT /nope HTTP/1.1\r\nHost: x", 404},
		{authed, "POST / HTTP/1.1\r\nHost: x", 404},
		{authed, "PUT /lock/ HTTP/1.1\r\nHost: x", 400},
		{authed, "PATCH /lock/x HTTP/1.1\r\nHost: x", 405},
		{authed, "GET /healthz HTTP/1.1\r\nHost: x", 200},
		{authed, "GET /readyz HTTP/1.1\r\nHost: x", 200},
		{authed, "PUT /lock/x HTTP/1.1\r\nHost: x\r\nSec-Fetch-Site: cross-site", 403},
		{open, "PUT /lock/x HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example", 403},
	} {
		t.Run(c.head, func(t *testing.T) {
			conn, err := net.Dial("tcp", c.s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", c.head)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(conn)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("no answer within 10s: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !resp.Close {
				t.Errorf("status %d, close %v; want %d and the connection closed", resp.StatusCode, resp.Close, c.status)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("after the answer: %v, want the connection closed", err)
			}
		})
	}
	// Without a body the connection is kept for the next request.
	resp, err := http.Get(authed.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Close {
		t.Errorf("GET /healthz without a body closed its connection")
	}
}
