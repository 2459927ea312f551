package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func addMembers(t *testing.T, s *lockservice.Service, pool string, names ...string) {
	t.Helper()
	for _, n := range names {
		md := json.RawMessage(fmt.Sprintf(`{"host": %q}`, n+".example.com"))
		if _, err := s.AddMember(bg, pool, n, md); err != nil {
			t.Fatalf("add %s to %s: %v", n, pool, err)
		}
	}
}

func testPoolBasics(t *testing.T, open Opener) {
	s, _, stop := svc(t, open, lockservice.Config{})
	addMembers(t, s, "aws", "aws-1", "aws-2", "aws-3")
	if _, err := s.AcquireFromPool(bg, "empty", req("k", "k"), 0); code(err) != lock.ENOTFOUND {
		t.Fatalf("acquire from a pool with no members: %v", err)
	}
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		l, err := s.AcquireFromPool(bg, "aws", req(fmt.Sprint("job", i), "j"), 0)
		if err != nil {
			t.Fatalf("acquire %d: %v", i, err)
		}
		if got[l.Name] {
			t.Fatalf("%s handed out twice", l.Name)
		}
		got[l.Name] = true
		var md struct{ Host string }
		if err := json.Unmarshal(l.Metadata, &md); err != nil || md.Host != l.Name+".example.com" {
			t.Fatalf("metadata of %s: %s", l.Name, l.Metadata)
		}
	}
	if _, err := s.AcquireFromPool(bg, "aws", req("job9", "j"), 0); code(err) != lock.ECONFLICT {
		t.Fatalf("acquire with every member held: %v", err)
	}
	// Removing a held member needs force; a removed member is never
	// handed out again.
	if _, _, err := s.RemoveMember(bg, "aws", "aws-2", false, "op"); code(err) != lock.ECONFLICT {
		t.Fatalf("remove a held member without force: %v", err)
	}
	if _, _, err := s.RemoveMember(bg, "aws", "aws-2", true, "op"); err != nil {
		t.Fatalf("remove with force: %v", err)
	}
	if l, err := s.AcquireFromPool(bg, "aws", req("job9", "j"), 0); err == nil {
		t.Fatalf("a removed member was handed out: %s", l.Name)
	}
	// Released members come back, the one free longest first.
	time.Sleep(5 * time.Millisecond)
	mustRelease(t, s, "aws-3", "job2", "j")
	time.Sleep(5 * time.Millisecond)
	mustRelease(t, s, "aws-1", "job0", "j")
	l, err := s.AcquireFromPool(bg, "aws", req("next", "n"), 0)
	if err != nil || l.Name != "aws-3" {
		t.Fatalf("the member free longest should go first: got %s, %v", l.Name, err)
	}
	// Membership, metadata and state survive a restart.
	stop()
	s, _, _ = svc(t, open, lockservice.Config{})
	p, err := s.Pool(bg, "aws")
	if err != nil || len(p.Members) != 2 {
		t.Fatalf("pool after restart: %+v %v", p, err)
	}
	for _, m := range p.Members {
		if len(m.Metadata) == 0 || !m.InPool("aws") {
			t.Fatalf("member after restart: %+v", m)
		}
	}
	if m, _ := s.Get(bg, "aws-2"); m.InPool("aws") || !m.Free() {
		t.Fatalf("removed member after restart: %+v", m)
	}
	// Metadata can be updated; it is bounded.
	if _, err := s.AddMember(bg, "aws", "aws-1", json.RawMessage(`{"host":"new","tags":["a","b"]}`)); err != nil {
		t.Fatal(err)
	}
	// Adding again with the same metadata, however written, is no
	// change and records nothing (PostgreSQL's jsonb gives it back with
	// its own spacing and key order).
	before, _ := s.History(bg, "aws-1")
	for _, again := range []string{`{"host":"new","tags":["a","b"]}`, `{ "tags" : [ "a", "b" ], "host" : "new" }`} {
		if _, err := s.AddMember(bg, "aws", "aws-1", json.RawMessage(again)); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := s.History(bg, "aws-1"); len(after) != len(before) {
		t.Errorf("adding a member again with the same metadata recorded %v", after[len(before):])
	}
	big := json.RawMessage(`"` + string(make([]byte, lock.MaxMetadata)) + `"`)
	if _, err := s.AddMember(bg, "aws", "aws-1", big); code(err) != lock.EINVALID {
		t.Fatalf("metadata over the limit: %v", err)
	}
}

