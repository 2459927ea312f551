package e2e

// Production hardening, through the real binary: logs that say what changed
// and never a secret, slow and idle clients cut off without slowing the
// others, the connection cap, the limit on failed logins, read-only
// credentials, and the version set at build time.

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// call sends a request with optional basic auth and returns status, headers
// and body. It fails the test if the request cannot be sent.
func hcall(t *testing.T, c *http.Client, method, url, user, pass, body string) (int, http.Header, string) {
	t.Helper()
	status, h, b, err := tryCall(c, method, url, user, pass, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, h, b
}

func tryCall(c *http.Client, method, url, user, pass, body string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// logLines parses the server's JSON log lines (LOCKER_LOG_FORMAT=json).
func logLines(t *testing.T, output string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(output, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestHardeningLogs: one log line per state change (lock, unlock, expiry,
// force) with lock, key, holder, fence and remote address; never a password
// nor an Authorization header, not even a wrong one.
func TestHardeningLogs(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	const pass, adminPass, wrongPass = "Sup3r-s3cret-pw", "Adm1n-s3cret-pw", "Wr0ng-guess-pw"
	s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=" + pass, "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=" + adminPass,
		"LOCKER_LOG_FORMAT=json"})
	headers := []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("deploy:"+pass)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("deploy:"+wrongPass)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+adminPass)),
		"Bearer " + wrongPass,
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/locks", "deploy", wrongPass, ""); st != 401 {
		t.Fatalf("wrong password: %d %s", st, b)
	}
	req, _ := http.NewRequest("GET", s.URL+"/locks", nil)
	req.Header.Set("Authorization", "Bearer "+wrongPass)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("bearer: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	ok := func(method, path, user, pw, body string) {
		t.Helper()
		if st, _, b := hcall(t, nil, method, s.URL+path, user, pw, body); st != 200 {
			t.Fatalf("%s %s: %d %s", method, path, st, b)
		}
	}
	ok("PUT", "/lock/prod", "deploy", pass, `{"key":"k1","lock_by":"job-1"}`)
	ok("DELETE", "/lock/prod", "deploy", pass, `{"key":"k1","locked_by":"job-1"}`)
	ok("PUT", "/lock/prod", "deploy", pass, `{"key":"k2","lock_by":"job-2"}`)
	ok("DELETE", "/lock/prod?force=true", "ops", adminPass, "")
	ok("PUT", "/lock/lease", "deploy", pass, `{"key":"k3","lock_by":"job-3","ttl":"1s"}`)
	// The lease runs out by itself.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.Output(), "lease expired") {
		if time.Now().After(deadline) {
			t.Fatalf("no expiry logged after 20s:\n%s", s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Nothing between the server and its log may hold a secret.
	out := s.Output()
	for _, secret := range append([]string{pass, adminPass, wrongPass}, headers...) {
		if strings.Contains(out, secret) {
			t.Errorf("the server's output holds the secret %q:\n%s", secret, out)
		}
	}
	if strings.Contains(strings.ToLower(out), "authorization") {
		t.Errorf("the server's output mentions the Authorization header:\n%s", out)
	}

	type change struct{ msg, lock, key, holder string }
	want := []change{
		{"lock", "prod", "k1", "job-1"},
		{"unlock", "prod", "k1", "job-1"},
		{"lock", "prod", "k2", "job-2"},
		{"force release", "prod", "k2", "job-2"},
		{"lock", "lease", "k3", "job-3"},
		{"lease expired", "lease", "k3", "job-3"},
	}
	var got []change
	for _, l := range logLines(t, out) {
		msg, _ := l["msg"].(string)
		switch msg {
		case "lock", "unlock", "force release", "lease expired":
		default:
			continue
		}
		c := change{msg, fmt.Sprint(l["lock"]), fmt.Sprint(l["key"]), fmt.Sprint(l["holder"])}
		got = append(got, c)
		if _, ok := l["fence"].(float64); !ok {
			t.Errorf("%s line has no fence: %v", msg, l)
		}
		if msg != "lease expired" {
			// Expiry is the server's own doing; the others name the client.
			if r, _ := l["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
				t.Errorf("%s line has no remote address: %v", msg, l)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("state-change log lines:\n got  %v\n want %v\noutput:\n%s", got, want, out)
	}
	// The failed logins are logged, without what was sent.
	failures := 0
	for _, l := range logLines(t, out) {
		if l["msg"] == "authentication failed" {
			failures++
		}
	}
	if failures != 2 {
		t.Errorf("%d failed logins logged, want 2:\n%s", failures, out)
	}
}

// slowLoris opens n connections that send a request's headers one byte at a
// time, every interval, and never finish them. It returns a counter of the
// connections the server has closed, and a function that stops them all.
func slowLoris(t *testing.T, addr string, n int, interval time.Duration) (closed *atomic.Int64, stop func()) {
	t.Helper()
	closed = new(atomic.Int64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	header := "PUT /lock/slow HTTP/1.1\r\nHost: locker\r\nContent-Type: application/json\r\nX-Padding: " + strings.Repeat("a", 4000)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("opening slow connection: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			// The server closing the connection shows up as a failed write
			// or as the end of what it sends back.
			gone := make(chan struct{})
			go func() {
				io.Copy(io.Discard, c)
				close(gone)
			}()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-gone:
					closed.Add(1)
					return
				case <-tick.C:
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte{header[i%len(header)]}); err != nil {
					closed.Add(1)
					return
				}
			}
		}()
	}
	return closed, func() { close(done); wg.Wait() }
}

// TestHardeningSlowLoris: hundreds of connections trickling their headers do
// not keep a normal client from being served, and the server cuts each of
// them off when its header timeout passes.
func TestHardeningSlowLoris(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	const slow = 300
	s := startServer(t, []string{"LOCKER_READ_HEADER_TIMEOUT=3s"})
	addr := strings.TrimPrefix(s.URL, "http://")
	closed, stop := slowLoris(t, addr, slow, 200*time.Millisecond)
	defer stop()

	// A normal client, with a generous timeout for each request: every
	// lock and unlock succeeds while the slow connections are open.
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 20 {
		for _, rq := range []struct{ method, body string }{{"PUT", `{"key":"k"}`}, {"DELETE", `{"key":"k"}`}} {
			st, _, b, err := tryCall(client, rq.method, s.URL+"/lock/normal", "", "", rq.body)
			if err != nil || st != 200 {
				t.Fatalf("normal client, cycle %d, %s: %d %s %v (with %d slow connections open, %d cut off)", i, rq.method, st, b, err, slow, closed.Load())
			}
		}
	}
	// The slow connections do not last: each is closed once its header
	// timeout (3s) passes, though it keeps sending.
	deadline := time.Now().Add(60 * time.Second)
	for closed.Load() < slow {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d slow connections were cut off after 60s", closed.Load(), slow)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _, b := hcall(t, client, "GET", s.URL+"/lock/normal", "", "", ""); st != 200 || !strings.Contains(b, `"state":"free"`) {
		t.Fatalf("after the slow loris: %d %s", st, b)
	}
}

// TestHardeningSlowBodyAndIdle: a body that never arrives in full is cut off
// (LOCKER_READ_TIMEOUT), an idle keep-alive connection is closed
// (LOCKER_IDLE_TIMEOUT), while a blocking wait longer than both still works.
func TestHardeningSlowBodyAndIdle(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	s := startServer(t, []string{"LOCKER_READ_TIMEOUT=2s", "LOCKER_IDLE_TIMEOUT=2s"})
	addr := strings.TrimPrefix(s.URL, "http://")

	// A body that stops coming.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /lock/slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"key\":")
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a body that stopped coming still holds its connection after 60s")
	}
	if strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("a cut-off body was served: %q", b)
	}
	// It says so: 408 in JSON, with no socket addresses in it.
	if !strings.HasPrefix(string(b), "HTTP/1.1 408") || !strings.Contains(string(b), `{"error":"the request body did not arrive in time; nothing was changed"}`) {
		t.Fatalf("a cut-off body's answer: %q", b)
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/lock/slowbody", "", "", ""); st != 404 {
		t.Fatalf("the cut-off request changed something: %d %s", st, b)
	}
	// That keep-alive connection would be closed by the server's idle
	// timeout just as a later request reused it (an EOF on a PUT, which
	// net/http does not retry).
	http.DefaultClient.CloseIdleConnections()

	// An idle keep-alive connection, after one request.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c2)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c2.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("an idle connection was not closed by the server (read: %v)", err)
	}

	// A wait that outlasts the read and idle timeouts still gets its lock.
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/w", "", "", `{"key":"first"}`); st != 200 {
		t.Fatalf("lock: %d %s", st, b)
	}
	go func() {
		time.Sleep(4 * time.Second)
		tryCall(nil, "DELETE", s.URL+"/lock/w", "", "", `{"key":"first"}`)
	}()
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/w", "", "", `{"key":"second","wait":"60s"}`); st != 200 {
		t.Fatalf("a wait longer than the timeouts: %d %s", st, b)
	}
	// An event stream outlasts them too.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	time.Sleep(3 * time.Second)
	do(t, nil, "DELETE", s.URL+"/lock/w", `{"key":"second"}`)
	sc := bufio.NewScanner(stream.Body)
	for sc.Scan() && sc.Text() != "event: released" {
	}
	if sc.Err() != nil {
		t.Fatalf("event stream ended: %v", sc.Err())
	}
}

