package metrics

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMethodsAreBoundedLabels: a request's method is any token a client
// sends; only HTTP's own methods become label values.
func TestMethodsAreBoundedLabels(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /locks", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	send := func(method, path string) {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path)
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	for i := range 50 {
		send(fmt.Sprintf("FOO%d", i), "/x")
	}
	send("GET", "/locks")
	send("DELETE", "/x")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	if strings.Contains(out, "FOO") {
		t.Errorf("a method a client made up became a label:\n%s", grep(out, "FOO"))
	}
	for _, want := range []string{
		`locker_http_requests_total{code="404",method="other",route="other"} 50`,
		`locker_http_requests_total{code="200",method="GET",route="GET /locks"} 1`,
		`locker_http_requests_total{code="404",method="DELETE",route="other"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, grep(out, "locker_http_requests_total"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
