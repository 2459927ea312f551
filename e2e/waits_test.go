package e2e

// Blocking waits, leases and fencing tokens (issue 3), through the real
// binary over real HTTP. Every test name contains "Wait" so that
// `go test ./e2e/ -run Wait` runs them all.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wtPatience bounds every poll: generous, the machine is shared and noisy.
const wtPatience = 10 * time.Second

// wtHold and wtLock are the parts of a lock response these tests read.
type wtHold struct {
	Count    int        `json:"count"`
	Acquired time.Time  `json:"acquired"`
	Expires  *time.Time `json:"expires"`
}

type wtLock struct {
	Name     string            `json:"name"`
	Key      string            `json:"key"`
	LockedBy map[string]int    `json:"locked_by"`
	Fence    uint64            `json:"fence"`
	Expires  *time.Time        `json:"expires"`
	Holds    map[string]wtHold `json:"holds"`
	Waiters  int               `json:"waiters"`
	Error    string            `json:"error"`
	Lock     *wtLock           `json:"lock"` // in an error body
}

type wtEvent struct {
	Type   string `json:"type"`
	Lock   string `json:"lock"`
	Key    string `json:"key"`
	Holder string `json:"holder"`
	Fence  uint64 `json:"fence"`
	By     string `json:"by"`
}

// wtDo sends a request and decodes the JSON answer into a wtLock.
func wtDo(t *testing.T, method, url, body string, want int) wtLock {
	t.Helper()
	status, raw := do(t, http.DefaultClient, method, url, body)
	if status != want {
		t.Fatalf("%s %s %s: got %d %s, want %d", method, url, body, status, raw, want)
	}
	var l wtLock
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v: %s", method, url, err, raw)
	}
	return l
}

func wtHistory(t *testing.T, s *server, name string) []wtEvent {
	t.Helper()
	status, raw := do(t, nil, "GET", s.URL+"/lock/"+name+"/history", "")
	if status != 200 {
		t.Fatalf("GET history of %s: %d %s", name, status, raw)
	}
	var h struct {
		Events []wtEvent `json:"events"`
	}
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		t.Fatalf("history is not JSON: %v: %s", err, raw)
	}
	return h.Events
}

func wtEventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(wtPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", wtPatience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wtAnswer is what a request sent in the background got.
type wtAnswer struct {
	status int
	body   string
	err    error
	at     time.Time
}

// wtSend sends a request in the background; its answer arrives on the
// channel.
func wtSend(ctx context.Context, method, url, body string) <-chan wtAnswer {
	out := make(chan wtAnswer, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			out <- wtAnswer{err: err}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- wtAnswer{err: err, at: time.Now()}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- wtAnswer{status: resp.StatusCode, body: string(b), err: err, at: time.Now()}
	}()
	return out
}

func wtWaiters(t *testing.T, s *server, name string) int {
	t.Helper()
	return wtDo(t, "GET", s.URL+"/lock/"+name, "", 200).Waiters
}

// TestWaitHandoffHTTP: a PUT with wait blocks while another key holds the
// lock and answers 200 once the holder's DELETE has released it; wait works
// in the query string and in the body.
func TestWaitHandoffHTTP(t *testing.T) {
	s := startServer(t, nil)
	u := s.URL + "/lock/x"
	held := wtDo(t, "PUT", u, `{"key":"a"}`, 200)
	if held.Expires != nil || held.Holds["a"].Expires != nil {
		t.Fatalf("a hold without ttl on a server without LOCKER_DEFAULT_TTL/LOCKER_MAX_TTL has an expiry: %+v", held)
	}

	prevFence := held.Fence
	steps := []struct {
		url, body, holder, want string
	}{
		{u + "?wait=10s", `{"key":"b"}`, "a", "b"},
		{u, `{"key":"c","wait":"10s"}`, "b", "c"},
	}
	for i, st := range steps {
		got := wtSend(context.Background(), "PUT", st.url, st.body)
		wtEventually(t, func() bool { return wtWaiters(t, s, "x") == 1 }, "the waiter to be queued")
		select {
		case a := <-got:
			t.Fatalf("step %d: the waiting PUT answered %d %s while the lock was held", i, a.status, a.body)
		default:
		}
		sent := time.Now()
		wtDo(t, "DELETE", u, `{"key":"`+st.holder+`"}`, 200)
		var a wtAnswer
		select {
		case a = <-got:
		case <-time.After(2 * wtPatience):
			t.Fatalf("step %d: the waiting PUT did not answer", i)
		}
		if a.err != nil || a.status != 200 {
			t.Fatalf("step %d: the waiting PUT got %d %s (err %v), want 200", i, a.status, a.body, a.err)
		}
		if a.at.Before(sent) {
			t.Fatalf("step %d: the waiter answered before the DELETE was sent", i)
		}
		var l wtLock
		json.Unmarshal([]byte(a.body), &l)
		want := st.want
		if l.Key != want || l.LockedBy[want] != 1 || l.Fence <= prevFence {
			t.Fatalf("step %d: the waiter got %s; want key %q with a fence above %d", i, a.body, want, prevFence)
		}
		prevFence = l.Fence
	}
	if n := wtWaiters(t, s, "x"); n != 0 {
		t.Fatalf("waiters = %d after every waiter got the lock", n)
	}
}

// TestWaitTimeoutHTTP: a wait that runs out answers 423 with a JSON error
// that says so and the lock's state.
func TestWaitTimeoutHTTP(t *testing.T) {
	s := startServer(t, nil)
	u := s.URL + "/lock/x"
	wtDo(t, "PUT", u, `{"key":"a"}`, 200)
	l := wtDo(t, "PUT", u+"?wait=200ms", `{"key":"b"}`, 423)
	if !strings.Contains(l.Error, "gave up after waiting 200ms") {
		t.Fatalf("error %q does not say the wait ran out", l.Error)
	}
	if l.Lock == nil || l.Lock.Key != "a" || l.Lock.LockedBy["a"] != 1 {
		t.Fatalf("error body carries lock %+v, want a's hold", l.Lock)
	}
	if n := wtWaiters(t, s, "x"); n != 0 {
		t.Fatalf("waiters = %d after the wait ran out", n)
	}

	// LOCKER_MAX_WAIT clamps a longer wait instead of refusing it.
	s = startServer(t, []string{"LOCKER_MAX_WAIT=200ms"})
	u = s.URL + "/lock/x"
	wtDo(t, "PUT", u, `{"key":"a"}`, 200)
	l = wtDo(t, "PUT", u, `{"key":"b","wait":"1h"}`, 423)
	if !strings.Contains(l.Error, "gave up after waiting 200ms") {
		t.Fatalf("with LOCKER_MAX_WAIT=200ms a wait of 1h ended with %q, want it clamped to 200ms", l.Error)
	}
}

// TestWaitShutdown: on SIGTERM, waiting requests are answered 503 at once
// and the server exits cleanly.
func TestWaitShutdown(t *testing.T) {
	s := startServer(t, nil)
	u := s.URL + "/lock/x"
	wtDo(t, "PUT", u, `{"key":"a"}`, 200)
	got := wtSend(context.Background(), "PUT", u+"?wait=10m", `{"key":"b"}`)
	wtEventually(t, func() bool { return wtWaiters(t, s, "x") == 1 }, "the waiter to be queued")
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping with a waiter: %v\n%s", err, s.Output())
	}
	a := <-got
	if a.err != nil || a.status != 503 || !strings.Contains(a.body, `"error"`) {
		t.Fatalf("the waiter got %d %s (err %v), want 503 with a JSON error", a.status, a.body, a.err)
	}
}

