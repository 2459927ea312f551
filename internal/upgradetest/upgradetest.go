// Package upgradetest checks that data an older Locker wrote is read by the
// current one as the older server listed it: the golden sets under
// filestore/testdata/upgrade and pgstore/testdata/upgrade, each written by
// an older binary (gen/main.go, run by hand) with expected.json, the old
// server's own answers to GET /locks, GET /lock/NAME, its history and
// GET /pools at the time.
package upgradetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// Expected is expected.json: what the old server answered.
type Expected struct {
	Rev     string                     `json:"rev"`
	Locks   json.RawMessage            `json:"locks"`
	Lock    map[string]json.RawMessage `json:"lock"`
	History map[string]json.RawMessage `json:"history"`
	Pools   json.RawMessage            `json:"pools"`
	// MaxFence is the highest fence the old server handed out, also in
	// holding periods that are over.
	MaxFence uint64 `json:"max_fence"`
}

// Load reads an expected.json.
func Load(t testing.TB, path string) Expected {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e Expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return e
}

// Serve serves store through the current service and API for the test.
func Serve(t testing.TB, store lock.Store) string {
	t.Helper()
	svc := lockservice.New(store, lockservice.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{Version: "test"}))
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
		cancel()
	})
	return srv.URL
}

// Check checks the server at base, which was started on a golden set,
// against exp: the listing, each lock, its history and the pools read back
// as the old server listed them; a free lock forgotten and taken again
// starts afresh (forgetAndRetake); a held lock refuses another key; every
// hold is released with its old key and holder; fences go on above every
// one the old server handed out; pools hand out their members. It changes
// the data.
func Check(t *testing.T, base string, exp Expected) {
	t.Helper()
	c := client{t: t, base: base}

	// Read back as listed.
	same(t, "GET /locks", exp.Locks, c.get("/locks"))
	for _, n := range sorted(exp.Lock) {
		same(t, "GET /lock/"+n, exp.Lock[n], c.get("/lock/"+escape(n)))
		same(t, "GET /lock/"+n+"/history", exp.History[n], c.get("/lock/"+escape(n)+"/history"))
	}
	if exp.Pools != nil {
		same(t, "GET /pools", exp.Pools, c.get("/pools"))
	}

	var listed map[string]view
	if err := json.Unmarshal(exp.Locks, &listed); err != nil {
		t.Fatal(err)
	}
	forgetAndRetake(t, c, exp, listed)

	held := 0
	for _, n := range sorted(listed) {
		l := listed[n]
		if l.Key == "" {
			continue
		}
		held++
		// Still held: another key is refused.
		if st, body := c.do("PUT", "/lock/"+escape(n), `{"key":"not-the-old-key","lock_by":"intruder"}`); st != http.StatusLocked {
			t.Errorf("PUT /lock/%s with another key: %d %s, want 423 (the old hold is lost)", n, st, body)
		}
		// Released with the old key and holders, one count at a time.
		for _, h := range sorted(l.LockedBy) {
			for i := l.LockedBy[h]; i > 0; i-- {
				body := mustJSON(map[string]string{"key": l.Key, "locked_by": h})
				st, b := c.do("DELETE", "/lock/"+escape(n), body)
				var got view
				json.Unmarshal(b, &got)
				if st != http.StatusOK || got.LockedBy[h] != i-1 {
					t.Errorf("DELETE /lock/%s %s: %d %s, want 200 and count %d", n, body, st, b, i-1)
				}
			}
		}
		var now view
		json.Unmarshal(c.get("/lock/"+escape(n)), &now)
		if now.Key != "" || len(now.LockedBy) != 0 || now.State != "free" {
			t.Errorf("lock %q after releasing every old hold: %+v, want free", n, now)
		}
	}
	if held == 0 {
		t.Errorf("golden set %s lists no held lock", exp.Rev)
	}

	// Fences go on upward, for an old lock and a new one.
	for _, n := range []string{"fence-mover", "new-after-upgrade"} {
		st, b := c.do("PUT", "/lock/"+n, `{"key":"after-upgrade"}`)
		var got view
		json.Unmarshal(b, &got)
		if st != http.StatusOK || got.Fence <= exp.MaxFence {
			t.Errorf("PUT /lock/%s: %d %s, want 200 and a fence above %d, the old server's highest", n, st, b, exp.MaxFence)
		}
	}

	// Pools hand out their members, metadata and all.
	if exp.Pools != nil {
		var pools map[string]struct {
			Members map[string]view `json:"members"`
		}
		if err := json.Unmarshal(exp.Pools, &pools); err != nil {
			t.Fatal(err)
		}
		if len(pools) == 0 {
			t.Errorf("golden set %s lists no pool", exp.Rev)
		}
		for _, p := range sorted(pools) {
			// Every member, each once; then back, for the next pool
			// (a member may be in several).
			key := `{"key":"after-upgrade-` + p + `"}`
			got := map[string]bool{}
			for range pools[p].Members {
				st, b := c.do("PUT", "/pool/"+p, key)
				var v view
				json.Unmarshal(b, &v)
				m, ok := pools[p].Members[v.Name]
				if st != http.StatusOK || !ok || got[v.Name] {
					t.Errorf("PUT /pool/%s: %d %s, want 200 and one of %v not handed out yet", p, st, b, sorted(pools[p].Members))
					continue
				}
				got[v.Name] = true
				if !equalJSON(m.Metadata, v.Metadata) {
					t.Errorf("PUT /pool/%s gave %q with metadata %s, listed with %s", p, v.Name, v.Metadata, m.Metadata)
				}
			}
			for n := range got {
				if st, b := c.do("DELETE", "/lock/"+escape(n), key); st != http.StatusOK {
					t.Errorf("DELETE /lock/%s: %d %s", n, st, b)
				}
			}
		}
	}
}

