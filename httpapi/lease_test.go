package httpapi_test

// Blocking waits, leases (ttl), refresh and history over HTTP.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// waiters returns the number of requests waiting for a lock.
func (s *httpStack) waiters(t *testing.T, name string) int {
	t.Helper()
	return s.get(t, name).Waiters
}

// goDo sends a request in the background; the reply arrives on the channel.
func (s *httpStack) goDo(method, path, body string, opts ...reqOption) <-chan reply {
	c := make(chan reply, 1)
	go func() { c <- s.do(method, path, body, opts...) }()
	return c
}

func receive(t *testing.T, c <-chan reply, what string) reply {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer after 30s", what)
		return reply{}
	}
}

func TestWaitBlocksUntilRelease(t *testing.T) {
	for _, tc := range []struct{ name, path, body string }{
		{"query", "/lock/w?wait=30s", `{"key":"k2","lock_by":"second"}`},
		{"body", "/lock/w", `{"key":"k2","lock_by":"second","wait":"30s"}`},
		{"seconds", "/lock/w", `{"key":"k2","lock_by":"second","wait":30}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newHTTPStack(t, stackOptions{})
			first := s.do("PUT", "/lock/w", `{"key":"k1","lock_by":"first"}`).expect(t, 200, "first lock").lockOf(t)
			c := s.goDo("PUT", tc.path, tc.body)
			eventually(t, "the second request waits", func() bool { return s.waiters(t, "w") == 1 })
			select {
			case r := <-c:
				t.Fatalf("the waiting request answered while the lock was held: %d %s", r.Status, r.Body)
			default:
			}
			wantEntry(t, s, "w", "k1", map[string]int{"first": 1})
			s.do("DELETE", "/lock/w", `{"key":"k1","locked_by":"first"}`).expect(t, 200, "release")
			l := receive(t, c, "waiting PUT").expect(t, 200, "waiting PUT").lockOf(t)
			if l.Key != "k2" || l.LockedBy["second"] != 1 || l.Fence <= first.Fence {
				t.Fatalf("waiter got %+v, want k2/second with a fence above %d", l, first.Fence)
			}
			wantEntry(t, s, "w", "k2", map[string]int{"second": 1})
			if n := s.waiters(t, "w"); n != 0 {
				t.Errorf("waiters = %d after the hand-off", n)
			}
		})
	}
}

func TestWaitTimeoutIs423(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/w", `{"key":"k1"}`).expect(t, 200, "lock")
	for _, tc := range []struct{ path, body string }{
		{"/lock/w?wait=200ms", `{"key":"k2"}`},
		{"/lock/w", `{"key":"k2","wait":"200ms"}`},
		{"/lock/w?wait=0.2", `{"key":"k2"}`},
	} {
		r := s.do("PUT", tc.path, tc.body).expect(t, 423, "wait that runs out "+tc.path+" "+tc.body)
		e := r.errorOf(t)
		if !strings.Contains(e.Error, "gave up") || !strings.Contains(e.Error, "k1") || e.Lock == nil {
			t.Errorf("423 after a wait = %s, want it to say it gave up and who holds the lock", r.Body)
		}
	}
	wantEntry(t, s, "w", "k1", map[string]int{"k1": 1})
	if n := s.waiters(t, "w"); n != 0 {
		t.Errorf("waiters = %d after the waits ran out", n)
	}
}

func TestWaitIsClampedNotRefused(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Service: lockservice.Config{MaxWait: 200 * time.Millisecond}})
	s.do("PUT", "/lock/w", `{"key":"k1"}`).expect(t, 200, "lock")
	e := s.do("PUT", "/lock/w?wait=1h", `{"key":"k2"}`).expect(t, 423, "wait over the limit").errorOf(t)
	if !strings.Contains(e.Error, "200ms") {
		t.Errorf("error %q does not say it waited the server's limit (200ms)", e.Error)
	}
	// A free lock is taken at once whatever the wait.
	s.do("PUT", "/lock/free?wait=1h", `{"key":"k"}`).expect(t, 200, "wait on a free lock")
}

func TestWaiterThatGoesAwayNeverTakesTheLock(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/w", `{"key":"k1"}`).expect(t, 200, "lock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := s.goDo("PUT", "/lock/w?wait=60s", `{"key":"gone"}`, withContext(ctx))
	eventually(t, "the request waits", func() bool { return s.waiters(t, "w") == 1 })
	cancel()
	if r := receive(t, c, "cancelled waiter"); r.Err == nil {
		t.Fatalf("cancelled waiter got an answer: %d %s", r.Status, r.Body)
	}
	eventually(t, "the waiter leaves the queue", func() bool { return s.waiters(t, "w") == 0 })
	s.do("DELETE", "/lock/w", `{"key":"k1"}`).expect(t, 200, "release")
	wantEntry(t, s, "w", "", map[string]int{})
	for _, ev := range s.history(t, "w") {
		if ev.Key == "gone" {
			t.Errorf("the departed waiter appears in the history: %+v", ev)
		}
	}
}

func TestTooManyWaitersIs503(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Service: lockservice.Config{MaxWaitersPerLock: 1}})
	s.do("PUT", "/lock/w", `{"key":"k1"}`).expect(t, 200, "lock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := s.goDo("PUT", "/lock/w?wait=60s", `{"key":"k2"}`, withContext(ctx))
	eventually(t, "one request waits", func() bool { return s.waiters(t, "w") == 1 })
	s.do("PUT", "/lock/w?wait=60s", `{"key":"k3"}`).expect(t, 503, "second waiter over the limit")
	// The holder needs no wait to re-enter: the full queue does not stop it.
	s.do("PUT", "/lock/w?wait=60s", `{"key":"k1"}`).expect(t, 200, "the holder re-entering with wait")
	wantEntry(t, s, "w", "k1", map[string]int{"k1": 2})
	// Without wait, a conflict is still a plain 423.
	s.do("PUT", "/lock/w", `{"key":"k3"}`).expect(t, 423, "no wait")
	cancel()
	receive(t, c, "cancelled waiter")
}

func TestTTLExpiryFreesTheLock(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	before := time.Now()
	l := s.do("PUT", "/lock/t", `{"key":"k","lock_by":"job","ttl":"200ms"}`).expect(t, 200, "lock with ttl").lockOf(t)
	h := l.Holds["job"]
	if h.Expires == nil || h.Expires.Before(before.Add(200*time.Millisecond)) || l.Expires == nil {
		t.Fatalf("lock with ttl answered %+v, want holds.job.expires ≥ now+200ms", l)
	}
	s.do("PUT", "/lock/forever", `{"key":"k"}`).expect(t, 200, "lock without ttl")

	eventually(t, "the lease runs out", func() bool { return s.get(t, "t").Key == "" })
	wantEntry(t, s, "t", "", map[string]int{})
	events := s.history(t, "t")
	last := events[len(events)-1]
	if last.Type != "expired" || last.Holder != "job" || last.Key != "k" || last.Count != 0 {
		t.Errorf("last event = %+v, want job's hold expired", last)
	}
	// A hold without a ttl never expires.
	if l := s.get(t, "forever"); l.Key != "k" || l.Expires != nil || l.Holds["k"].Expires != nil {
		t.Errorf("hold without ttl = %+v, want no expiry", l)
	}
	// Expiry releases all of the holder's count, and only that holder's.
	s.do("PUT", "/lock/t", `{"key":"k","lock_by":"job","ttl":"200ms"}`).expect(t, 200, "lock 1")
	s.do("PUT", "/lock/t", `{"key":"k","lock_by":"job","ttl":"200ms"}`).expect(t, 200, "lock 2")
	s.do("PUT", "/lock/t?ttl=1h", `{"key":"k","lock_by":"other"}`).expect(t, 200, "other with a long ttl")
	eventually(t, "job's lease runs out", func() bool { _, held := s.get(t, "t").LockedBy["job"]; return !held })
	wantEntry(t, s, "t", "k", map[string]int{"other": 1})
}

func TestExpiryWakesWaiter(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/t", `{"key":"k1","ttl":"300ms"}`).expect(t, 200, "lock with ttl")
	r := s.do("PUT", "/lock/t?wait=30s", `{"key":"k2"}`).expect(t, 200, "waiter")
	if l := r.lockOf(t); l.Key != "k2" {
		t.Fatalf("waiter got %+v", l)
	}
	types := []string{}
	for _, ev := range s.history(t, "t") {
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "acquired,expired,acquired" {
		t.Errorf("history = %v, want acquired, expired, acquired", types)
	}
}

func TestDefaultAndMaxTTL(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Service: lockservice.Config{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour}})
	n := 0
	check := func(body string, want time.Duration) {
		t.Helper()
		n++
		before := time.Now()
		l := s.do("PUT", fmt.Sprintf("/lock/ttl-%d", n), body).expect(t, 200, body).lockOf(t)
		after := time.Now()
		for h, hold := range l.Holds {
			if hold.Expires == nil || hold.Expires.Before(before.Add(want)) || hold.Expires.After(after.Add(want)) {
				t.Errorf("%s: hold %s expires %v, want now+%v", body, h, hold.Expires, want)
			}
		}
	}
	check(`{"key":"k"}`, time.Hour)
	check(`{"key":"k","ttl":"10h"}`, 2*time.Hour)
	check(`{"key":"k","ttl":"30m"}`, 30*time.Minute)
	// Refresh is capped too.
	s.do("PUT", "/lock/r", `{"key":"k"}`).expect(t, 200, "lock")
	before := time.Now()
	l := s.do("POST", "/lock/r/refresh", `{"key":"k","ttl":"100h"}`).expect(t, 200, "refresh").lockOf(t)
	if e := l.Holds["k"].Expires; e == nil || e.After(time.Now().Add(2*time.Hour)) || e.Before(before.Add(2*time.Hour)) {
		t.Errorf("refresh over the max: expires %v, want now+2h", e)
	}
}

func TestRefresh(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	l := s.do("PUT", "/lock/r", `{"key":"k","lock_by":"job","ttl":"1m"}`).expect(t, 200, "lock").lockOf(t)
	e1 := *l.Holds["job"].Expires
	acquired := l.Holds["job"].Acquired

	sent := time.Now()
	r := s.do("POST", "/lock/r/refresh", `{"key":"k","lock_by":"job","ttl":"1h"}`).expect(t, 200, "refresh")
	l = r.lockOf(t)
	e2 := l.Holds["job"].Expires
	// The lease granted, whatever the clocks say.
	if got := r.Header.Get("Locker-Lease"); got != "1h0m0s" || e2.Before(sent.Add(time.Hour)) {
		t.Errorf("Locker-Lease %q, expires %v: want 1h0m0s, from after the request was sent", got, e2)
	}
	if e2 == nil || !e2.After(e1.Add(50*time.Minute)) {
		t.Fatalf("refresh: expires %v, want about an hour from now (was %v)", e2, e1)
	}
	if l.LockedBy["job"] != 1 || !l.Holds["job"].Acquired.Equal(acquired) || l.Response == "" {
		t.Fatalf("refresh changed the count or acquired time: %s", r.Body)
	}
	if got := s.get(t, "r").Holds["job"].Expires; got == nil || !got.Equal(*e2) {
		t.Errorf("GET after refresh: expires %v, want %v", got, e2)
	}
	// The other spellings and the query work too.
	s.do("POST", "/lock/r/refresh?key=k&locked_by=job&ttl=2h", "").expect(t, 200, "refresh by query")
	s.do("POST", "/lock/r/refresh", `{"key":"k","requestor":"job","ttl":"2h"}`).expect(t, 200, "refresh with requestor")
	// A hold without a lease gains one.
	s.do("PUT", "/lock/r", `{"key":"k","lock_by":"plain"}`).expect(t, 200, "lock without ttl")
	if e := s.do("POST", "/lock/r/refresh", `{"key":"k","lock_by":"plain","ttl":"1h"}`).expect(t, 200, "refresh a hold without ttl").lockOf(t).Holds["plain"].Expires; e == nil {
		t.Errorf("refreshing a hold without a lease left it without one")
	}

	e := s.do("POST", "/lock/r/refresh", `{"key":"wrong","lock_by":"job","ttl":"1h"}`).expect(t, 423, "refresh with the wrong key").errorOf(t)
	if e.Lock == nil || e.Lock.Key != "k" {
		t.Errorf("423 on refresh = %+v, want the lock", e)
	}
	s.do("POST", "/lock/r/refresh", `{"key":"k","lock_by":"nobody","ttl":"1h"}`).expect(t, 404, "refresh by a holder holding nothing")
	s.do("POST", "/lock/r/refresh", `{"key":"k","ttl":"1h"}`).expect(t, 404, "refresh by the key (holding nothing)")
	s.do("POST", "/lock/never/refresh", `{"key":"k","ttl":"1h"}`).expect(t, 404, "refresh an unknown lock")
	s.do("POST", "/lock/r/refresh", `{"key":"k","lock_by":"job"}`).expect(t, 400, "refresh without ttl")
	s.do("POST", "/lock/r/refresh", `{"key":"k","lock_by":"job","ttl":"0s"}`).expect(t, 400, "refresh with ttl 0")
	s.do("POST", "/lock/r/refresh", `{"lock_by":"job","ttl":"1h"}`).expect(t, 400, "refresh without key")
	// Refreshes do not count as holds: one DELETE each frees the lock.
	s.do("DELETE", "/lock/r", `{"key":"k","locked_by":"job"}`).expect(t, 200, "release job")
	s.do("DELETE", "/lock/r", `{"key":"k","locked_by":"plain"}`).expect(t, 200, "release plain")
	wantEntry(t, s, "r", "", map[string]int{})
	s.do("POST", "/lock/r/refresh", `{"key":"k","lock_by":"job","ttl":"1h"}`).expect(t, 404, "refresh a free lock")

	// With the fence token of the hold meant: a lock taken afresh since
	// (by the same key and holder) is not that hold, and is left alone.
	f1 := s.do("PUT", "/lock/f", `{"key":"k","lock_by":"job"}`).expect(t, 200, "lock").lockOf(t).Fence
	s.do("POST", "/lock/f/refresh", fmt.Sprintf(`{"key":"k","lock_by":"job","ttl":"1h","fence":%d}`, f1)).expect(t, 200, "refresh with the hold's fence")
	s.do("DELETE", "/lock/f?force=true", "").expect(t, 200, "force")
	f2 := s.do("PUT", "/lock/f", `{"key":"k","lock_by":"job"}`).expect(t, 200, "taken afresh").lockOf(t).Fence
	e = s.do("POST", "/lock/f/refresh", fmt.Sprintf(`{"key":"k","lock_by":"job","ttl":"1s","fence":%d}`, f1)).expect(t, 404, "refresh with the old fence").errorOf(t)
	if !strings.Contains(e.Error, "taken afresh") {
		t.Errorf("error %q", e.Error)
	}
	s.do("POST", fmt.Sprintf("/lock/f/refresh?key=k&lock_by=job&ttl=1s&fence=%d", f1), "").expect(t, 404, "old fence in the query")
	if l := s.get(t, "f"); l.Fence != f2 || l.Holds["job"].Expires != nil {
		t.Errorf("a refresh with an old fence changed the new hold: %+v", l)
	}
	s.do("POST", "/lock/f/refresh?key=k&lock_by=job&ttl=1s&fence=abc", "").expect(t, 400, "a fence that is no number")
	s.do("POST", "/lock/f/refresh", `{"key":"k","lock_by":"job","ttl":"1s","fence":"7"}`).expect(t, 400, "a fence in a string")
}

// TestFutureFenceIsSaid: a fence higher than any the lock has had names
// no holding period: the answer says so (it said the lock was taken
// afresh, or taken again since that fence), with the status the docs give
// for a fence the lock does not have, and nothing changes.
func TestFutureFenceIsSaid(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	f := s.do("PUT", "/lock/f", `{"key":"k","lock_by":"job","ttl":"1h"}`).expect(t, 200, "lock").lockOf(t).Fence
	s.addMember(t, "p", "f", "")
	const future = "18446744073709551615"
	for _, c := range []struct {
		what, method, path, body string
		status                   int
		want                     string
	}{
		{"refresh", "POST", "/lock/f/refresh", `{"key":"k","lock_by":"job","ttl":"1s","fence":` + future + `}`, 404,
			fmt.Sprintf(`lock "f": fence %s is higher than any this lock has had (its latest is %d): no hold of "job" under key "k" was taken under it; nothing was renewed`, future, f)},
		{"refresh, in the query", "POST", "/lock/f/refresh?key=k&lock_by=job&ttl=1s&fence=" + future, ``, 404, "is higher than any this lock has had"},
		{"force", "DELETE", "/lock/f?force=true&fence=" + future, ``, 423,
			fmt.Sprintf(`lock "f": fence %s is higher than any this lock has had: it is held by key "k" under fence %d (holders: job x1); nothing was forced`, future, f)},
		{"forced removal", "DELETE", fmt.Sprintf("/pool/p/f?force=true&fence=%d", f+1), ``, 423, "is higher than any it has had"},
	} {
		e := s.do(c.method, c.path, c.body).expect(t, c.status, c.what).errorOf(t)
		if !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: error %q, want %q", c.what, e.Error, c.want)
		}
	}
	l := s.get(t, "f")
	if l.Fence != f || l.LockedBy["job"] != 1 || l.Holds["job"].Expires == nil || time.Until(*l.Holds["job"].Expires) < 30*time.Minute {
		t.Errorf("requests with a future fence changed the lock: %s", mustJSON(l))
	}
}

func TestHistory(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Store: filestore.Options{HistoryLimit: 5}})
	s.do("GET", "/lock/h/history", "").expect(t, 404, "history of an unknown lock")
	s.do("PUT", "/lock/h", `{"key":"k","lock_by":"a","ttl":"1h"}`).expect(t, 200, "lock")
	ev := s.history(t, "h")
	if len(ev) != 1 || ev[0].Type != "acquired" || ev[0].Lock != "h" || ev[0].Key != "k" || ev[0].Holder != "a" ||
		ev[0].Count != 1 || ev[0].Fence == 0 || ev[0].Time.IsZero() || ev[0].Expires == nil {
		t.Fatalf("history after one lock = %+v", ev)
	}
	s.do("DELETE", "/lock/h", `{"key":"k","locked_by":"a"}`).expect(t, 200, "unlock")
	for i := 0; i < 6; i++ {
		s.do("PUT", "/lock/h", `{"key":"k","lock_by":"b"}`).expect(t, 200, "lock b")
		s.do("DELETE", "/lock/h", `{"key":"k","locked_by":"b"}`).expect(t, 200, "unlock b")
	}
	ev = s.history(t, "h")
	if len(ev) != 5 {
		t.Fatalf("history has %d events, want the limit 5", len(ev))
	}
	for i, e := range ev {
		want := []string{"released", "acquired"}[i%2]
		if e.Type != want || e.Holder != "b" {
			t.Errorf("event %d = %s %s, want %s b (the most recent, oldest first)", i, e.Type, e.Holder, want)
		}
		if i > 0 && e.Time.Before(ev[i-1].Time) {
			t.Errorf("event %d is older than event %d", i, i-1)
		}
	}
	// Names are URL-encoded here too.
	s.do("PUT", "/lock/a%2Fb", `{"key":"k"}`).expect(t, 200, "lock a/b")
	if ev := s.history(t, "a%2Fb"); len(ev) != 1 || ev[0].Lock != "a/b" {
		t.Errorf("history of a/b = %+v", ev)
	}
}

func TestHistoryDefaultLimit(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for i := 0; i < 60; i++ {
		s.do("PUT", "/lock/h", `{"key":"k"}`).expect(t, 200, "lock")
		s.do("DELETE", "/lock/h", `{"key":"k"}`).expect(t, 200, "unlock")
	}
	if n := len(s.history(t, "h")); n != 100 {
		t.Errorf("history has %d events after 120 changes, want 100", n)
	}
}

// TestLeaseHeaderOnlyForAHoldWithALease: Locker-Lease says how long the
// hold runs; a hold taken again with a ttl keeps no lease when it had none
// (a lease never shortens, and none is the longest), so the answer has no
// header (a review: it said 30s, and a client that timed the lease by it
// would have taken a hold that never expires for one that does).
func TestLeaseHeaderOnlyForAHoldWithALease(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	if r := s.do("PUT", "/lock/ll", `{"key":"k"}`).expect(t, 200, "lock without ttl"); r.Header.Get("Locker-Lease") != "" {
		t.Errorf("a hold without a lease: Locker-Lease %q", r.Header.Get("Locker-Lease"))
	}
	r := s.do("PUT", "/lock/ll", `{"key":"k","ttl":"30s"}`).expect(t, 200, "lock again with a ttl")
	if got, l := r.Header.Get("Locker-Lease"), r.lockOf(t); got != "" || l.Holds["k"].Expires != nil {
		t.Errorf("the hold taken again with a ttl: Locker-Lease %q, expires %v; want neither", got, l.Holds["k"].Expires)
	}
	if r := s.do("PUT", "/lock/leased", `{"key":"k","ttl":"30s"}`).expect(t, 200, "lock with ttl"); r.Header.Get("Locker-Lease") != "30s" {
		t.Errorf("a hold with a lease: Locker-Lease %q, want 30s", r.Header.Get("Locker-Lease"))
	}
}

// TestLeaseHeaderCountsTheWait: a request that waited for the lock says in
// Locker-Lease how long the lease runs from when the server took the
// request, wait included: counted from when the client sent it, the lease
// ends no sooner. A review: the header was the lease alone, from the
// grant, so a client that waited longer than the lease took it for over on
// arrival (locker run refused to start its command).
func TestLeaseHeaderCountsTheWait(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/w", `{"key":"a"}`).expect(t, 200, "the first holder")
	time.AfterFunc(700*time.Millisecond, func() { s.do("DELETE", "/lock/w", `{"key":"a"}`) })
	sent := time.Now()
	r := s.do("PUT", "/lock/w?wait=10s", `{"key":"b","ttl":"500ms"}`).expect(t, 200, "the waiter")
	lease, err := time.ParseDuration(r.Header.Get("Locker-Lease"))
	if err != nil {
		t.Fatalf("Locker-Lease %q: %v", r.Header.Get("Locker-Lease"), err)
	}
	expires := r.lockOf(t).Holds["b"].Expires
	if lease < 500*time.Millisecond+600*time.Millisecond || expires == nil || expires.Before(sent.Add(lease)) {
		t.Errorf("after a wait of about 700ms: Locker-Lease %s, expires %v (sent %v); want the 500ms lease plus the wait, ending no later than expires", lease, expires, sent)
	}
}

// TestLeaseHeaderOfTheLongestLeaseAfterAWait: the longest ttl a request
// may ask (2562047h47m16.854775807s, the largest duration) plus the time
// it waited is more than a duration holds. A review: the sum wrapped, and
// the header said the lease was negative
// (-2562047h47m16.573775809s), so a client timing its lease by it took a
// hold that runs for centuries as run out on arrival. The header stops at
// the largest duration instead, which the lease outlasts.
func TestLeaseHeaderOfTheLongestLeaseAfterAWait(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/w", `{"key":"a"}`).expect(t, 200, "the first holder")
	time.AfterFunc(200*time.Millisecond, func() { s.do("DELETE", "/lock/w", `{"key":"a"}`) })
	r := s.do("PUT", "/lock/w?wait=10s", `{"key":"b","ttl":"2562047h47m16.854775807s"}`).expect(t, 200, "the waiter")
	lease, err := time.ParseDuration(r.Header.Get("Locker-Lease"))
	if err != nil {
		t.Fatalf("Locker-Lease %q: %v", r.Header.Get("Locker-Lease"), err)
	}
	if lease < 2562047*time.Hour {
		t.Errorf("Locker-Lease %q after a wait, with the longest ttl: want the longest duration, not less", r.Header.Get("Locker-Lease"))
	}
}
