package pgstore_test

// Pools on PostgreSQL with several replicas, through the HTTP API: three
// servers — each its own Store, lockservice.Service and HTTP server — on one
// schema, with clients spread over them. No member is ever held by two
// clients, every client is served, and waiters for a pool are served in
// arrival order across replicas.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/pgstore"
	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// poolServer is one replica serving the HTTP API.
type poolServer struct {
	name, url string
}

// startPoolServers starts n replicas on dbURL, each serving the API over
// loopback; they stop when the test ends.
func startPoolServers(t *testing.T, dbURL string, n int) []*poolServer {
	t.Helper()
	var out []*poolServer
	for i := range n {
		name := fmt.Sprintf("pool-replica-%c", 'a'+i)
		store, err := pgstore.Open(context.Background(), dbURL, pgstore.Options{Replica: name})
		if err != nil {
			t.Fatalf("opening %s: %v", name, err)
		}
		svc := lockservice.New(store, lockservice.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		if err := svc.Start(ctx); err != nil {
			cancel()
			store.Close()
			t.Fatalf("starting %s: %v", name, err)
		}
		srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{Version: "test"}))
		t.Cleanup(func() {
			srv.Close()
			svc.Close()
			cancel()
			store.Close()
		})
		out = append(out, &poolServer{name: name, url: srv.URL})
	}
	return out
}

// do sends a request and returns the status and body; a failed request is
// a test error and status 0. Safe from any goroutine.
func (p *poolServer) do(t *testing.T, method, path, body string) (int, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s: %s %s: %v", p.name, method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Errorf("%s: %s %s: %d %s", p.name, method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, b
}

// must is do that fails the test (from the test's goroutine) unless the
// status is want.
func (p *poolServer) must(t *testing.T, want int, method, path, body string) []byte {
	t.Helper()
	status, b := p.do(t, method, path, body)
	if status != want {
		t.Fatalf("%s: %s %s: %d %s, want %d", p.name, method, path, status, b, want)
	}
	return b
}

type poolMember struct {
	Name      string          `json:"name"`
	Key       string          `json:"key"`
	LockedBy  map[string]int  `json:"locked_by"`
	State     string          `json:"state"`
	Fence     uint64          `json:"fence"`
	Pools     []string        `json:"pools"`
	Metadata  json.RawMessage `json:"metadata"`
	FreeSince *time.Time      `json:"free_since"`
}

type poolState struct {
	Name    string                `json:"name"`
	Members map[string]poolMember `json:"members"`
	Free    int                   `json:"free"`
	Total   int                   `json:"total"`
	Waiters int                   `json:"waiters"`
}

