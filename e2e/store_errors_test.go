package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpProxy passes connections to target until it is closed; then its port
// refuses them, as a database that went away does.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// close stops listening and ends every connection passed on.
func (p *tcpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseUnreachableAnswersKeepDetailsForTheLog: with PostgreSQL
// unreachable, every request that needs it answers 503 with a JSON error
// that says what happened and what to do (whether the change was made),
// without the driver's error: a review read "failed to connect to
// `user=postgres database=...`: 127.0.0.1:43040 ..." in the 503s of PUT
// and GET /locks, which anyone may send without AUTH_USER. The server's
// log has the details, for each failed request.
func TestDatabaseUnreachableAnswersKeepDetailsForTheLog(t *testing.T) {
	db, err := url.Parse(haDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, db.Host)
	db.Host = proxy.ln.Addr().String()
	_, port, _ := net.SplitHostPort(db.Host)
	s := startServer(t, []string{"LOCKER_DATABASE_URL=" + db.String()})
	if st, b := do(t, nil, "PUT", s.URL+"/lock/held", `{"key":"k"}`); st != 200 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	if st, b := do(t, nil, "PUT", s.URL+"/pool/p/m", `{}`); st != 200 {
		t.Fatalf("PUT a pool member: %d %s", st, b)
	}
	proxy.close()

	for _, r := range []struct {
		method, path, body string
		says               string // the answer says so
	}{
		// Refused before anything was written.
		{"PUT", "/lock/x", `{"key":"k"}`, "the change was not made; try again"},
		{"DELETE", "/lock/held", `{"key":"k"}`, "the change was not made; try again"},
		{"POST", "/lock/held/refresh", `{"key":"k","ttl":"1m"}`, "the change was not made; try again"},
		{"PUT", "/pool/p/m2", `{}`, "the change was not made; try again"},
		{"GET", "/locks", ``, "try again"},
		{"GET", "/lock/held", ``, "try again"},
		{"GET", "/lock/held/history", ``, "try again"},
		{"GET", "/pools", ``, "try again"},
		{"GET", "/pool/p", ``, "try again"},
		{"PUT", "/pool/p", `{"key":"k"}`, "try again"},
	} {
		st, raw := do(t, nil, r.method, s.URL+r.path, r.body)
		var body struct {
			Error     string
			MaybeMade *bool `json:"maybe_made"`
		}
		if st != http.StatusServiceUnavailable || json.Unmarshal([]byte(raw), &body) != nil ||
			!strings.Contains(body.Error, "the lock database is unavailable") || !strings.Contains(body.Error, r.says) {
			t.Errorf("%s %s with the database unreachable: %d %s, want 503 saying the database is unavailable and %q", r.method, r.path, st, raw, r.says)
		}
		// Marked "maybe_made" exactly when it says so in words.
		if words := strings.Contains(body.Error, "may or may not have been made"); words != (body.MaybeMade != nil && *body.MaybeMade) || body.MaybeMade != nil && !*body.MaybeMade {
			t.Errorf("%s %s with the database unreachable: %s: maybe_made does not match the words", r.method, r.path, raw)
		}
		for _, secret := range []string{port, "127.0.0.1", "user=", "database=", db.Path[1:]} {
			if strings.Contains(raw, secret) {
				t.Errorf("%s %s with the database unreachable: the answer has %q: %s", r.method, r.path, secret, raw)
			}
		}
		// The log has the details, with the request.
		line := `msg="request failed" method=` + r.method + ` path=` + r.path + ` status=503 err="the lock database is unavailable (failed to connect to`
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.Output(), line); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s %s: the log does not have the request's failure with the details:\n%s", r.method, r.path, s.Output())
				break
			}
		}
	}
}
