package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShutdownClosesAnswersNotTaken: a client that asks for a large answer
// and reads none of it holds its connection open; the server, told to
// stop, waits the grace period for it, then closes it and stops cleanly
// (exit 0), rather than failing with "context deadline exceeded" (a
// review: a 22 MB GET /locks never read; exit 1 after 30s).
func TestShutdownClosesAnswersNotTaken(t *testing.T) {
	old := shutdownGrace
	shutdownGrace = 300 * time.Millisecond
	t.Cleanup(func() { shutdownGrace = old })

	env := envOf(map[string]string{"LOCKER_CONFIG": filepath.Join(t.TempDir(), "locks.yml"), "PORT": "0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"locker"}, env, stdout, stderr) }()
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %s", stderr.String())
		}
		if _, rest, ok := strings.Cut(stdout.String(), "locker listening on http://"); ok {
			addr = strings.TrimSpace(rest)
		}
	}

	// About 12 MB of listing: more than the sockets' buffers hold.
	long := strings.Repeat("x", 500)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 5000; i += 8 {
				body := fmt.Sprintf(`{"key":"k%s","lock_by":"h%s"}`, long, long)
				req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/lock/%05d%s", addr, i, long), strings.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("PUT: %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET /locks HTTP/1.1\r\nHost: locker\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the server fills the buffers, then waits

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the server stopped with %v; want a clean stop\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the server has not stopped 60s after it was told to")
	}
	if !strings.Contains(stderr.String(), "closing their connections") {
		t.Errorf("the log does not say answers were cut:\n%s", stderr.String())
	}
}
