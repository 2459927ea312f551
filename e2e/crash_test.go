package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test's model of what the server must hold.
//
// Each load client c has its own key ("key-c") and its own holders
// ("c-a", "c-b"); no other client uses them, and nothing else (force
// release, leases) changes a hold. So every (lock, holder) pair is written by
// exactly one client, one request at a time, and that client can know its
// count exactly:
//
//   - a 200 to PUT adds one; a 200 to DELETE takes one away, down to zero
//     (a DELETE for a holder that holds nothing is a 200 that changes
//     nothing); a 423 changes nothing. Every 200 also carries the lock's new
//     state, which must agree with the model on the spot.
//   - fencing tokens: a 200 to PUT that starts a holding period (the client
//     held nothing on the lock before) carries a token above every token
//     acknowledged before the request was sent, by any client, in this
//     round or an earlier one (across restarts); a 200 to PUT while the
//     client holds the lock carries the token its holding period started
//     with, also when the period began before a restart.
//   - a request whose connection was refused never reached the server and
//     changed nothing.
//   - a request that got no answer (connection reset, EOF, timeout) may or
//     may not have been applied: PUT leaves the count at n or n+1, DELETE at
//     n or max(n-1, 0). The client stops at its first such request, so there
//     is at most one unknown request per client per round, and it is the
//     client's last: nothing it sent later can have overtaken it.
//
// After a restart, the server's count for each pair must therefore be the
// model's exact count, or for the single unknown request one of its two
// outcomes. A hold acknowledged and not released is present with its full
// count; a release acknowledged stays released. The model then adopts what
// the server shows, and the next round starts from exact knowledge again.
// At the lock level: a lock with holders is keyed by the one client that owns
// them all; a lock without holders is free (key "", locked_by {}) and lists
// no zero counts.

// holdKey names one holder's hold on one lock.
type holdKey struct{ lock, holder string }

// unknownOp is a request that got no answer.
type unknownOp struct {
	holdKey
	put    bool
	before int
}

// outcomes lists the counts the unknown request may have left.
func (u unknownOp) outcomes() []int {
	if u.put {
		return []int{u.before, u.before + 1}
	}
	return []int{u.before, max(u.before-1, 0)}
}

// loadStats counts what the clients saw.
type loadStats struct {
	ok, conflict, refused, unknown, unknownApplied int
}

func (s *loadStats) add(o loadStats) {
	s.ok += o.ok
	s.conflict += o.conflict
	s.refused += o.refused
	s.unknown += o.unknown
	s.unknownApplied += o.unknownApplied
}

// loadClient is one client of the load: it takes and releases holds on a
// shared set of locks with its own key and holders, and keeps the model.
type loadClient struct {
	id      int
	key     string
	holders []string
	locks   []string
	counts  map[holdKey]int // exact, except for unknown
	unknown *unknownOp      // the last request of the round, if unanswered
	stats   loadStats
	onAck   func() // called after each acknowledged change, if set
	// tokens is the highest fencing token acknowledged to any client;
	// fences the token of each holding period of this client's.
	tokens *tokenLog
	fences map[string]uint64
}

// tokenLog is the highest fencing token any client was answered with.
type tokenLog struct {
	mu  sync.Mutex
	max uint64
}

func (l *tokenLog) highest() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}

func (l *tokenLog) acked(token uint64) {
	l.mu.Lock()
	l.max = max(l.max, token)
	l.mu.Unlock()
}

func newLoadClients(n int, locks []string) []*loadClient {
	clients := make([]*loadClient, n)
	tokens := &tokenLog{}
	for i := range clients {
		clients[i] = &loadClient{
			id:      i,
			key:     fmt.Sprintf("key-%d", i),
			holders: []string{fmt.Sprintf("c%d-a", i), fmt.Sprintf("c%d-b", i)},
			locks:   locks,
			counts:  map[holdKey]int{},
			tokens:  tokens,
			fences:  map[string]uint64{},
		}
	}
	return clients
}

// ours is how many holds the client has on a lock, over its holders.
func (c *loadClient) ours(name string) int {
	n := 0
	for _, h := range c.holders {
		n += c.counts[holdKey{name, h}]
	}
	return n
}

// lockState is the part of a lock the model checks, as GET /locks and the
// answers to PUT and DELETE show it.
type lockState struct {
	Key      string         `json:"key"`
	LockedBy map[string]int `json:"locked_by"`
	Error    string         `json:"error"`
}