// forgetAndRetake forgets a lock the old server left free and in no pool
// (of those whose history it captured, the one it took last: the highest
// fence) and takes it again, after the listing is checked and before
// anything else changes: the lock is gone (404, with its history, and from
// the listing), and taken again it starts afresh, its fence above every
// one it had and every one the old server handed out (the counter was not
// restarted, nor the lock's own fences), its history only the new hold,
// the listing the old server's but for it. An event stream opened before
// sees the lock forgotten, then acquired. With PostgreSQL the old rows
// were given lifetime 1 by migration 6, and the new row must come after
// them (pgstore/order.go). A set without such a lock is left alone.
func forgetAndRetake(t *testing.T, c client, exp Expected, listed map[string]view) {
	t.Helper()
	name := ""
	for _, n := range sorted(listed) {
		l := listed[n]
		_, captured := exp.Lock[n] // not a throwaway lock (churn, split)
		if captured && l.Key == "" && len(l.Pools) == 0 && l.Waiters == 0 && (name == "" || l.Fence > listed[name].Fence) {
			name = n
		}
	}
	if name == "" {
		t.Logf("golden set %s lists no free lock in no pool: none forgotten", exp.Rev)
		return
	}
	path := "/lock/" + escape(name)
	// Every fence the lock had: its own, and its history's (as read back,
	// checked above when the old server's was captured).
	before := listed[name].Fence
	var hist struct {
		Events []lock.Event `json:"events"`
	}
	if err := json.Unmarshal(c.get(path+"/history"), &hist); err != nil {
		t.Fatalf("GET %s/history: %v", path, err)
	}
	for _, e := range hist.Events {
		before = max(before, e.Fence)
	}

	events, stop := c.events()
	defer stop()
	if st, b := c.do("POST", path+"/forget", ""); st != http.StatusOK {
		t.Fatalf("POST %s/forget, a free lock the old server left: %d %s, want 200", path, st, b)
	}
	for _, p := range []string{path, path + "/history"} {
		if st, b := c.do("GET", p, ""); st != http.StatusNotFound {
			t.Errorf("GET %s after the lock was forgotten: %d %s, want 404", p, st, b)
		}
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(c.get("/locks"), &all); err != nil {
		t.Fatalf("GET /locks: %v", err)
	}
	if l, ok := all[name]; ok {
		t.Errorf("GET /locks after %q was forgotten still lists it: %s", name, l)
	}

	st, b := c.do("PUT", path, `{"key":"after-forget","lock_by":"retaker"}`)
	var got view
	json.Unmarshal(b, &got)
	if st != http.StatusOK || got.Fence <= before || got.Fence <= exp.MaxFence {
		t.Errorf("PUT %s after it was forgotten: %d %s, want 200 and a fence above %d, its highest before, and %d, the old server's", path, st, b, before, exp.MaxFence)
	}
	one := c.get(path)
	var now view
	json.Unmarshal(one, &now)
	if now.Key != "after-forget" || !reflect.DeepEqual(now.LockedBy, map[string]int{"retaker": 1}) || now.State != "held" || now.Fence != got.Fence {
		t.Errorf("GET %s after it was taken again (fence %d): %s, want held by retaker under key after-forget with that fence", path, got.Fence, one)
	}
	var after struct {
		Events []lock.Event `json:"events"`
	}
	if err := json.Unmarshal(c.get(path+"/history"), &after); err != nil {
		t.Fatalf("GET %s/history: %v", path, err)
	}
	if h := after.Events; len(h) != 1 || h[0].Type != lock.Acquired || h[0].Key != "after-forget" || h[0].Holder != "retaker" || h[0].Count != 1 || h[0].Fence != got.Fence {
		t.Errorf("GET %s/history after it was forgotten and taken again (fence %d): %s, want the new hold's acquired only", path, got.Fence, mustJSON(h))
	}
	t.Logf("forgot %.40q (fence %d at most) and took it again: fence %d", name, before, got.Fence)
	// The listing: the old server's, but for the lock as it is now.
	var want map[string]json.RawMessage
	if err := json.Unmarshal(exp.Locks, &want); err != nil {
		t.Fatal(err)
	}
	want[name] = one
	same(t, "GET /locks after "+name+" was forgotten and taken again (the old listing but for it)", []byte(mustJSON(want)), c.get("/locks"))

	// The stream: forgotten, then acquired with the new fence.
	var seen []lock.Event
	for timeout := time.After(time.Minute); len(seen) < 2; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Errorf("GET /events ended after %s, want %q's forgotten and acquired", mustJSON(seen), name)
				return
			}
			if e.Lock == name {
				seen = append(seen, e)
			}
		case <-timeout:
			t.Errorf("GET /events: %s after a minute, want %q's forgotten and acquired", mustJSON(seen), name)
			return
		}
	}
	if seen[0].Type != lock.Forgotten || seen[1].Type != lock.Acquired || seen[1].Fence != got.Fence {
		t.Errorf("GET /events for %q: %s, want forgotten, then acquired with fence %d", name, mustJSON(seen), got.Fence)
	}
}

