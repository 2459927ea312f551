package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func TestPoolMethods(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()

	m, err := c.AddMember(ctx, "envs", "aws-1", json.RawMessage(`{"region": "us-east-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "aws-1" || !m.Free() || len(m.Pools) != 1 || m.Pools[0] != "envs" || string(m.Metadata) != `{"region":"us-east-1"}` || m.FreeSince.IsZero() || !strings.Contains(m.Message, "member") {
		t.Fatalf("AddMember: %+v (metadata %s)", m, m.Metadata)
	}
	if _, err := c.AddMember(ctx, "envs", "aws-2", json.RawMessage(`"plain text"`)); err != nil {
		t.Fatal(err)
	}
	if m, err = c.AddMember(ctx, "envs", "aws-3", nil); err != nil || m.Metadata != nil {
		t.Fatalf("AddMember without metadata: %+v, %v", m, err)
	}
	// A lock may be in several pools.
	if m, err = c.AddMember(ctx, "all", "aws-1", nil); err != nil || strings.Join(m.Pools, ",") != "all,envs" || string(m.Metadata) != `{"region":"us-east-1"}` {
		t.Fatalf("AddMember to a second pool kept the metadata? %+v, %v", m, err)
	}

	pools, err := c.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 || pools[0].Name != "all" || pools[1].Name != "envs" {
		t.Fatalf("Pools: %+v", pools)
	}
	envs := pools[1]
	if envs.Total != 3 || envs.Free != 3 || envs.Waiters != 0 || len(envs.Members) != 3 || envs.Members[0].Name != "aws-1" || envs.Members[2].Name != "aws-3" {
		t.Fatalf("Pools: envs %+v", envs)
	}
	if md := envs.Member("aws-2").Metadata; string(md) != `"plain text"` {
		t.Fatalf("aws-2 metadata %s", md)
	}
	if envs.Member("nope") != nil {
		t.Fatal("Member of a non-member")
	}

	// The member free longest comes first: aws-1, then aws-2.
	l, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "job-a", Holder: "build-1", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != "aws-1" || l.Key != "job-a" || l.LockedBy["build-1"] != 1 || l.Fence == 0 || string(l.Metadata) != `{"region":"us-east-1"}` || l.Holds["build-1"].Expires.IsZero() || !strings.Contains(l.Message, `from pool "envs"`) {
		t.Fatalf("LockFromPool: %+v", l)
	}
	l2, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "job-b"})
	if err != nil || l2.Name != "aws-2" || l2.Fence <= l.Fence {
		t.Fatalf("LockFromPool: %+v, %v", l2, err)
	}
	// Released with the ordinary Unlock; aws-3, free since it joined, is
	// still free longer than aws-1 now is.
	if u, err := c.Unlock(ctx, "aws-1", "job-a", "build-1"); err != nil || !u.Free() {
		t.Fatalf("Unlock: %+v, %v", u, err)
	}
	l3, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "job-c"})
	if err != nil || l3.Name != "aws-3" {
		t.Fatalf("LockFromPool after a release: %+v, %v", l3, err)
	}
	p, err := c.Pool(ctx, "envs")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "envs" || p.Total != 3 || p.Free != 1 || p.Member("aws-1").FreeSince.IsZero() || !p.Member("aws-2").FreeSince.IsZero() || p.Member("aws-2").Key != "job-b" {
		t.Fatalf("Pool: %+v", p)
	}
	if _, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "job-d"}); err != nil {
		t.Fatal(err)
	}
	// None free, no wait: ErrLocked at once.
	_, err = c.LockFromPool(ctx, "envs", client.LockOptions{Key: "job-e"})
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); !strings.Contains(ae.Message, "no free member") {
		t.Fatalf("%+v", ae)
	}

	// Metadata update keeps the member's state.
	if m, err = c.AddMember(ctx, "envs", "aws-2", json.RawMessage(`[1, 2]`)); err != nil || m.Key != "job-b" || string(m.Metadata) != `[1,2]` {
		t.Fatalf("AddMember update: %+v, %v", m, err)
	}

	// Removal: a held member only with force.
	_, err = c.RemoveMember(ctx, "envs", "aws-2", false)
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); ae.Lock == nil || ae.Lock.Key != "job-b" || !strings.Contains(ae.Message, "release it first") {
		t.Fatalf("%+v", ae)
	}
	r, err := c.RemoveMember(ctx, "envs", "aws-2", true)
	if err != nil || !r.Free() || len(r.Pools) != 0 || !strings.Contains(r.Message, "removed") {
		t.Fatalf("RemoveMember --force: %+v, %v", r, err)
	}
	if _, err := c.Unlock(ctx, "aws-1", "job-d", ""); err != nil {
		t.Fatal(err)
	}
	if r, err = c.RemoveMember(ctx, "envs", "aws-1", false); err != nil || strings.Join(r.Pools, ",") != "all" {
		t.Fatalf("RemoveMember of a free member: %+v, %v", r, err)
	}
	// The lock lives on, with its history.
	if h, err := c.History(ctx, "aws-2"); err != nil || len(h) == 0 {
		t.Fatalf("History after removal: %v, %v", h, err)
	}
	_, err = c.RemoveMember(ctx, "envs", "aws-2", false)
	wantOnly(t, err, "ErrNotFound")

	// Pools without members.
	_, err = c.Pool(ctx, "nope")
	wantOnly(t, err, "ErrNotFound")
	_, err = c.LockFromPool(ctx, "nope", client.LockOptions{Key: "k"})
	wantOnly(t, err, "ErrNotFound")
	_, err = c.AcquireFromPool(ctx, "nope", client.LockOptions{Key: "k"})
	wantOnly(t, err, "ErrNotFound")

	// Bad requests.
	if _, err := c.AddMember(ctx, "envs", "aws-9", json.RawMessage(`{not json`)); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("invalid metadata: %v", err)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)
	_, err = c.AddMember(ctx, "envs", "aws-9", big)
	wantOnly(t, err, "ErrBadRequest")
	if ae := apiError(t, err); !strings.Contains(ae.Message, "metadata") {
		t.Fatalf("%+v", ae)
	}
	_, err = c.LockFromPool(ctx, "envs", client.LockOptions{})
	wantOnly(t, err, "ErrBadRequest")
}

func TestPoolNamesAreEscaped(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	pool, name := "team/ci envs", "a?b#c/100%"
	if _, err := c.AddMember(ctx, pool, name, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	p, err := c.Pool(ctx, pool)
	if err != nil || p.Name != pool || len(p.Members) != 1 || p.Members[0].Name != name {
		t.Fatalf("Pool: %+v, %v", p, err)
	}
	l, err := c.AcquireFromPool(ctx, pool, client.LockOptions{Key: "k"})
	if err != nil || l.Name != name {
		t.Fatalf("AcquireFromPool: %+v, %v", l, err)
	}
	if _, err := c.RemoveMember(ctx, pool, name, true); err != nil {
		t.Fatal(err)
	}
}

func TestAcquireFromPoolWaitsForRelease(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	for _, n := range []string{"e1", "e2"} {
		if _, err := c.AddMember(ctx, "envs", n, json.RawMessage(`{"n":"`+n+`"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "holder-" + n}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan *client.Lock, 1)
	errc := make(chan error, 1)
	go func() {
		l, err := c.AcquireFromPool(ctx, "envs", client.LockOptions{Key: "waiter"})
		got <- l
		errc <- err
	}()
	waitFor(t, func() bool { p, err := c.Pool(ctx, "envs"); return err == nil && p.Waiters == 1 })
	select {
	case <-got:
		t.Fatal("AcquireFromPool returned while every member was held")
	default:
	}
	if _, err := c.Unlock(ctx, "e2", "holder-e2", ""); err != nil {
		t.Fatal(err)
	}
	l := <-got
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if l.Name != "e2" || l.Key != "waiter" || string(l.Metadata) != `{"n":"e2"}` {
		t.Fatalf("AcquireFromPool: %+v", l)
	}
}

func TestAcquireFromPoolAsksAgainInChunks(t *testing.T) {
	// The server caps waits at 100ms and the client asks for 50ms at a time:
	// AcquireFromPool must keep asking until a member is free.
	srv := newServer(t, serverConfig{svc: lockservice.Config{MaxWait: 100 * time.Millisecond}})
	var (
		mu   sync.Mutex
		puts int
	)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/pool/envs" {
			mu.Lock()
			puts++
			mu.Unlock()
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer counting.Close()
	c := newClient(t, client.Options{URL: counting.URL, WaitChunk: 50 * time.Millisecond})
	ctx := context.Background()
	if _, err := c.AddMember(ctx, "envs", "e1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "e1", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.AcquireFromPool(ctx, "envs", client.LockOptions{Key: "b"})
		done <- err
	}()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return puts >= 5 })
	if _, err := c.Unlock(ctx, "e1", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Get(ctx, "e1"); l.Key != "b" {
		t.Fatalf("%+v", l)
	}
}

func TestAcquireFromPoolGivesUp(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	if _, err := c.AddMember(ctx, "envs", "e1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}

	// o.Wait runs out: the server's refusal.
	_, err := c.AcquireFromPool(ctx, "envs", client.LockOptions{Key: "b", Wait: 200 * time.Millisecond})
	wantOnly(t, err, "ErrLocked")
	if ae := apiError(t, err); !strings.Contains(ae.Message, "gave up after waiting") {
		t.Fatalf("%+v", ae)
	}

	// ctx runs out: its error, and the refusal.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.AcquireFromPool(dctx, "envs", client.LockOptions{Key: "b"})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrLocked) || !strings.Contains(err.Error(), `a member of pool "envs"`) {
		t.Fatalf("got %v", err)
	}

	// ctx cancelled: at once, and the waiter leaves the pool's queue.
	cctx, cancel2 := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.AcquireFromPool(cctx, "envs", client.LockOptions{Key: "b"})
		done <- err
	}()
	waitFor(t, func() bool { p, err := c.Pool(ctx, "envs"); return err == nil && p.Waiters == 1 })
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	waitFor(t, func() bool { p, err := c.Pool(ctx, "envs"); return err == nil && p.Waiters == 0 })
	if l, _ := c.Get(ctx, "e1"); l.Key != "a" {
		t.Fatalf("%+v", l)
	}
}