// run sends requests to baseURL until one gets no answer, ctx ends, or the
// server answers something the model forbids (reported with t.Errorf).
func (c *loadClient) run(ctx context.Context, t *testing.T, baseURL string, rnd *rand.Rand) {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	backoff := map[string]int{} // lock -> op number to retry it after
	ops := 0
	for ctx.Err() == nil {
		// Back off from a lock that answered 423 for a while, as the
		// seed tells clients to, so that most requests change something.
		ops++
		name := c.locks[rnd.IntN(len(c.locks))]
		for try := 0; try < 10 && backoff[name] > ops; try++ {
			name = c.locks[rnd.IntN(len(c.locks))]
		}
		hk := holdKey{name, c.holders[rnd.IntN(len(c.holders))]}
		// Release more often than take while holding, so that locks
		// change hands instead of staying with their first taker; now
		// and then release what is not held (a 200 or 423 that changes
		// nothing).
		put := rnd.IntN(100) < 95
		if c.ours(hk.lock) > 0 {
			put = rnd.IntN(100) < 35
			if !put && c.counts[hk] == 0 {
				hk.holder = c.holders[0]
				if c.counts[hk] == 0 {
					hk.holder = c.holders[1]
				}
			}
		}
		conflicts := c.stats.conflict
		if !c.send(ctx, t, client, baseURL, hk, put) {
			return
		}
		if c.stats.conflict > conflicts {
			backoff[name] = ops + 20
		}
	}
}

// send makes one request and updates the model; false means stop.
func (c *loadClient) send(ctx context.Context, t *testing.T, client *http.Client, baseURL string, hk holdKey, put bool) bool {
	method, field := http.MethodDelete, "locked_by"
	if put {
		method, field = http.MethodPut, "lock_by"
	}
	body, _ := json.Marshal(map[string]string{"key": c.key, field: hk.holder})
	req, err := http.NewRequestWithContext(ctx, method, baseURL+"/lock/"+url.PathEscape(hk.lock), bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return false
	}
	before, oursBefore := c.counts[hk], c.ours(hk.lock)
	highest := c.tokens.highest()
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			c.stats.refused++ // never reached the server
		} else {
			c.stats.unknown++
			c.unknown = &unknownOp{holdKey: hk, put: put, before: before}
		}
		return false
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		// The status is known but the body was cut: a 200 was sent, so
		// the change is durable; anything else changed nothing. Keep it
		// simple and exact: only a 200 can have changed the count.
		if resp.StatusCode == http.StatusOK {
			c.stats.unknown++
			c.unknown = &unknownOp{holdKey: hk, put: put, before: before}
		}
		return false
	}
	var got lockState
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Errorf("client %d: %s %s: %d with a body that is not JSON: %q", c.id, method, hk.lock, resp.StatusCode, raw)
		return false
	}
	fail := func(format string, args ...any) bool {
		t.Errorf("client %d: %s %q as %q (count before %d, client's holds on the lock %d): %d %s: %s",
			c.id, method, hk.lock, hk.holder, before, oursBefore, resp.StatusCode, raw, fmt.Sprintf(format, args...))
		return false
	}
	switch resp.StatusCode {
	case http.StatusOK:
		want := before + 1
		if !put {
			want = max(before-1, 0)
		}
		if got.LockedBy[hk.holder] != want {
			return fail("answer shows count %d, want %d", got.LockedBy[hk.holder], want)
		}
		c.counts[hk] = want
		if want == 0 {
			delete(c.counts, hk)
		}
		if n := c.ours(hk.lock); n > 0 && got.Key != c.key {
			return fail("the client holds the lock %d times but its key is %q", n, got.Key)
		} else if n == 0 && (got.Key != "" || len(got.LockedBy) != 0) {
			return fail("the client holds nothing and a 200 to DELETE means the lock is free, but it shows key %q and holders %v", got.Key, got.LockedBy)
		}
		if put {
			var token struct {
				Fence uint64 `json:"fence"`
			}
			json.Unmarshal(raw, &token)
			switch f, known := c.fences[hk.lock]; {
			case oursBefore == 0 && token.Fence <= highest:
				return fail("a new holding period got fencing token %d, but %d was acknowledged before the request was sent", token.Fence, highest)
			case oursBefore > 0 && known && token.Fence != f:
				return fail("fencing token %d, but the client's holding period started with %d", token.Fence, f)
			}
			c.fences[hk.lock] = token.Fence
			c.tokens.acked(token.Fence)
		} else if c.ours(hk.lock) == 0 {
			delete(c.fences, hk.lock)
		}
		c.stats.ok++
		if c.onAck != nil {
			c.onAck()
		}
	case http.StatusLocked:
		if oursBefore > 0 {
			return fail("423 although the lock is keyed by the client's key")
		}
		if got.Error == "" {
			return fail("423 without an error message")
		}
		c.stats.conflict++
	default:
		return fail("unexpected status")
	}
	return true
}

// getLocks reads GET /locks into the model's shape.
func getLocks(t testing.TB, client *http.Client, baseURL string) map[string]lockState {
	t.Helper()
	status, body := do(t, client, http.MethodGet, baseURL+"/locks", "")
	if status != http.StatusOK {
		t.Fatalf("GET /locks: %d %s", status, body)
	}
	var locks map[string]lockState
	if err := json.Unmarshal([]byte(body), &locks); err != nil {
		t.Fatalf("GET /locks: %v: %s", err, body)
	}
	return locks
}