// TestHardeningMaxConnections: at LOCKER_MAX_CONNECTIONS, a connection idle
// between requests makes room for a new one; with every connection in the
// middle of a request, a new one waits until one closes, then is served.
func TestHardeningMaxConnections(t *testing.T) {
	t.Run("idle connections make room", func(t *testing.T) {
		// A review kept every client out for LOCKER_IDLE_TIMEOUT with as
		// many idle connections as the cap, one GET /healthz each, no
		// credentials needed.
		const max = 20
		s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=secret", fmt.Sprint("LOCKER_MAX_CONNECTIONS=", max)})
		addr := strings.TrimPrefix(s.URL, "http://")
		var (
			idle  []*bufio.Reader
			conns []net.Conn
		)
		for range max {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			idle, conns = append(idle, r), append(conns, c)
		}
		c := &http.Client{Timeout: 30 * time.Second}
		if st, _, b, err := tryCall(c, "GET", s.URL+"/locks", "ci", "secret", ""); err != nil || st != 200 {
			t.Fatalf("GET /locks with the cap's worth of idle connections open: %d %s %v", st, b, err)
		}
		c.CloseIdleConnections()
		if st, _, b, err := tryCall(c, "GET", s.URL+"/healthz", "", "", ""); err != nil || st != 200 {
			t.Fatalf("GET /healthz with the cap's worth of idle connections open: %d %s %v", st, b, err)
		}
		// Idle ones made room. (Which: those idle the longest, as the
		// server saw it; a server goroutine slow to mark its connection
		// idle after answering can make a later one look older.)
		// Looked at in rounds until one is found closed, for up to 10 s
		// (one second once, which a loaded machine overran); those still
		// open each take a round's short read deadline.
		closed := 0
		gone := make([]bool, len(idle))
		for deadline := time.Now().Add(10 * time.Second); closed == 0 && time.Now().Before(deadline); {
			for i, r := range idle {
				if gone[i] {
					continue
				}
				conns[i].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				if _, err := r.ReadByte(); err == io.EOF {
					gone[i] = true
					closed++
				}
			}
		}
		if closed == 0 {
			t.Error("no idle connection was closed to make room")
		}
		if !strings.Contains(s.Output(), "connection limit reached") {
			t.Errorf("reaching the cap was not logged:\n%s", s.Output())
		}
	})

	t.Run("a connection that sends nothing is closed", func(t *testing.T) {
		s := startServer(t, []string{"LOCKER_READ_HEADER_TIMEOUT=1s"})
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("a connection that never sent a request: %v", err)
		}
	})

	s := startServer(t, []string{"LOCKER_MAX_CONNECTIONS=3", "LOCKER_READ_TIMEOUT=5m"})
	addr := strings.TrimPrefix(s.URL, "http://")
	var busy []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		busy = append(busy, c)
		// In the middle of a request: its body never comes in full.
		fmt.Fprintf(c, "PUT /lock/busy%d HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", i)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		c := &http.Client{Timeout: 60 * time.Second}
		st, _, _, err := tryCall(c, "GET", s.URL+"/healthz", "", "", "")
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("a fourth connection was served with the cap at 3, all busy: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	busy[0].Close()
	select {
	case r := <-done:
		if r.err != nil || r.status != 200 {
			t.Fatalf("the fourth connection, once one closed: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fourth connection was not served after one closed")
	}
	// The others were left alone: their requests are still going.
	for _, c := range busy[1:] {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a connection in the middle of a request: %v", err)
		}
	}
}

