// Package cutproxy is a proxy for tests of waits through a proxy whose
// read timeout is shorter than the waits asked through it, as nginx's
// proxy_read_timeout or an AWS ALB's idle timeout (60s by default) is
// shorter than the client's 5 minute requests.
package cutproxy

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy passes requests on to its target. A request unanswered after cut
// is answered 504 with an HTML page (or, with HangUp, its connection
// closed), and the upstream connection is closed, as nginx does.
type Proxy struct {
	URL    string
	Puts   atomic.Int32 // PUTs passed on
	HangUp atomic.Bool  // close the client's connection instead of a 504
	Now    atomic.Int32 // PUTs to answer 504 at once, without passing them on
}

// New starts a proxy in front of target, stopped when the test ends.
func New(t testing.TB, target string, cut time.Duration) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = cut
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr
	rp.ErrorLog = quiet
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if p.HangUp.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		http.Error(w, "<html><head><title>504 Gateway Time-out</title></head></html>", http.StatusGatewayTimeout)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			if p.Now.Add(-1) >= 0 {
				http.Error(w, "<html>504 Gateway Time-out</html>", http.StatusGatewayTimeout)
				return
			}
			p.Puts.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// quiet drops the reverse proxy's own log lines (each cut request).
var quiet = log.New(io.Discard, "", 0)