// TestWaitLimitHTTP: past LOCKER_MAX_WAITERS_PER_LOCK a wait is refused with
// 503 and a JSON error.
func TestWaitLimitHTTP(t *testing.T) {
	s := startServer(t, []string{"LOCKER_MAX_WAITERS_PER_LOCK=1"})
	u := s.URL + "/lock/x"
	wtDo(t, "PUT", u, `{"key":"a"}`, 200)
	wtSend(context.Background(), "PUT", u+"?wait=10s", `{"key":"b"}`)
	wtEventually(t, func() bool { return wtWaiters(t, s, "x") == 1 }, "the first waiter to be queued")
	l := wtDo(t, "PUT", u+"?wait=10s", `{"key":"c"}`, 503)
	if !strings.Contains(l.Error, "limit 1") {
		t.Fatalf("error %q does not name the limit", l.Error)
	}
}

// TestWaitClientDisconnect: a waiter whose client goes away leaves the queue
// and never takes the lock.
func TestWaitClientDisconnect(t *testing.T) {
	s := startServer(t, nil)
	u := s.URL + "/lock/x"
	wtDo(t, "PUT", u, `{"key":"a"}`, 200)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := wtSend(ctx, "PUT", u+"?wait=10s", `{"key":"b"}`)
	wtEventually(t, func() bool { return wtWaiters(t, s, "x") == 1 }, "the waiter to be queued")
	cancel()
	if a := <-got; a.err == nil {
		t.Fatalf("the cancelled request got an answer: %d %s", a.status, a.body)
	}
	wtEventually(t, func() bool { return wtWaiters(t, s, "x") == 0 }, "the server to drop the waiter whose client went away")
	wtDo(t, "DELETE", u, `{"key":"a"}`, 200)
	l := wtDo(t, "GET", u, "", 200)
	if l.Key != "" || len(l.LockedBy) != 0 || l.Waiters != 0 {
		t.Fatalf("after the holder released: %+v, want free with no waiters", l)
	}
	for _, ev := range wtHistory(t, s, "x") {
		if ev.Holder == "b" {
			t.Fatalf("the disconnected waiter appears in the history: %+v", ev)
		}
	}
	// And the lock still works for others.
	wtDo(t, "PUT", u, `{"key":"c"}`, 200)
}