// checkRestart compares what a restarted server shows with the clients'
// models, then makes the models adopt it. when names the moment for errors.
func checkRestart(t *testing.T, when string, clients []*loadClient, observed map[string]lockState) {
	t.Helper()
	owner := map[string]*loadClient{}
	for _, c := range clients {
		for _, h := range c.holders {
			owner[h] = c
		}
	}
	// Lock level, for the locks the clients use.
	names := map[string]bool{}
	for _, c := range clients {
		for _, name := range c.locks {
			names[name] = true
		}
	}
	for name, l := range observed {
		if !names[name] {
			continue
		}
		if l.LockedBy == nil {
			t.Errorf("%s: lock %q has locked_by null, want an object", when, name)
		}
		if len(l.LockedBy) == 0 {
			if l.Key != "" {
				t.Errorf("%s: lock %q has no holders but key %q", when, name, l.Key)
			}
			continue
		}
		for h, n := range l.LockedBy {
			c := owner[h]
			switch {
			case c == nil:
				t.Errorf("%s: lock %q has holder %q that no client uses", when, name, h)
			case n <= 0:
				t.Errorf("%s: lock %q lists holder %q with count %d", when, name, h, n)
			case l.Key != c.key:
				t.Errorf("%s: lock %q is keyed %q but holder %q belongs to %q", when, name, l.Key, h, c.key)
			}
		}
	}
	// Hold level: every pair any client could have touched.
	for _, c := range clients {
		applied := false
		for _, name := range c.locks {
			for _, h := range c.holders {
				hk := holdKey{name, h}
				got := observed[name].LockedBy[h]
				allowed := []int{c.counts[hk]}
				if c.unknown != nil && c.unknown.holdKey == hk {
					allowed = c.unknown.outcomes()
					applied = got != c.unknown.before
				}
				if !containsInt(allowed, got) {
					what := "acknowledged"
					if len(allowed) > 1 {
						what = fmt.Sprintf("acknowledged %d, then an unanswered %s", c.unknown.before, map[bool]string{true: "PUT", false: "DELETE"}[c.unknown.put])
					}
					t.Errorf("%s: lock %q holder %q: server shows count %d, model allows %v (%s)", when, name, h, got, allowed, what)
				}
				if got > 0 {
					c.counts[hk] = got
				} else {
					delete(c.counts, hk)
				}
			}
		}
		if applied {
			c.stats.unknownApplied++
		}
		for name := range c.fences {
			if c.ours(name) == 0 || c.unknown != nil && c.unknown.lock == name {
				delete(c.fences, name) // a holding period the model cannot follow
			}
		}
		c.unknown = nil
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// crashLockNames are the locks the crash test fights over, including names
// that need percent-encoding.
func crashLockNames(n int) []string {
	names := []string{"prod deploy", "a/b", "zürich-🔒"}
	for i := len(names); i < n; i++ {
		names = append(names, fmt.Sprintf("lock-%02d", i))
	}
	return names
}

// TestCrashSIGKILLUnderLoad runs the real binary under concurrent load, kills
// it with SIGKILL at random moments, restarts it on the same data file, and
// checks after every restart that the server started and shows exactly what
// was acknowledged (see the model above).
func TestCrashSIGKILLUnderLoad(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))

	dataFile := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + dataFile}
	clients := newLoadClients(8, crashLockNames(20))
	var total loadStats
	for round := range rounds {
		s, err := tryStartServer(t, env)
		if err != nil {
			t.Fatalf("round %d: the server did not start after a SIGKILL: %v", round, err)
		}
		checkRestart(t, fmt.Sprintf("round %d, after restart", round), clients, getLocks(t, nil, s.URL))
		if t.Failed() {
			t.FailNow()
		}
		// Most rounds wait for the load to be running before the random
		// delay (a race-enabled server can take a while to get going);
		// every fourth counts the delay from the moment it listens.
		var once sync.Once
		loaded := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range clients {
			crnd := rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64()))
			c.onAck = func() { once.Do(func() { close(loaded) }) }
			wg.Go(func() { c.run(context.Background(), t, s.URL, crnd) })
		}
		if round%4 != 3 {
			select {
			case <-loaded:
			case <-time.After(20 * time.Second):
				t.Errorf("round %d: no request was acknowledged within 20s", round)
			}
		}
		time.Sleep(time.Duration(20+rnd.IntN(281)) * time.Millisecond)
		s.Kill()
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	s := startServer(t, env)
	checkRestart(t, "after the last round", clients, getLocks(t, nil, s.URL))
	for _, c := range clients {
		total.add(c.stats)
	}
	t.Logf("%d rounds: %d acknowledged changes, %d conflicts (423), %d refused, %d unanswered at the kill (%d of them applied)",
		rounds, total.ok, total.conflict, total.refused, total.unknown, total.unknownApplied)
	if total.ok == 0 {
		t.Fatal("no request was acknowledged: the load never ran")
	}
	held := 0
	for _, l := range getLocks(t, nil, s.URL) {
		if len(l.LockedBy) > 0 {
			held++
		}
	}
	t.Logf("%d locks held at the end", held)
}
