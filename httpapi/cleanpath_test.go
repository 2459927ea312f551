package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A path with an empty or a dot segment, as a base URL that ends in "/"
// makes (http://locker/ + /lock/x = //lock/x), is served as its clean
// form, not redirected. Go's ServeMux redirected it, escaping the name a
// second time (//lock/a%20b to /lock/a%2520b: a client that followed took
// the lock "a%20b", not "a b"), and a client that does not follow
// redirects (curl without -L) got an empty 307 and no lock, and exited 0.
// Names are single segments (a "/" in one is sent as %2F), so cleaning the
// path as sent never changes a name; %2E%2E is the name "..", not a dot
// segment.
func TestUncleanPathsServedAsClean(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, path, body, name string }{
		{"PUT", "//lock/a%20b", `{"key":"k"}`, "a b"},
		{"PUT", "/lock/./c%2Fd", `{"key":"k"}`, "c/d"},
		{"PUT", "/lock/x/../y%20z", `{"key":"k"}`, "y z"},
		{"PUT", "/./lock//%2e%2e", `{"key":"k"}`, ".."},
		{"GET", "//lock/a%20b", "", "a b"},
		{"DELETE", "//lock/a%20b", `{"key":"k"}`, "a b"},
	} {
		r := s.sendFrom(noFollow, c.method, c.path, c.body).expect(t, 200, c.method+" "+c.path)
		if l := r.lockOf(t); l.Name != c.name {
			t.Errorf("%s %s: lock %q, want %q", c.method, c.path, l.Name, c.name)
		}
	}
	s.sendFrom(noFollow, "GET", "//locks", "").expect(t, 200, "GET //locks")
	list := s.list(t)
	for _, want := range []string{"a b", "c/d", "y z", ".."} {
		if _, ok := list[want]; !ok {
			t.Errorf("GET /locks has no %q: %v", want, keys(list))
		}
	}
	if len(list) != 4 {
		t.Errorf("GET /locks = %v, want the 4 locks above and no other", keys(list))
	}
}

// CONNECT host:port (a client that takes the server for a proxy) gets a
// JSON 405, like every other method a route does not take, not net/http's
// plain-text 404.
func TestConnectToAHostIsJSON405(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != 405 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(b), `"error"`) {
		t.Errorf("CONNECT example.com:443: %d %q %s, want a JSON 405", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}