// clientFrom returns a client whose connections come from ip (any address
// of 127.0.0.0/8 works on Linux loopback).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestHardeningAuthLimitAndReadOnly: repeated failed logins from an address
// get 429 with Retry-After while others are served; read-only credentials
// may look and watch but not change.
func TestHardeningAuthLimitAndReadOnly(t *testing.T) {
	s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=pw", "LOCKER_READONLY_USER=viewer", "LOCKER_READONLY_PASS=look",
		"LOCKER_AUTH_FAILURES_PER_MINUTE=3"})
	attacker, other := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	for i := range 3 {
		if st, _, b := hcall(t, attacker, "GET", s.URL+"/locks", "deploy", fmt.Sprint("guess-", i), ""); st != 401 {
			t.Fatalf("failure %d: %d %s", i+1, st, b)
		}
	}
	st, h, b := hcall(t, attacker, "GET", s.URL+"/locks", "deploy", "guess-3", "")
	if secs, err := strconv.Atoi(h.Get("Retry-After")); st != 429 || err != nil || secs < 1 || !json.Valid([]byte(b)) || !strings.Contains(b, `"error"`) {
		t.Fatalf("fourth failure: %d Retry-After %q %s, want 429 JSON with Retry-After", st, h.Get("Retry-After"), b)
	}
	if st, _, b := hcall(t, other, "PUT", s.URL+"/lock/x", "deploy", "pw", `{"key":"k"}`); st != 200 {
		t.Fatalf("another address: %d %s", st, b)
	}

	for _, path := range []string{"/locks", "/lock/x", "/lock/x/history", "/whoami"} {
		if st, _, b := hcall(t, other, "GET", s.URL+path, "viewer", "look", ""); st != 200 {
			t.Errorf("read-only GET %s: %d %s", path, st, b)
		}
	}
	for _, rq := range []struct{ method, path, body string }{
		{"PUT", "/lock/x", `{"key":"k"}`},
		{"DELETE", "/lock/x", `{"key":"k"}`},
		{"DELETE", "/lock/x?force=true", ""},
		{"POST", "/lock/x/refresh", `{"key":"k","ttl":"1m"}`},
	} {
		st, _, b := hcall(t, other, rq.method, s.URL+rq.path, "viewer", "look", rq.body)
		if st != 403 || !json.Valid([]byte(b)) || !strings.Contains(b, "read-only") {
			t.Errorf("read-only %s %s: %d %s, want 403 JSON", rq.method, rq.path, st, b)
		}
	}
	if st, _, b := hcall(t, other, "GET", s.URL+"/lock/x", "deploy", "pw", ""); st != 200 || !strings.Contains(b, `"locked_by":{"k":1}`) {
		t.Errorf("after refused read-only changes: %d %s", st, b)
	}
}