func (p *poolServer) pool(t *testing.T, name string) poolState {
	t.Helper()
	var ps poolState
	if err := json.Unmarshal(p.must(t, 200, "GET", "/pool/"+url.PathEscape(name), ""), &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

type poolEvent struct {
	Type  string   `json:"type"`
	Key   string   `json:"key"`
	Count int      `json:"count"`
	Fence uint64   `json:"fence"`
	Pools []string `json:"pools"`
}

func (p *poolServer) history(t *testing.T, name string) []poolEvent {
	t.Helper()
	var h struct {
		Events []poolEvent `json:"events"`
	}
	if err := json.Unmarshal(p.must(t, 200, "GET", "/lock/"+url.PathEscape(name)+"/history", ""), &h); err != nil {
		t.Fatal(err)
	}
	return h.Events
}

// waitUntil polls cond every 20ms for up to 20s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 20s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sameJSONValue(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestPoolReplicasMembershipAndMetadata: a member added through one replica
// is seen, with its metadata, by the others, and taken through them.
func TestPoolReplicasMembershipAndMetadata(t *testing.T) {
	rs := startPoolServers(t, pgtest.Schema(t), 3)
	md := `{"host":"aws-1.example.com","ports":[22,443],"nested":{"a":[true,null,"ü"]},"big":12345678901234567890}`
	rs[0].must(t, 200, "PUT", "/pool/aws/aws-1", `{"metadata":`+md+`}`)
	rs[1].must(t, 200, "PUT", "/pool/aws/aws-2", `{"metadata":"two"}`)
	// jsonb cannot hold a NUL character: refused as bad input (as the
	// file store refuses it), not a database failure. An escaped
	// backslash before "u0000" is no NUL.
	if status, body := rs[2].do(t, "PUT", "/pool/aws/aws-1", `{"metadata":"a\u0000b"}`); status != 400 || !strings.Contains(string(body), "NUL") {
		t.Errorf("metadata with a NUL character: %d %s, want 400", status, body)
	}
	// Nor can it hold a number past its numeric type, and a key twice
	// would come back once: refused too, not a 503 or a quiet change.
	for body, want := range map[string]string{
		`{"metadata":1e1000000}`:     "double",
		`{"metadata":[-1e-16384]}`:   "double",
		`{"metadata":[0e-17000]}`:    "exponent",
		`{"metadata":{"a":1,"a":2}}`: "twice",
	} {
		if status, b := rs[2].do(t, "PUT", "/pool/aws/aws-1", body); status != 400 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want 400", body, status, b)
		}
	}
	rs[2].must(t, 200, "PUT", "/pool/aws/aws-3", `{"metadata":"a\\u0000b"}`)
	rs[2].must(t, 200, "DELETE", "/pool/aws/aws-3", "")
	for _, r := range rs {
		p := r.pool(t, "aws")
		if p.Total != 2 || p.Free != 2 || !sameJSONValue(p.Members["aws-1"].Metadata, []byte(md)) || !sameJSONValue(p.Members["aws-2"].Metadata, []byte(`"two"`)) {
			t.Errorf("%s sees pool aws as %+v", r.name, p)
		}
	}
	var a, b poolMember
	json.Unmarshal(rs[1].must(t, 200, "PUT", "/pool/aws?key=j1", ""), &a)
	json.Unmarshal(rs[2].must(t, 200, "PUT", "/pool/aws?key=j2", ""), &b)
	if a.Name == b.Name || a.Name != "aws-1" {
		t.Errorf("two replicas handed out %s and %s; want aws-1 (free longest) then aws-2", a.Name, b.Name)
	}
	if !sameJSONValue(a.Metadata, []byte(md)) {
		t.Errorf("metadata through replica b: %s", a.Metadata)
	}
	rs[0].must(t, 423, "PUT", "/pool/aws?key=j3", "")
	rs[0].must(t, 423, "DELETE", "/pool/aws/aws-1", "")
	rs[2].must(t, 200, "DELETE", "/lock/aws-1?key=j1", "")
	rs[0].must(t, 200, "DELETE", "/pool/aws/aws-1", "")
	for _, r := range rs {
		if p := r.pool(t, "aws"); p.Total != 1 {
			t.Errorf("%s after removal: %+v", r.name, p)
		}
	}
}

// grantSeen is one client's hold on a member: start when the acquisition's
// 200 had arrived, end when the release was about to be sent, from one
// sequence shared by all clients. The member was that client's over at
// least [start, end].
type grantSeen struct {
	client      int
	member      string
	fence       uint64
	start, end  int64
	via, freeBy string
}

// TestPoolReplicasManyClients: twelve clients spread over three replicas
// take members of a three-member pool with blocking waits, work a little,
// and release — through another replica than the one they acquired from, so
// that every hand-off crosses replicas. No member is ever held by two
// clients; everyone is served.
func TestPoolReplicasManyClients(t *testing.T) {
	rs := startPoolServers(t, pgtest.Schema(t), 3)
	members := []string{"env-1", "env-2", "env-3"}
	for i, m := range members {
		rs[i].must(t, 200, "PUT", "/pool/envs/"+m, fmt.Sprintf(`{"metadata":{"host":"%s.example.com"}}`, m))
	}
	const clients, rounds = 12, 4
	var seq atomic.Int64
	inside := map[string]*atomic.Int32{}
	for _, m := range members {
		inside[m] = new(atomic.Int32)
	}
	var mu sync.Mutex
	var grants []grantSeen
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("client-%d", c)
			via, freeBy := rs[c%len(rs)], rs[(c+1)%len(rs)]
			for round := range rounds {
				status, body := via.do(t, "PUT", "/pool/envs", fmt.Sprintf(`{"key":%q,"wait":"2m"}`, key))
				if status != 200 {
					t.Errorf("%s round %d via %s: %d %s", key, round, via.name, status, body)
					return
				}
				start := seq.Add(1)
				var m poolMember
				if err := json.Unmarshal(body, &m); err != nil || m.Key != key || m.LockedBy[key] != 1 || inside[m.Name] == nil {
					t.Errorf("%s round %d: acquired %s", key, round, body)
					return
				}
				if n := inside[m.Name].Add(1); n != 1 {
					t.Errorf("%s had %d holders when %s got it", m.Name, n, key)
				}
				if want := fmt.Sprintf(`{"host":"%s.example.com"}`, m.Name); !sameJSONValue(m.Metadata, []byte(want)) {
					t.Errorf("%s: metadata %s", m.Name, m.Metadata)
				}
				time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
				inside[m.Name].Add(-1)
				end := seq.Add(1)
				mu.Lock()
				grants = append(grants, grantSeen{client: c, member: m.Name, fence: m.Fence, start: start, end: end, via: via.name, freeBy: freeBy.name})
				mu.Unlock()
				status, body = freeBy.do(t, "DELETE", "/lock/"+m.Name, fmt.Sprintf(`{"key":%q}`, key))
				if status != 200 || !strings.Contains(string(body), "the lock is free") {
					t.Errorf("%s round %d: release of %s via %s: %d %s", key, round, m.Name, freeBy.name, status, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(grants) != clients*rounds {
		t.Fatalf("%d of %d acquisitions served", len(grants), clients*rounds)
	}
	served := map[int]int{}
	byMember := map[string][]grantSeen{}
	fences := map[uint64]grantSeen{}
	for _, g := range grants {
		served[g.client]++
		byMember[g.member] = append(byMember[g.member], g)
		if other, dup := fences[g.fence]; dup {
			t.Errorf("fence %d issued twice: client %d on %s and client %d on %s", g.fence, other.client, other.member, g.client, g.member)
		}
		fences[g.fence] = g
	}
	for c := range clients {
		if served[c] != rounds {
			t.Errorf("client %d served %d times, want %d", c, served[c], rounds)
		}
	}
	for m, gs := range byMember {
		sort.Slice(gs, func(i, j int) bool { return gs[i].start < gs[j].start })
		for i := 1; i < len(gs); i++ {
			if gs[i].start <= gs[i-1].end {
				t.Errorf("%s held by client %d (via %s) over [%d, %d] and by client %d (via %s) from %d", m, gs[i-1].client, gs[i-1].via, gs[i-1].start, gs[i-1].end, gs[i].client, gs[i].via, gs[i].start)
			}
			if gs[i].fence <= gs[i-1].fence {
				t.Errorf("%s: fence %d after %d", m, gs[i].fence, gs[i-1].fence)
			}
		}
	}
	// The database's record agrees: on each member, acquisitions and
	// releases alternate, all while in the pool.
	total := 0
	for _, m := range members {
		holder := ""
		for i, ev := range rs[2].history(t, m) {
			switch ev.Type {
			case "acquired":
				if holder != "" {
					t.Errorf("%s event %d: acquired by %s while %s held it", m, i, ev.Key, holder)
				}
				if !slices.Contains(ev.Pools, "envs") {
					t.Errorf("%s event %d: acquired outside the pool", m, i)
				}
				holder = ev.Key
				total++
			case "released":
				holder = ""
			}
		}
	}
	if total != clients*rounds {
		t.Errorf("the members' histories record %d acquisitions, want %d", total, clients*rounds)
	}
	for _, r := range rs {
		if p := r.pool(t, "envs"); p.Free != 3 || p.Waiters != 0 {
			t.Errorf("%s afterwards: %+v", r.name, p)
		}
	}
}

// TestPoolReplicasWaitersServedInArrivalOrder: with every member held,
// clients queue one after another through different replicas (each seen in
// the shared waiter count before the next comes); then every member is
// released at once and each served client works a little and releases.
// Grants, in fence order (the database's sequence, in commit order), follow
// arrival order exactly.
func TestPoolReplicasWaitersServedInArrivalOrder(t *testing.T) {
	rs := startPoolServers(t, pgtest.Schema(t), 3)
	members := []string{"m1", "m2", "m3"}
	for _, m := range members {
		rs[0].must(t, 200, "PUT", "/pool/p/"+m, "")
	}
	var blockers []poolMember
	for i := range members {
		var b poolMember
		json.Unmarshal(rs[i].must(t, 200, "PUT", fmt.Sprintf("/pool/p?key=blocker-%d", i), ""), &b)
		blockers = append(blockers, b)
	}
	const clients = 9
	type result struct {
		client int
		m      poolMember
		err    string
	}
	results := make(chan result, clients)
	for c := range clients {
		via := rs[c%len(rs)]
		key := fmt.Sprintf("client-%d", c)
		go func() {
			status, body := via.do(t, "PUT", "/pool/p?wait=2m&key="+key, "")
			if status != 200 {
				results <- result{client: c, err: fmt.Sprintf("via %s: %d %s", via.name, status, body)}
				return
			}
			var m poolMember
			json.Unmarshal(body, &m)
			time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
			if status, body := via.do(t, "DELETE", "/lock/"+m.Name+"?key="+key, ""); status != 200 {
				results <- result{client: c, err: fmt.Sprintf("release: %d %s", status, body)}
				return
			}
			results <- result{client: c, m: m}
		}()
		waitUntil(t, fmt.Sprintf("client %d to queue", c), func() bool { return rs[(c+1)%len(rs)].pool(t, "p").Waiters == c+1 })
	}
	var wg sync.WaitGroup
	for i, b := range blockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body := rs[(i+2)%len(rs)].do(t, "DELETE", "/lock/"+b.Name+"?key="+b.Key, ""); status != 200 {
				t.Errorf("releasing %s: %d %s", b.Name, status, body)
			}
		}()
	}
	wg.Wait()
	var got []result
	for range clients {
		select {
		case r := <-results:
			if r.err != "" {
				t.Fatalf("client %d: %s", r.client, r.err)
			}
			got = append(got, r)
		case <-time.After(2 * time.Minute):
			t.Fatalf("only %d of %d clients served after 2 minutes", len(got), clients)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].m.Fence < got[j].m.Fence })
	var order []int
	used := map[string]bool{}
	for _, r := range got {
		order = append(order, r.client)
		used[r.m.Name] = true
	}
	for i, c := range order {
		if c != i {
			t.Fatalf("grants in fence order went to clients %v; want arrival order 0..%d", order, clients-1)
		}
	}
	if len(used) < 2 {
		t.Errorf("every grant was of %v: the hand-offs were not concurrent", used)
	}
}