// testPoolContention: many clients take members of a small pool with
// blocking waits, work, and release: no member is ever held by two at once,
// and every client is served.
func testPoolContention(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	members := []string{"env-1", "env-2", "env-3"}
	addMembers(t, s, "envs", members...)
	inside := map[string]*atomic.Int32{}
	for _, m := range members {
		inside[m] = new(atomic.Int32)
	}
	var violations, served atomic.Int32
	var wg sync.WaitGroup
	const clients, rounds = 8, 4
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			key := fmt.Sprintf("client-%d", c)
			for i := 0; i < rounds; i++ {
				l, err := s.AcquireFromPool(bg, "envs", req(key, key), time.Minute)
				if err != nil {
					t.Errorf("%s: %v", key, err)
					return
				}
				if inside[l.Name].Add(1) != 1 {
					violations.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
				inside[l.Name].Add(-1)
				if _, _, err := s.Release(bg, l.Name, key, key); err != nil {
					t.Errorf("%s release: %v", key, err)
					return
				}
				served.Add(1)
			}
		}(c)
	}
	wg.Wait()
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d times a member was held by two clients", v)
	}
	if n := served.Load(); n != clients*rounds {
		t.Fatalf("served %d of %d", n, clients*rounds)
	}
}

// testPoolFIFO: waiters for a pool are served in arrival order.
func testPoolFIFO(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	addMembers(t, s, "one", "only")
	if _, err := s.AcquireFromPool(bg, "one", req("first", "first"), 0); err != nil {
		t.Fatal(err)
	}
	var done []<-chan error
	for _, k := range []string{"a", "b", "c"} {
		c := make(chan error, 1)
		before := s.PoolWaiters("one")
		go func(k string) {
			_, err := s.AcquireFromPool(bg, "one", req(k, k), time.Minute)
			c <- err
		}(k)
		eventually(t, "pool waiter queued", func() bool { return s.PoolWaiters("one") > before })
		done = append(done, c)
	}
	prev := "first"
	for i, k := range []string{"a", "b", "c"} {
		mustRelease(t, s, "only", prev, prev)
		if err := receive(t, done[i], "pool waiter "+k); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.Get(bg, "only"); l.Key != k {
			t.Fatalf("member went to %q, want %q", l.Key, k)
		}
		prev = k
	}
}

// testPoolFairAcrossQueues: a free member goes to the earliest waiter for
// it, whether that waits by name or through any pool the member is in. The
// pool names are chosen so that the pool whose name sorts first has the
// later waiter.
func testPoolFairAcrossQueues(t *testing.T, open Opener) {
	s, _, _ := svc(t, open, lockservice.Config{})
	addMembers(t, s, "zz", "m")
	addMembers(t, s, "aa", "m")
	if _, err := s.Acquire(bg, "m", req("h", "h"), 0); err != nil {
		t.Fatal(err)
	}
	type waiting struct {
		key  string
		done <-chan error
	}
	var queue []waiting
	join := func(key, pool string) {
		c := make(chan error, 1)
		waiters := func() int { return s.Waiters("m") + s.PoolWaiters("aa") + s.PoolWaiters("zz") }
		before := waiters()
		go func() {
			var err error
			if pool == "" {
				_, err = s.Acquire(bg, "m", req(key, key), time.Minute)
			} else {
				_, err = s.AcquireFromPool(bg, pool, req(key, key), time.Minute)
			}
			c <- err
		}()
		eventually(t, key+" queued", func() bool { return waiters() > before })
		queue = append(queue, waiting{key, c})
	}
	join("a", "zz") // through pool zz
	join("b", "")   // by name
	join("c", "aa") // through pool aa, after b
	join("d", "")   // by name, after c
	prev := "h"
	for i, w := range queue {
		mustRelease(t, s, "m", prev, prev)
		if err := receive(t, w.done, "waiter "+w.key); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.Get(bg, "m"); l.Key != w.key {
			t.Fatalf("m went to %q, want %q (the earliest waiter)", l.Key, w.key)
		}
		for _, later := range queue[i+1:] {
			select {
			case err := <-later.done:
				t.Fatalf("waiter %s returned before its turn: %v", later.key, err)
			default:
			}
		}
		prev = w.key
	}
}

