package client_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// blackhole is a TCP proxy whose connections open so far can be made to
// drop everything without a word (a network cut, a lost NAT entry), while
// connections opened after pass.
type blackhole struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	gen     int
	dead    map[int]bool
}

func (b *blackhole) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		gen := b.gen
		b.mu.Unlock()
		s, err := net.Dial("tcp", b.backend)
		if err != nil {
			c.Close()
			continue
		}
		pipe := func(dst, src net.Conn) {
			defer dst.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if err != nil {
					return
				}
				b.mu.Lock()
				dead := b.dead[gen]
				b.mu.Unlock()
				if !dead {
					dst.Write(buf[:n])
				}
			}
		}
		go pipe(s, c)
		go pipe(c, s)
	}
}

// cut makes the connections open so far drop everything.
func (b *blackhole) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dead[b.gen] = true
	b.gen++
}

// TestKeepOverHTTP2SurvivesADeadConnection: over HTTPS (HTTP/2, one
// connection for every request), a connection that the network drops
// without a word is found dead and closed, and the renewals go on over a
// new one: the kept hold is not presumed lost while the server can be
// reached. (net/http went on sending every request over the dead
// connection: each renewal timed out until the lease was presumed lost.)
func TestKeepOverHTTP2SurvivesADeadConnection(t *testing.T) {
	defer client.SetH2Ping(100*time.Millisecond, 200*time.Millisecond)()
	srv := newServer(t, serverConfig{http2: true})
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b := &blackhole{ln: ln, backend: srv.Listener.Addr().String(), dead: map[int]bool{}}
	go b.serve()

	c := newClient(t, client.Options{URL: "https://" + ln.Addr().String(), InsecureSkipVerify: true, Timeout: 2 * time.Second})
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "k", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	k, err := c.Keep(ctx, l, "k", "", client.KeepOptions{Notify: ev.notify})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	time.Sleep(300 * time.Millisecond)
	b.cut()
	time.Sleep(4 * time.Second) // over a lease's length
	if err := k.Err(); err != nil || ev.count(client.KeepLost) != 0 {
		t.Fatalf("the hold was presumed lost while the server could be reached over a new connection: %v", err)
	}
	if now, err := c.Get(ctx, "prod"); err != nil || now.Fence != l.Fence || now.LockedBy["k"] != 1 {
		t.Fatalf("after the cut: %+v, %v; want the hold kept", now, err)
	}
}