// holdEventStreams opens n event streams on s, each on a connection of its
// own, kept open until the test ends.
func holdEventStreams(t *testing.T, s *server, n int) {
	t.Helper()
	addr := strings.TrimPrefix(s.URL, "http://")
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprint(c, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("an event stream: %q %v", line, err)
		}
	}
}

// throughProxy returns a function that sends GET /locks to s as the proxy
// at 127.0.0.2 would, for the client xff, with user deploy and pass: its
// status.
func throughProxy(t *testing.T, s *server) func(xff, pass string) int {
	proxy := clientFrom("127.0.0.2")
	return func(xff, pass string) int {
		req, _ := http.NewRequest("GET", s.URL+"/locks", nil)
		req.SetBasicAuth("deploy", pass)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := proxy.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
}

// TestHardeningTrustedProxyWithPorts: behind a trusted proxy that writes
// the client's port in X-Forwarded-For (10.0.2.1:5555, [2001:db8::1]:443),
// one client's failed logins do not lock out the proxy's other clients.
func TestHardeningTrustedProxyWithPorts(t *testing.T) {
	s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=pw", "LOCKER_AUTH_FAILURES_PER_MINUTE=3", "LOCKER_TRUSTED_PROXIES=127.0.0.2"})
	send := throughProxy(t, s)
	for i := range 3 {
		if st := send("10.0.2.1:5555", fmt.Sprint("guess-", i)); st != 401 {
			t.Fatalf("failure %d: %d", i+1, st)
		}
	}
	if st := send("10.0.2.1:5556", "guess-3"); st != 429 {
		t.Fatalf("the guesser's fourth failure, from another port: %d, want 429", st)
	}
	for _, other := range []string{"10.0.2.2:5555", "[2001:db8::1]:443"} {
		if st := send(other, "pw"); st != 200 {
			t.Errorf("another client behind the proxy (%s): %d, want 200", other, st)
		}
	}
	// Log lines name the client, and the proxy it came through.
	req, _ := http.NewRequest("PUT", s.URL+"/lock/x?key=k", nil)
	req.SetBasicAuth("deploy", "pw")
	req.Header.Set("X-Forwarded-For", "10.0.2.2:5555")
	resp, err := clientFrom("127.0.0.2").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("lock through the proxy: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Output(), `remote="10.0.2.2 via 127.0.0.2:`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line names the client through the proxy:\n%s", s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHardeningTrustedProxyIPv4Mapped: a load balancer listed in
// LOCKER_TRUSTED_PROXIES in its IPv4-mapped IPv6 form (::ffff:127.0.0.2, as
// dual-stack tools print IPv4 peers) is trusted as its IPv4 address is: one
// client's failed logins do not lock out its other clients. It was taken
// at start and then never matched the peer (whose address the server reads
// as IPv4), so every client behind it shared one allowance.
func TestHardeningTrustedProxyIPv4Mapped(t *testing.T) {
	for _, proxies := range []string{"::ffff:127.0.0.2", "::ffff:127.0.0.0/104"} {
		t.Run(proxies, func(t *testing.T) {
			s := startServer(t, []string{"AUTH_USER=deploy", "AUTH_PASS=pw", "LOCKER_AUTH_FAILURES_PER_MINUTE=3", "LOCKER_TRUSTED_PROXIES=" + proxies})
			send := throughProxy(t, s)
			for i := range 4 {
				send("10.0.2.1", fmt.Sprint("guess-", i))
			}
			if st := send("10.0.2.2", "pw"); st != 200 {
				t.Errorf("another client behind the proxy after one guessed 4 times: %d, want 200", st)
			}
		})
	}
}

// TestHardeningVersionLdflags: a release build sets the version and commit
// with -ldflags, and `locker version` (and --version) prints them.
func TestHardeningVersionLdflags(t *testing.T) {
	t.Parallel() // mostly building: beside tests that mostly wait (CI time)
	bin := filepath.Join(t.TempDir(), "locker")
	ldflags := "-X github.com/cloudfoundry-community/locker/cli.Version=9.8.7-test -X github.com/cloudfoundry-community/locker/cli.Commit=abc1234"
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("locker %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "9.8.7-test") || !strings.Contains(string(out), "abc1234") {
			t.Errorf("locker %v printed %q, want the version and commit set with -ldflags", args, out)
		}
	}
	// make build does the same, and builds a static binary (no dynamic
	// loader: it runs on a distroless or scratch image).
	if _, err := exec.LookPath("make"); err != nil {
		// A machine with Go alone runs the README's go test ./...: skip
		// (saying why), as the tests needing ruby or mkfs.ext4 do.
		t.Skip("make is not installed (apt-get install make; .ci/run installs it): make build is not checked")
	}
	made := filepath.Join(t.TempDir(), "locker-made")
	// (TRIMPATH= shares the build cache with the other builds here.)
	mk := exec.Command("make", "-C", "..", "build", "VERSION=5.4.3-make", "COMMIT=def5678", "OUT="+made, "TRIMPATH=")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	if out, err := exec.Command(made, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), "5.4.3-make") || !strings.Contains(string(out), "def5678") {
		t.Errorf("make build, then version: %v %q", err, out)
	}
	f, err := elf.Open(made)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("make build made a dynamically linked binary; want a static one (CGO_ENABLED=0)")
		}
	}
	// The test binary (no -ldflags) says it is a development build.
	if out, _ := runLocker(t, nil, "version"); !strings.Contains(out, "dev") {
		t.Errorf("a build without -ldflags prints %q", out)
	}
}

// TestHardeningHealthcheckCommand: `locker healthcheck`, the container
// image's HEALTHCHECK, finds the server from its own variables, over HTTP
// and HTTPS, and fails when the server is gone.
func TestHardeningHealthcheckCommand(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	certFile, keyFile, _ := selfSignedCert(t)
	for _, tls := range []bool{false, true} {
		var env []string
		if tls {
			env = []string{"SSL_CERT=" + certFile, "SSL_KEY=" + keyFile}
		}
		s := startServer(t, env)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://"))
		check := append([]string{"PORT=" + port}, env...)
		if out, code := runLocker(t, check, "healthcheck"); code != 0 || !strings.Contains(out, "ok") {
			t.Fatalf("healthcheck (tls %v) against a running server: exit %d: %s", tls, code, out)
		}
		if out, code := runLocker(t, []string{"LOCKER_LISTEN=127.0.0.1:" + port}, "healthcheck"); tls == (code == 0) {
			t.Errorf("healthcheck over plain HTTP (server tls %v): exit %d: %s", tls, code, out)
		}
		s.Kill()
		if out, code := runLocker(t, check, "healthcheck"); code == 0 {
			t.Fatalf("healthcheck with the server gone: exit 0: %s", out)
		}
	}
}

// TestHardeningInputThatWouldMergeOrDrop, through the binary: a body that
// encoding/json would read with U+FFFD in place of bad bytes or of half a
// surrogate pair (so that different keys would be one), and a query string
// with a pair url.Values would drop (a lease lost), are refused with 400
// and change nothing; a full wait queue does not stop the holder from
// re-entering.
func TestHardeningInputThatWouldMergeOrDrop(t *testing.T) {
	s := startServer(t, []string{"LOCKER_MAX_WAITERS_PER_LOCK=1"})
	for _, tc := range []struct{ path, body, want string }{
		{"/lock/u", "{\"key\":\"\xff\"}", "not valid UTF-8"},
		{"/lock/u", `{"key":"k","lock_by":"\udfff"}`, "surrogate"},
		{"/lock/u?key=k&ttl=1s;x", "", "semicolon"},
		{"/pool/p/m", "{\"metadata\":\"\xfe\"}", "not valid UTF-8"},
	} {
		st, _, b := hcall(t, nil, "PUT", s.URL+tc.path, "", "", tc.body)
		if st != 400 || !strings.Contains(b, tc.want) || !json.Valid([]byte(b)) {
			t.Errorf("PUT %s %q: %d %s, want a JSON 400 saying %q", tc.path, tc.body, st, b, tc.want)
		}
	}
	if st, _, b := hcall(t, nil, "GET", s.URL+"/locks", "", "", ""); st != 200 || strings.TrimSpace(b) != "{}" {
		t.Errorf("after refused requests GET /locks: %d %s", st, b)
	}

	// The queue of "q" full: one waiter, the limit.
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/q", "", "", `{"key":"A"}`); st != 200 {
		t.Fatalf("A takes q: %d %s", st, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := make(chan struct{})
	go func() {
		defer close(waiting)
		req, _ := http.NewRequestWithContext(ctx, "PUT", s.URL+"/lock/q?wait=60s", strings.NewReader(`{"key":"B"}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, b := hcall(t, nil, "GET", s.URL+"/lock/q", "", "", "")
		if strings.Contains(b, `"waiters":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never queued: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/q?wait=60s", "", "", `{"key":"C"}`); st != 503 {
		t.Errorf("C over the limit: %d %s, want 503", st, b)
	}
	if st, _, b := hcall(t, nil, "PUT", s.URL+"/lock/q?wait=60s", "", "", `{"key":"A"}`); st != 200 || !strings.Contains(b, `"A":2`) {
		t.Errorf("A re-entering with wait while the queue is full: %d %s, want 200 with count 2", st, b)
	}
	cancel()
	<-waiting
}

// TestHardeningHalfClosedClient: a client that shuts down its side of the
// connection after sending a request (socat, nc -N, some TCP proxies) looks
// to the server like a client that went away, and the change is given up.
// It must then get no answer at all, never a 200 that says "you hold it"
// or "released" for a change the server did not keep.
func TestHardeningHalfClosedClient(t *testing.T) {
	s := startServer(t, nil)
	addr := strings.TrimPrefix(s.URL, "http://")
	halfClosed := func(method, target string) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", method, target)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	state := func(name string) string {
		var l struct {
			State string `json:"state"`
		}
		_, _, b := hcall(t, http.DefaultClient, "GET", s.URL+"/lock/"+name, "", "", "")
		json.Unmarshal([]byte(b), &l)
		return l.State
	}
	for i := range 5 {
		name := fmt.Sprintf("free-%d", i)
		if got := halfClosed("PUT", "/lock/"+name+"?key=me"); strings.HasPrefix(got, "HTTP/1.1 2") && state(name) != "held" {
			t.Fatalf("a half-closed PUT was answered %q, and the lock is %s", got, state(name))
		}
	}
	hcall(t, http.DefaultClient, "PUT", s.URL+"/lock/busy?key=other", "", "", "")
	if got := halfClosed("PUT", "/lock/busy?key=me&wait=30s"); strings.HasPrefix(got, "HTTP/1.1 2") {
		t.Fatalf("a half-closed waiting PUT on a held lock was answered %q", got)
	}
	if st := state("busy"); st != "held" {
		t.Fatalf("busy is %s", st)
	}
}

// TestHardeningRefusedConnectionsClose: a request refused for its
// credentials (401) closes its connection once answered, without waiting
// for a body it declared and never sends: a client without credentials
// holds a place under LOCKER_MAX_CONNECTIONS no longer than its request
// (a review kept a legitimate client out for 28 s so, at the cap).
func TestHardeningRefusedConnectionsClose(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=secret", "LOCKER_READ_TIMEOUT=1m"})
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /lock/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("PUT without credentials: %d, close %v; want 401 and the connection closed", resp.StatusCode, resp.Close)
	}
	// Closed by the server now, not once LOCKER_READ_TIMEOUT (a minute)
	// has waited for the body.
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the 401: %v, want the connection closed", err)
	}
}

// TestHardeningUnreadBodiesClose: a request answered without its body being
// read (an open route, an unknown path, a change refused as cross-origin or,
// without AUTH_USER, at an unlisted host name) that declares a body it does
// not send is answered at once and its connection closed, as a 401's is
// (TestHardeningRefusedConnectionsClose). It was answered, and its place
// under LOCKER_MAX_CONNECTIONS given back, only once LOCKER_READ_TIMEOUT
// had waited for that body: a client without credentials held a place for
// 30s with one request, three times what a slow-loris gets.
func TestHardeningUnreadBodiesClose(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	authed := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=secret", "LOCKER_READ_TIMEOUT=1m"})
	open := startServer(t, []string{"LOCKER_READ_TIMEOUT=1m"})
	for _, c := range []struct {
		s      *server
		head   string
		status int
	}{
		{authed, "PUT /nope HTTP/1.1\r\nHost: x", 404},
		{authed, "POST / HTTP/1.1\r\nHost: x", 404},
		{authed, "PUT /lock HTTP/1.1\r\nHost: x", 404},
		{authed, "PUT /lock/ HTTP/1.1\r\nHost: x", 400},
		{authed, "PATCH /lock/x HTTP/1.1\r\nHost: x", 405},
		{authed, "GET /healthz HTTP/1.1\r\nHost: x", 200},
		{authed, "GET /readyz HTTP/1.1\r\nHost: x", 200},
		{authed, "PUT /lock/x HTTP/1.1\r\nHost: x\r\nSec-Fetch-Site: cross-site", 403},
		{open, "PUT /lock/x HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example", 403},
	} {
		t.Run(c.head, func(t *testing.T) {
			t.Parallel() // a connection each, about a second until it is closed
			conn, err := net.Dial("tcp", strings.TrimPrefix(c.s.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", c.head)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(conn)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("no answer within 10s (LOCKER_READ_TIMEOUT is a minute): %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			if _, err := r.ReadByte(); err != io.EOF { // within the 10s: not LOCKER_READ_TIMEOUT
				t.Fatalf("after the answer: %v, want the connection closed", err)
			}
		})
	}
}

// TestHardeningLongRequestsLeaveRoom: event streams and blocking waits hold
// all but an eighth (at least one) of LOCKER_MAX_CONNECTIONS; past that
// they are refused with 503, and the requests that answer at once, the
// release that would end a wait among them, still get a connection (a
// review: 20 streams under a cap of 20 kept every PUT and /healthz out).
func TestHardeningLongRequestsLeaveRoom(t *testing.T) {
	s := startServer(t, []string{"LOCKER_MAX_CONNECTIONS=4"}) // 3 places for long requests
	holdEventStreams(t, s, 3)
	client := &http.Client{Timeout: 10 * time.Second}
	st, _, body, err := tryCall(client, "GET", s.URL+"/events", "", "", "")
	if err != nil || st != 503 || !strings.Contains(body, "too many connections are held by waiting requests and event streams") {
		t.Fatalf("a fourth stream: %d %q %v", st, body, err)
	}
	if st, _, body, err := tryCall(client, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"a"}`); err != nil || st != 200 {
		t.Fatalf("PUT: %d %q %v", st, body, err)
	}
	if st, _, body, err := tryCall(client, "PUT", lockURL(s.URL, "prod")+"?wait=1m", "", "", `{"key":"b"}`); err != nil || st != 503 {
		t.Fatalf("a wait with no place left: %d %q %v", st, body, err)
	}
	for _, c := range []struct{ method, url, body string }{
		{"DELETE", lockURL(s.URL, "prod"), `{"key":"a"}`},
		{"GET", s.URL + "/healthz", ""},
		{"GET", s.URL + "/locks", ""},
	} {
		if st, _, body, err := tryCall(client, c.method, c.url, "", "", c.body); err != nil || st != 200 {
			t.Fatalf("%s %s: %d %q %v", c.method, c.url, st, body, err)
		}
	}
}