// testListPool: the store finds each pool's members (through an index of
// its own, which must follow every change of membership and survive a
// restart), and nothing else.
func testListPool(t *testing.T, open Opener) {
	s, store, stop := svc(t, open, lockservice.Config{})
	addMembers(t, s, "p", "a", "b")
	addMembers(t, s, "q", "a", "c")
	mustAcquire(t, s, "other", req("k", "h"))
	mustAcquire(t, s, "a", req("k", "h")) // a change that keeps a's memberships
	check := func(store lock.Store, when string, want map[string][]string) {
		t.Helper()
		for pool, names := range want {
			locks, err := store.ListPool(bg, pool)
			if err != nil {
				t.Fatalf("%s: ListPool(%q): %v", when, pool, err)
			}
			var got []string
			for _, l := range locks {
				if !l.InPool(pool) {
					t.Errorf("%s: ListPool(%q) gave %s, whose pools are %v", when, pool, l.Name, l.Pools)
				}
				got = append(got, l.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, names) {
				t.Errorf("%s: ListPool(%q) = %v, want %v", when, pool, got, names)
			}
		}
	}
	check(store, "after adding", map[string][]string{"p": {"a", "b"}, "q": {"a", "c"}, "none": nil})
	if _, _, err := s.RemoveMember(bg, "p", "b", false, "op"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RemoveMember(bg, "q", "a", true, "op"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"p": {"a"}, "q": {"c"}}
	check(store, "after removing", want)
	if l, err := s.Pool(bg, "q"); err != nil || len(l.Members) != 1 || l.Members[0].Name != "c" {
		t.Fatalf("pool q: %+v, %v", l, err)
	}
	stop()
	_, store, _ = svc(t, open, lockservice.Config{})
	check(store, "after a restart", want)
}

// testPoolRemoveHeldBy: a forced removal conditioned on a holder is
// refused while another holder shares the member's key (and so its fence),
// and changes nothing, in memory or in the store (a restart shows the
// same); once the other has released, it ends the holder's hold and
// removes the member, and that survives a restart.
func testPoolRemoveHeldBy(t *testing.T, open Opener) {
	s, _, stop := svc(t, open, lockservice.Config{})
	addMembers(t, s, "envs", "env-1")
	l := mustAcquire(t, s, "env-1", req("build", "build-1"))
	mustAcquire(t, s, "env-1", req("build", "other-job")) // joins: same key, same fence
	history, _ := s.History(bg, "env-1")
	if _, _, err := s.RemoveMemberHeldBy(bg, "envs", "env-1", true, "op", l.Fence, "build", "build-1"); code(err) != lock.ECONFLICT || !strings.Contains(err.Error(), `"other-job" x1`) {
		t.Fatalf("forced removal for build-1 while other-job holds it too: %v", err)
	}
	if _, _, err := s.RemoveMemberHeldBy(bg, "envs", "env-1", true, "op", l.Fence, "build", "\xff"); code(err) != lock.EINVALID {
		t.Fatalf("a holder that is not UTF-8: %v", err)
	}
	unchanged := func(s *lockservice.Service, when string) {
		t.Helper()
		m, err := s.Get(bg, "env-1")
		if err != nil || !m.InPool("envs") || m.Key != "build" || m.Fence != l.Fence || !slices.Equal(m.Holders(), []string{"build-1", "other-job"}) {
			t.Fatalf("%s: the refused removal changed the member: %+v, %v", when, m, err)
		}
		if h, _ := s.History(bg, "env-1"); len(h) != len(history) {
			t.Fatalf("%s: the refused removal recorded %v", when, h[len(history):])
		}
	}
	unchanged(s, "after the refusal")
	stop()
	s, _, stop = svc(t, open, lockservice.Config{})
	unchanged(s, "after a restart")
	mustRelease(t, s, "env-1", "build", "other-job")
	m, events, err := s.RemoveMemberHeldBy(bg, "envs", "env-1", true, "op", l.Fence, "build", "build-1")
	if err != nil || m.InPool("envs") || !m.Free() || len(events) != 2 || events[0].Type != lock.Forced || events[0].Holder != "build-1" {
		t.Fatalf("forced removal for build-1, held by it alone = %+v, %v, %v", m, events, err)
	}
	stop()
	s, _, _ = svc(t, open, lockservice.Config{})
	if m, _ := s.Get(bg, "env-1"); m.InPool("envs") || !m.Free() {
		t.Fatalf("removed member after a restart: %+v", m)
	}
}