// Many clients share a small pool: no member is ever held by two at once,
// and every client is served.
func TestAcquireFromPoolExclusive(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if _, err := c.AddMember(ctx, "envs", fmt.Sprintf("e%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu     sync.Mutex
		inUse  = map[string]string{}
		served = map[string]int{}
		wg     sync.WaitGroup
		errc   = make(chan error, 100)
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			key := fmt.Sprintf("worker-%d", w)
			for i := 0; i < 4; i++ {
				l, err := c.AcquireFromPool(ctx, "envs", client.LockOptions{Key: key, Wait: time.Minute})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				if other, ok := inUse[l.Name]; ok {
					errc <- fmt.Errorf("%s got %s, held by %s", key, l.Name, other)
				}
				inUse[l.Name] = key
				served[key]++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				delete(inUse, l.Name)
				mu.Unlock()
				if _, err := c.Unlock(ctx, l.Name, key, ""); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if len(served) != 8 {
		t.Fatalf("served: %v", served)
	}
	for k, n := range served {
		if n != 4 {
			t.Errorf("%s served %d times", k, n)
		}
	}
}

// A server without pools: the original locker (plain-text 404), and a
// locker that predates them (JSON "no such route").
func TestPoolsUnsupported(t *testing.T) {
	legacy := httptest.NewServer(&legacyServer{locks: map[string]*legacyLock{}})
	defer legacy.Close()
	srv := newServer(t, serverConfig{})
	older := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/pool") {
			// Not a route this server knows.
			r.URL.Path, r.URL.RawPath = "/old"+r.URL.Path, ""
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer older.Close()
	ctx := context.Background()
	for _, url := range []string{legacy.URL, older.URL} {
		c := newClient(t, client.Options{URL: url})
		calls := map[string]func() error{
			"Pools":        func() error { _, err := c.Pools(ctx); return err },
			"Pool":         func() error { _, err := c.Pool(ctx, "envs"); return err },
			"AddMember":    func() error { _, err := c.AddMember(ctx, "envs", "e1", nil); return err },
			"RemoveMember": func() error { _, err := c.RemoveMember(ctx, "envs", "e1", true); return err },
			"RemoveMemberWith": func() error {
				_, err := c.RemoveMemberWith(ctx, "envs", "e1", client.RemoveOptions{Force: true, Holder: "h"})
				return err
			},
			"LockFromPool":    func() error { _, err := c.LockFromPool(ctx, "envs", client.LockOptions{Key: "k"}); return err },
			"AcquireFromPool": func() error { _, err := c.AcquireFromPool(ctx, "envs", client.LockOptions{Key: "k"}); return err },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, client.ErrPoolsUnsupported) || errors.Is(err, client.ErrNotFound) {
				t.Errorf("%s %s: %v", url, name, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "the server at "+url+" does not support pools") || !strings.Contains(msg, "/pool") {
				t.Errorf("%s %s: %q", url, name, msg)
			}
		}
	}
}

// TestPoolDotNames: "." and ".." are pool and member names like any
// other; sent as they are, they would name another path.
func TestPoolDotNames(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c := newClient(t, client.Options{URL: srv.URL})
	ctx := context.Background()
	for _, pool := range []string{".", ".."} {
		if _, err := c.AddMember(ctx, pool, "..", nil); err != nil {
			t.Fatalf("AddMember(%q, ..): %v", pool, err)
		}
		l, err := c.LockFromPool(ctx, pool, client.LockOptions{Key: "k"})
		if err != nil || l.Name != ".." {
			t.Fatalf("LockFromPool(%q) = %+v, %v", pool, l, err)
		}
		if _, err := c.Unlock(ctx, "..", "k", ""); err != nil {
			t.Fatalf("Unlock(..): %v", err)
		}
		if p, err := c.Pool(ctx, pool); err != nil || p.Total != 1 {
			t.Fatalf("Pool(%q) = %+v, %v", pool, p, err)
		}
		if _, err := c.RemoveMember(ctx, pool, "..", false); err != nil {
			t.Fatalf("RemoveMember(%q, ..): %v", pool, err)
		}
	}
}