// TestWaitGoneClientReacquireKeepsLease: a holder whose lease-less
// re-acquire is cut off (its connection reset) as the server grants it has
// that grant given back whole, the lease it removed included: its hold never
// ends up at its old count without its lease, which would never expire.
// Whether a try is cut off in time is the machine's timing, so it makes many
// tries and checks each: the count went back and the lease is there, or the
// grant was kept (count 2) or never made.
func TestWaitGoneClientReacquireKeepsLease(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, nil)
	addr := strings.TrimPrefix(s.URL, "http://")
	givenBack := 0
	for i := range 100 {
		name := fmt.Sprintf("gone-%d", i)
		wtDo(t, "PUT", s.URL+"/lock/"+name+"?ttl=1h", `{"key":"K","lock_by":"h"}`, 200)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"key":"K","lock_by":"h"}`
		fmt.Fprintf(c, "PUT /lock/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", name, addr, len(body), body)
		time.Sleep(time.Duration(i%20) * 100 * time.Microsecond)
		c.(*net.TCPConn).SetLinger(0) // reset, not close: the server sees the client gone
		c.Close()
		// The give-back follows the grant at once; give it time to land.
		time.Sleep(50 * time.Millisecond)
		l := wtDo(t, "GET", s.URL+"/lock/"+name, "", 200)
		h := l.Holds["h"]
		switch {
		case l.LockedBy["h"] == 2:
		case l.LockedBy["h"] == 1 && h.Expires == nil:
			t.Fatalf("try %d: the hold is back at count 1 without its lease (it would never expire): %+v; history %+v", i, l, wtHistory(t, s, name))
		case l.LockedBy["h"] == 1:
			for _, ev := range wtHistory(t, s, name) {
				if ev.Type == "released" {
					givenBack++
				}
			}
		default:
			t.Fatalf("try %d: %+v", i, l)
		}
	}
	t.Logf("grants given back: %d of 100 tries", givenBack)
}

// TestWaitLeaseExpiryAcrossRestart: a lease that runs out while the server is
// down (killed) is expired when it starts again.
func TestWaitLeaseExpiryAcrossRestart(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	cfg := "LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")
	s := startServer(t, []string{cfg})
	l := wtDo(t, "PUT", s.URL+"/lock/x", `{"key":"a","ttl":"1s"}`, 200)
	if l.Expires == nil || l.Holds["a"].Expires == nil {
		t.Fatalf("a hold with ttl 1s has no expiry: %+v", l)
	}
	wtDo(t, "PUT", s.URL+"/lock/forever", `{"key":"a"}`, 200)
	s.Kill()
	time.Sleep(2 * time.Second)

	s = startServer(t, []string{cfg})
	wtEventually(t, func() bool { return wtDo(t, "GET", s.URL+"/lock/x", "", 200).Key == "" }, "x to be free after the restart")
	h := wtHistory(t, s, "x")
	if len(h) == 0 || h[len(h)-1].Type != "expired" || h[len(h)-1].Holder != "a" {
		t.Fatalf("history %+v, want it to end with a's hold expired", h)
	}
	if l := wtDo(t, "GET", s.URL+"/lock/forever", "", 200); l.LockedBy["a"] != 1 {
		t.Fatalf("a hold without ttl did not survive the restart: %+v", l)
	}
}

// TestWaitTTLEnv: LOCKER_DEFAULT_TTL applies to holds that ask for no lease,
// LOCKER_MAX_TTL caps every lease (refreshes included).
func TestWaitTTLEnv(t *testing.T) {
	s := startServer(t, []string{"LOCKER_DEFAULT_TTL=30s", "LOCKER_MAX_TTL=1m"})
	for _, tc := range []struct {
		url, body string
		want      time.Duration
	}{
		{"/lock/default", `{"key":"k"}`, 30 * time.Second},
		{"/lock/long", `{"key":"k","ttl":"1h"}`, time.Minute},
		{"/lock/query?ttl=10s", `{"key":"k"}`, 10 * time.Second},
		{"/lock/seconds", `{"key":"k","ttl":5}`, 5 * time.Second},
	} {
		l := wtDo(t, "PUT", s.URL+tc.url, tc.body, 200)
		h := l.Holds["k"]
		if h.Expires == nil || l.Expires == nil {
			t.Fatalf("PUT %s %s: no expires field: %+v", tc.url, tc.body, l)
		}
		if got := h.Expires.Sub(h.Acquired); got != tc.want {
			t.Errorf("PUT %s %s: lease %s, want %s", tc.url, tc.body, got, tc.want)
		}
		if !l.Expires.Equal(*h.Expires) {
			t.Errorf("PUT %s: lock expires %v, hold expires %v", tc.url, l.Expires, h.Expires)
		}
	}
	before := time.Now()
	l := wtDo(t, "POST", s.URL+"/lock/long/refresh", `{"key":"k","ttl":"1h"}`, 200)
	if exp := *l.Holds["k"].Expires; exp.After(time.Now().Add(time.Minute)) || exp.Before(before.Add(time.Minute-time.Second)) {
		t.Fatalf("refresh for 1h with LOCKER_MAX_TTL=1m: expires %v, want about now+1m", exp)
	}
	if l.LockedBy["k"] != 1 {
		t.Fatalf("refresh changed the count: %+v", l.LockedBy)
	}
	// Every listed lock has a bounded lease.
	status, raw := do(t, nil, "GET", s.URL+"/locks", "")
	var all map[string]wtLock
	if status != 200 || json.Unmarshal([]byte(raw), &all) != nil || len(all) != 4 {
		t.Fatalf("GET /locks: %d %s", status, raw)
	}
	for name, l := range all {
		if l.Expires == nil || l.Expires.After(time.Now().Add(time.Minute)) {
			t.Errorf("listed lock %s expires %v, want within LOCKER_MAX_TTL", name, l.Expires)
		}
	}
}

// TestWaitFenceAcrossRestarts: fence tokens grow strictly across many
// acquisitions and across restarts, clean (SIGTERM) or not (SIGKILL).
func TestWaitFenceAcrossRestarts(t *testing.T) {
	cfg := "LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")
	var last uint64
	for round := 0; round < 4; round++ {
		s := startServer(t, []string{cfg})
		for i := 0; i < 5; i++ {
			name := []string{"x", "y"}[i%2]
			l := wtDo(t, "PUT", s.URL+"/lock/"+name, `{"key":"k"}`, 200)
			if l.Fence <= last {
				t.Fatalf("round %d, acquisition %d of %s: fence %d, not above %d", round, i, name, l.Fence, last)
			}
			last = l.Fence
			// Re-entry keeps the token.
			if l2 := wtDo(t, "PUT", s.URL+"/lock/"+name, `{"key":"k"}`, 200); l2.Fence != l.Fence {
				t.Fatalf("re-entry changed the fence from %d to %d", l.Fence, l2.Fence)
			}
			// The listing carries it.
			status, raw := do(t, nil, "GET", s.URL+"/locks", "")
			var all map[string]wtLock
			if status != 200 || json.Unmarshal([]byte(raw), &all) != nil || all[name].Fence != l.Fence {
				t.Fatalf("GET /locks: %d %s, want %s with fence %d", status, raw, name, l.Fence)
			}
			wtDo(t, "DELETE", s.URL+"/lock/"+name, `{"key":"k"}`, 200)
			wtDo(t, "DELETE", s.URL+"/lock/"+name, `{"key":"k"}`, 200)
		}
		if round%2 == 0 {
			s.Kill()
		} else if err := s.Stop(); err != nil {
			t.Fatalf("stopping: %v\n%s", err, s.Output())
		}
	}
}

// TestWaitInPartsKeepsPlace: a client that waits longer than the server's
// LOCKER_MAX_WAIT asks again each time it runs out (locker lock, run and
// the resource do); it keeps its turn rather than going behind those who
// came after it. Here B comes first and C half a second later; the lock is
// released after B has asked again and before C has.
func TestWaitInPartsKeepsPlace(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, []string{"LOCKER_MAX_WAIT=2s"})
	wtDo(t, "PUT", s.URL+"/lock/q?key=H", "", 200)
	env := []string{"LOCKER_URL=" + s.URL}
	b, bOut := cliStart(t, env, "lock", "q", "--key", "B-first")
	wtEventually(t, func() bool { return wtWaiters(t, s, "q") == 1 }, "B to wait")
	t0 := time.Now()
	time.Sleep(500 * time.Millisecond)
	c, cOut := cliStart(t, env, "lock", "q", "--key", "C-second")
	wtEventually(t, func() bool { return wtWaiters(t, s, "q") == 2 }, "C to wait")
	time.Sleep(time.Until(t0.Add(2250 * time.Millisecond))) // B ran out and asked again; C not yet
	wtDo(t, "DELETE", s.URL+"/lock/q?key=H", "", 200)
	var holder string
	wtEventually(t, func() bool { holder = wtDo(t, "GET", s.URL+"/lock/q", "", 200).Key; return holder != "" }, "someone to take the lock")
	if holder != "B-first" {
		t.Fatalf("the lock went to %q, want B-first, who came first", holder)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("B: %v\n%s", err, bOut)
	}
	wtDo(t, "DELETE", s.URL+"/lock/q?key=B-first", "", 200)
	if err := c.Wait(); err != nil {
		t.Fatalf("C: %v\n%s", err, cOut)
	}
}

// TestRefreshWithFence: a refresh that names its hold's fence token renews
// that hold only: after the lock was forced away and taken afresh by the
// same key and holder, it is a 404 and the new hold keeps no lease.
func TestRefreshWithFence(t *testing.T) {
	s := startServer(t, nil)
	lockAt := func(body string) uint64 {
		status, b := do(t, nil, "PUT", s.URL+"/lock/f", body)
		var l struct{ Fence uint64 }
		if status != 200 || json.Unmarshal([]byte(b), &l) != nil {
			t.Fatalf("PUT: %d %s", status, b)
		}
		return l.Fence
	}
	f1 := lockAt(`{"key":"k","lock_by":"job"}`)
	if status, b := do(t, nil, "POST", s.URL+"/lock/f/refresh", fmt.Sprintf(`{"key":"k","lock_by":"job","ttl":"1h","fence":%d}`, f1)); status != 200 {
		t.Fatalf("refresh with the hold's fence: %d %s", status, b)
	}
	do(t, nil, "DELETE", s.URL+"/lock/f?force=true", "")
	f2 := lockAt(`{"key":"k","lock_by":"job"}`)
	if status, b := do(t, nil, "POST", s.URL+"/lock/f/refresh", fmt.Sprintf(`{"key":"k","lock_by":"job","ttl":"1s","fence":%d}`, f1)); status != 404 || !strings.Contains(b, "taken afresh") {
		t.Fatalf("refresh with the old fence: %d %s", status, b)
	}
	status, b := do(t, nil, "GET", s.URL+"/lock/f", "")
	if status != 200 || !strings.Contains(b, fmt.Sprintf(`"fence":%d`, f2)) || strings.Contains(b, `"expires"`) {
		t.Fatalf("the new hold after a refresh with the old fence: %d %s", status, b)
	}
}

// TestForceWithFence: a force release that names a fence token ends the
// holds taken under it only: once the lock was released and taken again
// (what the dashboard's confirmation named is gone) it is a 423 that says
// so and changes nothing. A malformed fence in the query is refused even
// where the body has one (a typo never passes unnoticed).
func TestForceWithFence(t *testing.T) {
	s := startServer(t, nil)
	old := wtDo(t, "PUT", s.URL+"/lock/prod", `{"key":"old-build","lock_by":"dead-job"}`, 200).Fence
	wtDo(t, "DELETE", s.URL+"/lock/prod", `{"key":"old-build","lock_by":"dead-job"}`, 200)
	now := wtDo(t, "PUT", s.URL+"/lock/prod", `{"key":"new-build","lock_by":"live-job"}`, 200).Fence
	l := wtDo(t, "DELETE", fmt.Sprintf("%s/lock/prod?force=true&fence=%d", s.URL, old), "", 423)
	if !strings.Contains(l.Error, "taken again since") || l.Lock == nil || l.Lock.Key != "new-build" {
		t.Fatalf("force with the old fence: %+v", l)
	}
	wtDo(t, "DELETE", s.URL+"/lock/prod", `{"force":true,"fence":1}`+"", 423)
	if got := wtDo(t, "GET", s.URL+"/lock/prod", "", 200); got.LockedBy["live-job"] != 1 {
		t.Fatalf("after refused forces: %+v", got)
	}
	wtDo(t, "DELETE", s.URL+"/lock/prod?force=true&fence=x1", `{"force":true,"fence":1}`, 400)
	wtDo(t, "DELETE", fmt.Sprintf("%s/lock/prod?force=true&fence=%d", s.URL, now), "", 200)
	if got := wtDo(t, "GET", s.URL+"/lock/prod", "", 200); got.Key != "" {
		t.Fatalf("force with the lock's fence left %+v", got)
	}
	// The same for a forced removal of a held pool member.
	wtDo(t, "PUT", s.URL+"/pool/envs/env-1", "", 200)
	f := wtDo(t, "PUT", s.URL+"/lock/env-1", `{"key":"new-build"}`, 200).Fence
	wtDo(t, "DELETE", fmt.Sprintf("%s/pool/envs/env-1?force=true&fence=%d", s.URL, f-1), "", 423)
	if got := wtDo(t, "GET", s.URL+"/lock/env-1", "", 200); got.Key != "new-build" {
		t.Fatalf("after a refused forced removal: %+v", got)
	}
	wtDo(t, "DELETE", fmt.Sprintf("%s/pool/envs/env-1?force=true&fence=%d", s.URL, f), "", 200)
}
