package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/cutproxy"
)

// TestWaitCutByAProxyTimeout: a waiting PUT that a proxy cuts short (its
// read timeout shorter than the wait asked in one request) is not sent
// again, and its error names the likely cause and both remedies; the server
// gives up the waiter whose connection the proxy closed (the lock, released,
// is not granted to it); and a WaitChunk below the proxy's timeout waits
// through it.
func TestWaitCutByAProxyTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newServer(t, serverConfig{})
	direct := newClient(t, client.Options{URL: srv.URL})
	p := cutproxy.New(t, srv.URL, 1500*time.Millisecond)
	c := newClient(t, client.Options{URL: p.URL})
	if _, err := direct.Lock(ctx, "slow", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}

	for _, hangUp := range []bool{false, true} {
		p.HangUp.Store(hangUp)
		p.Puts.Store(0)
		_, err := c.Acquire(ctx, "slow", client.LockOptions{Key: "b", Wait: 20 * time.Second})
		var cut *client.WaitCutError
		if !errors.As(err, &cut) || !client.Ambiguous(err) {
			t.Fatalf("hang up %v: a wait cut by a proxy after 1.5s: %v; want a *WaitCutError, still ambiguous", hangUp, err)
		}
		if cut.Asked <= 15*time.Second || cut.Asked > 20*time.Second || cut.After < 1500*time.Millisecond || cut.After >= cut.Asked {
			t.Fatalf("hang up %v: asked %s, cut after %s", hangUp, cut.Asked, cut.After)
		}
		for _, want := range []string{"shorter than", "read timeout", "WaitChunk"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("hang up %v: the error does not say %q: %v", hangUp, want, err)
			}
		}
		if !hangUp && !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("a 504 is no longer ErrUnavailable: %v", err)
		}
		if n := p.Puts.Load(); n != 1 {
			t.Fatalf("hang up %v: the proxy passed on %d PUTs; a PUT whose outcome is unknown must not be sent again", hangUp, n)
		}
		// The proxy closed the upstream connection: the server gives up
		// the waiter.
		waitFor(t, func() bool { l, err := direct.Get(ctx, "slow"); return err == nil && l.Waiters == 0 })
	}
	if _, err := direct.Unlock(ctx, "slow", "a", ""); err != nil {
		t.Fatal(err)
	}
	if l, err := direct.Get(ctx, "slow"); err != nil || !l.Free() {
		t.Fatalf("after the waits cut by the proxy, the lock, released, is %+v, %v; want free", l, err)
	}

	// A gateway error that comes at once is no proxy timeout.
	direct.Lock(ctx, "slow", client.LockOptions{Key: "a"})
	p.Now.Store(1)
	_, err := c.Acquire(ctx, "slow", client.LockOptions{Key: "b", Wait: 20 * time.Second})
	if errors.As(err, new(*client.WaitCutError)) || !client.Ambiguous(err) {
		t.Fatalf("a 504 at once: %v; want the plain gateway error", err)
	}

	// Asking in parts shorter than the proxy's timeout waits through it.
	chunked := newClient(t, client.Options{URL: p.URL, WaitChunk: 500 * time.Millisecond})
	go func() {
		time.Sleep(2500 * time.Millisecond)
		direct.Unlock(ctx, "slow", "a", "")
	}()
	l, err := chunked.Acquire(ctx, "slow", client.LockOptions{Key: "b", Wait: 20 * time.Second})
	if err != nil || l.LockedBy["b"] != 1 {
		t.Fatalf("a wait in parts of 500ms through a proxy that cuts at 1.5s: %+v, %v", l, err)
	}
}