// events streams GET /events, every event of it once the stream is
// connected, until stop. The stream of a store that cannot report yet
// (503: PostgreSQL's LISTEN connection not made yet) is asked for again.
func (c client) events() (<-chan lock.Event, func()) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var resp *http.Response
	for deadline := time.Now().Add(time.Minute); ; {
		req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/events", nil)
		if err != nil {
			c.t.Fatal(err)
		}
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			c.t.Fatalf("GET /events: %v", err)
		}
		if resp.StatusCode == http.StatusOK {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			cancel()
			c.t.Fatalf("GET /events: %d %s", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Subscribed once ": connected" is sent.
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && sc.Text() != ": connected" {
	}
	if sc.Err() != nil {
		cancel()
		c.t.Fatalf("GET /events: %v", sc.Err())
	}
	out := make(chan lock.Event, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		defer resp.Body.Close()
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e lock.Event
			if json.Unmarshal([]byte(data), &e) != nil {
				e = lock.Event{Type: lock.EventType("undecodable: " + data)}
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, func() { cancel(); <-done }
}

// view is the part of a lock object the checks act on.
type view struct {
	Name     string          `json:"name"`
	Key      string          `json:"key"`
	LockedBy map[string]int  `json:"locked_by"`
	State    string          `json:"state"`
	Fence    uint64          `json:"fence"`
	Metadata json.RawMessage `json:"metadata"`
	Pools    []string        `json:"pools"`
	Waiters  int             `json:"waiters"`
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// get returns the body of a 200, or {"status":N} as the generator stored
// other answers.
func (c client) get(path string) []byte {
	c.t.Helper()
	st, b := c.do("GET", path, "")
	if st != http.StatusOK {
		return fmt.Appendf(nil, `{"status":%d}`, st)
	}
	return b
}

// same reports where got differs from want, the old server's answer.
func same(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, err := decode(want)
	if err != nil {
		t.Fatalf("%s: expected.json: %v", what, err)
	}
	g, err := decode(got)
	if err != nil {
		t.Errorf("%s: %v in %s", what, err, got)
		return
	}
	if diffs := diff("", w, g, nil); len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
		}
		t.Errorf("%s differs from the old server's answer:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// added are the fields the current version may add to an object the old
// one sent: none so far.
var added = map[string]bool{}

// diff lists the differences between want and got. Objects must have the
// same keys (holders, locks, members: a key more is a difference too),
// but for the fields in added; times are compared as instants, so that a
// change of their spelling alone is none.
func diff(path string, want, got any, out []string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return append(out, fmt.Sprintf("%s: %v, was %v", path, short(got), short(want)))
		}
		for _, k := range sorted(w) {
			if _, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing, was %v", path, k, short(w[k])))
				continue
			}
			out = diff(path+"."+k, w[k], g[k], out)
		}
		for _, k := range sorted(g) {
			if _, ok := w[k]; !ok && !added[k] {
				out = append(out, fmt.Sprintf("%s.%s: %v, was not there", path, k, short(g[k])))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return append(out, fmt.Sprintf("%s: %v, was %v", path, short(got), short(want)))
		}
		for i := range w {
			out = diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], out)
		}
		return out
	case string:
		if g, ok := got.(string); ok && g != w {
			wt, err1 := time.Parse(time.RFC3339Nano, w)
			gt, err2 := time.Parse(time.RFC3339Nano, g)
			if err1 == nil && err2 == nil && wt.Equal(gt) {
				return out
			}
		}
	}
	if !reflect.DeepEqual(want, got) {
		out = append(out, fmt.Sprintf("%s: %v, was %v", path, short(got), short(want)))
	}
	return out
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func equalJSON(a, b json.RawMessage) bool {
	x, err1 := decode(a)
	y, err2 := decode(b)
	return err1 == nil && err2 == nil && reflect.DeepEqual(x, y)
}

// escape escapes a lock name for a path, dots too (Go's server would
// clean /lock/.. away).
func escape(n string) string {
	return strings.ReplaceAll(url.PathEscape(n), ".", "%2E")
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sorted[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
