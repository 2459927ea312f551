package httpapi_test

// Pools over HTTP: GET /pools, GET /pool/{pool}, PUT /pool/{pool} (take the
// member free longest), PUT and DELETE /pool/{pool}/{member}; members that
// stay ordinary locks; blocking waits; and many clients at once through the
// API: no member held twice, everyone served, first come first served.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// memberJSON is a lock object with the fields pool members add.
type memberJSON struct {
	lockJSON
	Since     *time.Time      `json:"since"`
	Pools     []string        `json:"pools"`
	Metadata  json.RawMessage `json:"metadata"`
	FreeSince *time.Time      `json:"free_since"`
}

// poolJSON is a pool as GET /pools and GET /pool/{pool} show it.
type poolJSON struct {
	Name    string                `json:"name"`
	Members map[string]memberJSON `json:"members"`
	Free    int                   `json:"free"`
	Total   int                   `json:"total"`
	Waiters int                   `json:"waiters"`
}

// poolEventJSON is an event with the fields pools add.
type poolEventJSON struct {
	eventJSON
	Pools []string `json:"pools"`
	Pool  string   `json:"pool"`
}

func (r reply) memberOf(t *testing.T) memberJSON {
	t.Helper()
	var m memberJSON
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decoding a lock from %s: %v", r.Body, err)
	}
	return m
}

// decodePool decodes one pool and checks its shape: exactly the documented
// fields, and counts that agree with its members.
func decodePool(t *testing.T, raw []byte) poolJSON {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("a pool is not a JSON object: %s", raw)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	if want := []string{"free", "members", "name", "total", "waiters"}; !slices.Equal(names, want) {
		t.Errorf("a pool has fields %v, want %v: %s", names, want, raw)
	}
	var p poolJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decoding a pool from %s: %v", raw, err)
	}
	free := 0
	for name, m := range p.Members {
		if m.Name != name {
			t.Errorf("pool %q: member under %q is named %q", p.Name, name, m.Name)
		}
		if !slices.Contains(m.Pools, p.Name) {
			t.Errorf("pool %q: member %q lists pools %v", p.Name, name, m.Pools)
		}
		if m.State == "free" {
			free++
			if m.FreeSince == nil {
				t.Errorf("pool %q: free member %q has no free_since", p.Name, name)
			}
		} else if m.FreeSince != nil {
			t.Errorf("pool %q: %s member %q has free_since %v", p.Name, m.State, name, m.FreeSince)
		}
	}
	if p.Total != len(p.Members) || p.Free != free {
		t.Errorf("pool %q: free %d total %d, but its members say %d of %d: %s", p.Name, p.Free, p.Total, free, len(p.Members), raw)
	}
	return p
}

// pool returns GET /pool/{name}.
func (s *httpStack) pool(t *testing.T, name string) poolJSON {
	t.Helper()
	r := s.do("GET", "/pool/"+url.PathEscape(name), "").expect(t, 200, "GET /pool/"+name)
	p := decodePool(t, r.Body)
	if p.Name != name {
		t.Fatalf("GET /pool/%s answered pool %q", name, p.Name)
	}
	return p
}

// pools returns GET /pools.
func (s *httpStack) pools(t *testing.T) map[string]poolJSON {
	t.Helper()
	r := s.do("GET", "/pools", "").expect(t, 200, "GET /pools")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("GET /pools is not a JSON object: %s", r.Body)
	}
	out := map[string]poolJSON{}
	for name, v := range raw {
		p := decodePool(t, v)
		if p.Name != name {
			t.Errorf("GET /pools: pool under %q is named %q", name, p.Name)
		}
		out[name] = p
	}
	return out
}

// addMember adds a member with metadata (a JSON text; "" for none).
func (s *httpStack) addMember(t *testing.T, pool, member, metadata string) memberJSON {
	t.Helper()
	body := ""
	if metadata != "" {
		body = `{"metadata":` + metadata + `}`
	}
	what := "PUT /pool/" + pool + "/" + member
	m := s.do("PUT", "/pool/"+url.PathEscape(pool)+"/"+url.PathEscape(member), body).expect(t, 200, what).memberOf(t)
	if m.Name != member || !slices.Contains(m.Pools, pool) || m.Response == "" {
		t.Fatalf("%s answered %+v", what, m)
	}
	return m
}

// take acquires any member of pool without waiting.
func (s *httpStack) take(t *testing.T, pool, key, holder string) memberJSON {
	t.Helper()
	what := fmt.Sprintf("take from %s with key %s", pool, key)
	m := s.do("PUT", "/pool/"+url.PathEscape(pool), jsonBody(map[string]string{"key": key, "lock_by": holder})).expect(t, 200, what).memberOf(t)
	if m.Key != key || m.LockedBy[holder] != 1 || !slices.Contains(m.Pools, pool) || m.FreeSince != nil {
		t.Fatalf("%s answered %s", what, mustJSON(m))
	}
	return m
}

// release gives back one hold on a lock through the ordinary route.
func (s *httpStack) release(t *testing.T, name, key, holder string) memberJSON {
	t.Helper()
	return s.do("DELETE", "/lock/"+url.PathEscape(name), jsonBody(map[string]string{"key": key, "locked_by": holder})).expect(t, 200, "release "+name).memberOf(t)
}

// poolHistory returns a lock's events with their pool fields.
func (s *httpStack) poolHistory(t *testing.T, name string) []poolEventJSON {
	t.Helper()
	r := s.do("GET", "/lock/"+url.PathEscape(name)+"/history", "").expect(t, 200, "history of "+name)
	var h struct {
		Events []poolEventJSON `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &h); err != nil {
		t.Fatalf("decoding history %s: %v", r.Body, err)
	}
	return h.Events
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return reflect.DeepEqual(x, y)
}

func TestPoolAddListAndGet(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	if r := s.do("GET", "/pools", "").expect(t, 200, "GET /pools"); strings.TrimSpace(string(r.Body)) != "{}" {
		t.Fatalf("GET /pools on a new server = %s, want {}", r.Body)
	}
	s.do("PUT", "/lock/plain", `{"key":"k"}`).expect(t, 200, "an ordinary lock")

	md1 := `{"host": "aws-1.example.com", "region":"us-east-1", "ports":[22, 443], "tags":{"tier":"a"}, "ok":true, "note":null}`
	m := s.addMember(t, "aws", "aws-1", md1)
	if m.State != "free" || m.Key != "" || len(m.LockedBy) != 0 || m.Fence != 0 || m.FreeSince == nil || m.Since != nil {
		t.Errorf("a new member: %s", mustJSON(m))
	}
	if !sameJSON(t, m.Metadata, []byte(md1)) {
		t.Errorf("metadata came back as %s, want %s", m.Metadata, md1)
	}
	if want := `"aws-1" is a member of pool "aws"`; m.Response != want {
		t.Errorf("response %q, want %q", m.Response, want)
	}
	// Any JSON value is metadata, Unicode and escapes included.
	others := map[string]string{
		"aws-2":    `"a string"`,
		"aws-3":    `[1, 2.5, -3e2]`,
		"aws/4 ü":  `{"emoji":"🔒","quote":"\"","nl":"a\nb","html":"<b>&</b>"}`,
		"aws-five": `12345`,
		"aws-six":  `"a backslash, then u0000: \\u0000"`,
	}
	for name, md := range others {
		if got := s.addMember(t, "aws", name, md); !sameJSON(t, got.Metadata, []byte(md)) {
			t.Errorf("metadata of %q came back as %s, want %s", name, got.Metadata, md)
		}
	}

	p := s.pool(t, "aws")
	if p.Total != 6 || p.Free != 6 || p.Waiters != 0 {
		t.Errorf("GET /pool/aws: %d of %d free, %d waiters; want 6 of 6, 0", p.Free, p.Total, p.Waiters)
	}
	if !sameJSON(t, p.Members["aws-1"].Metadata, []byte(md1)) || !sameJSON(t, p.Members["aws/4 ü"].Metadata, []byte(others["aws/4 ü"])) {
		t.Errorf("GET /pool/aws members: %s", mustJSON(p.Members))
	}
	all := s.pools(t)
	if len(all) != 1 || all["aws"].Total != 6 {
		t.Errorf("GET /pools = %s", mustJSON(all))
	}

	// Members are locks: GET /locks and GET /lock/{name} show the new fields;
	// an ordinary lock's object keeps the seed's shape, without them.
	list := s.list(t)
	for _, f := range []string{`"pools":["aws"]`, `"metadata":`, `"free_since":`} {
		if !strings.Contains(string(list["aws-1"]), f) {
			t.Errorf("GET /locks entry of a member lacks %s: %s", f, list["aws-1"])
		}
		if strings.Contains(string(list["plain"]), strings.Split(f, ":")[0]) {
			t.Errorf("GET /locks entry of an ordinary lock has %s: %s", f, list["plain"])
		}
	}
	if got := s.do("GET", "/lock/aws%2F4%20%C3%BC", "").expect(t, 200, "GET a member").memberOf(t); !sameJSON(t, got.Metadata, []byte(others["aws/4 ü"])) {
		t.Errorf("GET /lock/aws%%2F4: %s", mustJSON(got))
	}

	// Updating metadata replaces it; a PUT without metadata keeps it.
	s.addMember(t, "aws", "aws-1", `{"host":"new.example.com"}`)
	if got := s.addMember(t, "aws", "aws-1", ""); !sameJSON(t, got.Metadata, []byte(`{"host":"new.example.com"}`)) {
		t.Errorf("a PUT without metadata changed it to %s", got.Metadata)
	}
	if got := s.addMember(t, "aws", "aws-1", "null"); !sameJSON(t, got.Metadata, []byte(`{"host":"new.example.com"}`)) {
		t.Errorf(`{"metadata": null} changed it to %s`, got.Metadata)
	}

	// A lock in two pools, and an existing lock (held) joining a pool.
	s.addMember(t, "big", "aws-1", "")
	s.addMember(t, "big", "plain", `{"was":"plain"}`)
	all = s.pools(t)
	if len(all) != 2 || all["big"].Total != 2 || all["big"].Free != 1 || all["aws"].Total != 6 {
		t.Errorf("GET /pools after a second pool: %s", mustJSON(all))
	}
	if got := all["big"].Members["aws-1"].Pools; !slices.Equal(got, []string{"aws", "big"}) {
		t.Errorf("aws-1 is in pools %v, want [aws big]", got)
	}
	if got := all["big"].Members["plain"]; got.State != "held" || got.Key != "k" {
		t.Errorf("a held lock that joined a pool: %s", mustJSON(got))
	}
}

func TestPoolBadRequests(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.addMember(t, "p", "m", `{"a":1}`)
	long := strings.Repeat("x", lock.MaxNameLen+1)
	bad := []struct {
		what, method, path, body, want string
	}{
		{"control character in a pool name (GET)", "GET", "/pool/a%01b", "", "pool name must not contain control characters"},
		{"control character in a pool name (acquire)", "PUT", "/pool/a%01b?key=k", "", "pool name must not contain control characters"},
		{"control character in a pool name (add)", "PUT", "/pool/a%01b/m", "", "pool name must not contain control characters"},
		{"control character in a pool name (remove)", "DELETE", "/pool/a%01b/m", "", "pool name must not contain control characters"},
		{"control character in a member name (add)", "PUT", "/pool/p/m%0A", "", "lock name must not contain control characters"},
		{"control character in a member name (remove)", "DELETE", "/pool/p/m%7F", "", "lock name must not contain control characters"},
		{"a pool name over the limit", "GET", "/pool/" + long, "", "pool name is 513 bytes long"},
		{"a pool name over the limit (acquire)", "PUT", "/pool/" + long + "?key=k", "", "pool name is 513 bytes long"},
		{"a member name over the limit", "PUT", "/pool/p/" + long, "", "lock name is 513 bytes long"},
		{"invalid UTF-8 in a pool name", "PUT", "/pool/%FF/m", "", "pool name is not valid UTF-8"},
		{"acquire without a key", "PUT", "/pool/p", "", `missing "key"`},
		{"acquire with a bad key", "PUT", "/pool/p", `{"key":"a\u0000b"}`, "key must not contain control characters"},
		{"acquire with a bad wait", "PUT", "/pool/p?key=k&wait=soon", "", `wait: bad duration "soon"`},
		{"acquire with a negative ttl", "PUT", "/pool/p?key=k&ttl=-1s", "", `ttl: duration "-1s" must not be negative`},
		{"metadata that is not JSON", "PUT", "/pool/p/m", `{"metadata": {"a": }}`, "request body is not a JSON object"},
		{"metadata cut short", "PUT", "/pool/p/m", `{"metadata": [1, 2`, "request body is not a JSON object"},
		{"a body that is not an object", "PUT", "/pool/p/m", `["metadata"]`, "request body is not a JSON object"},
		{"data after the body", "PUT", "/pool/p/m", `{"metadata": 1} {}`, "request body has data after the JSON object"},
		// Valid JSON, but PostgreSQL cannot store it: refused alike by both
		// stores.
		{"a NUL character in metadata", "PUT", "/pool/p/m", `{"metadata": {"a": "x\u0000y"}}`, `metadata must not contain the NUL character`},
		// encoding/json accepts these, and would send the bytes on to
		// every reader of the pool.
		{"invalid UTF-8 in metadata", "PUT", "/pool/p/m", "{\"metadata\": {\"a\": \"\xff\xfe\"}}", "not valid UTF-8"},
		{"half a surrogate pair in metadata", "PUT", "/pool/p/m", `{"metadata": ["\udfff"]}`, "surrogate"},
		{"a key twice in metadata", "PUT", "/pool/p/m", `{"metadata": {"a": 1, "a": 2}}`, `the key "a" twice`},
		{"a number past a double in metadata", "PUT", "/pool/p/m", `{"metadata": 1e999}`, "which a double cannot hold"},
		{"remove with a bad force", "DELETE", "/pool/p/m?force=maybe", "", `force must be true or false, not "maybe"`},
	}
	for _, b := range bad {
		r := s.do(b.method, b.path, b.body).expect(t, 400, b.what)
		if e := r.errorOf(t); !strings.Contains(e.Error, b.want) {
			t.Errorf("%s: error %q, want it to say %q", b.what, e.Error, b.want)
		}
	}
	// Nothing changed.
	p := s.pool(t, "p")
	if p.Total != 1 || !sameJSON(t, p.Members["m"].Metadata, []byte(`{"a":1}`)) || len(s.pools(t)) != 1 {
		t.Errorf("after bad requests: %s", mustJSON(s.pools(t)))
	}
	if h := s.poolHistory(t, "m"); len(h) != 1 || h[0].Type != "added" {
		t.Errorf("bad requests left history: %+v", h)
	}
}

func TestPoolMetadataLimit(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	// A JSON string of exactly lock.MaxMetadata bytes, quotes included.
	atLimit := `"` + strings.Repeat("m", lock.MaxMetadata-2) + `"`
	m := s.addMember(t, "p", "big", atLimit)
	if !bytes.Equal(m.Metadata, []byte(atLimit)) {
		t.Fatalf("metadata of exactly %d bytes came back with %d bytes", lock.MaxMetadata, len(m.Metadata))
	}
	over := `"` + strings.Repeat("o", lock.MaxMetadata-1) + `"`
	r := s.do("PUT", "/pool/p/big", `{"metadata":`+over+`}`).expect(t, 400, "metadata one byte over the limit")
	if e := r.errorOf(t); !strings.Contains(e.Error, fmt.Sprintf("metadata is %d bytes of JSON; the limit is %d", lock.MaxMetadata+1, lock.MaxMetadata)) {
		t.Errorf("error %q", e.Error)
	}
	// Whitespace counts: the limit is on the JSON as sent.
	padded := `{"a":` + strings.Repeat(" ", lock.MaxMetadata) + `1}`
	s.do("PUT", "/pool/p/other", `{"metadata":`+padded+`}`).expect(t, 400, "metadata padded over the limit")
	// Neither changed anything: the member keeps its metadata, the other
	// lock was not created.
	if got := s.pool(t, "p"); got.Total != 1 || !bytes.Equal(got.Members["big"].Metadata, []byte(atLimit)) {
		t.Errorf("after refused metadata: %d members, metadata %d bytes", got.Total, len(got.Members["big"].Metadata))
	}
	s.do("GET", "/lock/other", "").expect(t, 404, "the lock refused metadata would have created")
	// The big metadata survives in the listing and the pool.
	if got := s.pools(t)["p"].Members["big"].Metadata; !bytes.Equal(got, []byte(atLimit)) {
		t.Errorf("GET /pools: metadata of %d bytes", len(got))
	}
}

func TestPoolWithoutMembersIs404(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, r := range []struct{ method, path string }{
		{"GET", "/pool/none"},
		{"PUT", "/pool/none?key=k"},
		{"PUT", "/pool/none?key=k&wait=30s"}, // no member can ever come free: no wait
		{"DELETE", "/pool/none/m"},
		{"DELETE", "/pool/none/m?force=true"},
	} {
		e := s.do(r.method, r.path, "").expect(t, 404, r.method+" "+r.path).errorOf(t)
		if !strings.Contains(e.Error, `"none"`) {
			t.Errorf("%s %s: error %q does not name the pool", r.method, r.path, e.Error)
		}
	}
	s.do("GET", "/lock/m", "").expect(t, 404, "removing a member of no pool created no lock")

	// A pool whose last member leaves is gone; its former members stay
	// locks.
	s.addMember(t, "p", "m", `{"x":1}`)
	s.do("DELETE", "/pool/p/m", "").expect(t, 200, "remove the only member")
	s.do("GET", "/pool/p", "").expect(t, 404, "a pool with no members")
	s.do("PUT", "/pool/p?key=k", "").expect(t, 404, "acquire from a pool with no members")
	if all := s.pools(t); len(all) != 0 {
		t.Errorf("GET /pools lists pools without members: %s", mustJSON(all))
	}
	if l := s.do("GET", "/lock/m", "").expect(t, 200, "the former member").memberOf(t); l.Pools != nil || l.State != "free" {
		t.Errorf("the former member: %s", mustJSON(l))
	}
	// Not a member (of this pool): 404, nothing changes.
	s.addMember(t, "q", "m", "")
	e := s.do("DELETE", "/pool/p/m", "").expect(t, 404, "remove from a pool it is not in").errorOf(t)
	if !strings.Contains(e.Error, `"m" is not a member of pool "p"`) {
		t.Errorf("error %q", e.Error)
	}
	if got := s.pool(t, "q"); got.Total != 1 {
		t.Errorf("pool q after a refused removal: %s", mustJSON(got))
	}
}

// The member free longest goes first, so that use spreads evenly.
func TestPoolAcquireTakesTheMemberFreeLongest(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, m := range []string{"env-c", "env-a", "env-b"} { // joined in this order
		s.addMember(t, "envs", m, fmt.Sprintf(`{"name":%q}`, m))
	}
	uses := map[string]int{}
	var order []string
	for i := range 12 {
		before := s.pool(t, "envs")
		var longest string
		for name, m := range before.Members {
			if m.State == "free" && (longest == "" || m.FreeSince.Before(*before.Members[longest].FreeSince)) {
				longest = name
			}
		}
		key := fmt.Sprintf("job-%d", i)
		got := s.take(t, "envs", key, key)
		if got.Name != longest {
			t.Fatalf("acquisition %d got %s, but %s was free longest: %s", i, got.Name, longest, mustJSON(before.Members))
		}
		if !sameJSON(t, got.Metadata, []byte(fmt.Sprintf(`{"name":%q}`, got.Name))) {
			t.Errorf("acquisition %d: metadata %s", i, got.Metadata)
		}
		if want := fmt.Sprintf("locked %q from pool %q with key %q for %q", got.Name, "envs", key, key); got.Response != want {
			t.Errorf("response %q, want %q", got.Response, want)
		}
		uses[got.Name]++
		order = append(order, got.Name)
		// Hold two at a time: release the one taken before.
		if i > 0 {
			prev := fmt.Sprintf("job-%d", i-1)
			s.release(t, order[i-1], prev, prev)
		}
	}
	for m, n := range uses {
		if n != 4 {
			t.Errorf("12 acquisitions over 3 members used %s %d times (%v), want 4 each", m, n, order)
		}
	}
	if want := "env-c,env-a,env-b"; strings.Join(order[:3], ",") != want {
		t.Errorf("first three acquisitions %v, want the join order %s", order[:3], want)
	}
}

func TestPoolNoneFreeIs423(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.addMember(t, "p", "m1", "")
	s.addMember(t, "p", "m2", "")
	a, b := s.take(t, "p", "a", "a"), s.take(t, "p", "b", "b")
	if a.Name == b.Name {
		t.Fatalf("both got %s", a.Name)
	}
	e := s.do("PUT", "/pool/p?key=c", "").expect(t, 423, "every member held").errorOf(t)
	if want := `pool "p" has no free member (2 members, all held)`; e.Error != want {
		t.Errorf("error %q, want %q", e.Error, want)
	}
	// The same key does not join a held member through the pool: a pool
	// hands out free members only.
	s.do("PUT", "/pool/p?key=a", "").expect(t, 423, "the holder's key, every member held")
	if p := s.pool(t, "p"); p.Free != 0 || p.Members[a.Name].LockedBy["a"] != 1 {
		t.Errorf("after refusals: %s", mustJSON(p))
	}
	// A short wait runs out with 423 and says so.
	e = s.do("PUT", "/pool/p?key=c&wait=200ms", "").expect(t, 423, "a wait that runs out").errorOf(t)
	if !strings.Contains(e.Error, "gave up after waiting 200ms") {
		t.Errorf("error %q", e.Error)
	}
	if p := s.pool(t, "p"); p.Waiters != 0 {
		t.Errorf("%d waiters left behind", p.Waiters)
	}
}

func TestPoolRemove(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, m := range []string{"m1", "m2", "m3"} {
		s.addMember(t, "p", m, `{"m":true}`)
	}
	// A free member: removed at once; it stays a lock, without the pool.
	r := s.do("DELETE", "/pool/p/m1", "").expect(t, 200, "remove a free member").memberOf(t)
	if r.Pools != nil || r.Response != `"m1" removed from pool "p"` || r.State != "free" {
		t.Errorf("remove answered %s", mustJSON(r))
	}
	if p := s.pool(t, "p"); p.Total != 2 || p.Members["m1"].Name != "" {
		t.Errorf("pool after removal: %s", mustJSON(p))
	}
	s.do("GET", "/lock/m1", "").expect(t, 200, "a removed member is still a lock")

	// A held member: 423 without force, with its state; nothing changes.
	held := s.take(t, "p", "job", "job-1")
	e := s.do("DELETE", "/pool/p/"+held.Name, "").expect(t, 423, "remove a held member").errorOf(t)
	if !strings.Contains(e.Error, "release it first, or remove it with force") || e.Lock == nil || e.Lock.Key != "job" {
		t.Errorf("423 answered %+v", e)
	}
	if p := s.pool(t, "p"); p.Total != 2 || p.Members[held.Name].Key != "job" {
		t.Errorf("a refused removal changed the pool: %s", mustJSON(p))
	}
	// force=false is no force.
	s.do("DELETE", "/pool/p/"+held.Name+"?force=false", "").expect(t, 423, "remove with force=false")

	// With force (no admin configured: anyone may): released and removed,
	// in the body or the query.
	r = s.do("DELETE", "/pool/p/"+held.Name, `{"force":true}`).expect(t, 200, "remove a held member with force").memberOf(t)
	if r.State != "free" || r.Pools != nil || len(r.LockedBy) != 0 {
		t.Errorf("forced removal answered %s", mustJSON(r))
	}
	h := s.poolHistory(t, held.Name)
	n := len(h)
	if n < 2 || h[n-2].Type != "forced" || h[n-2].Holder != "job-1" || !strings.HasPrefix(h[n-2].By, "anonymous@") ||
		h[n-1].Type != "removed" || h[n-1].Pool != "p" || h[n-1].By != h[n-2].By || h[n-1].Pools != nil {
		t.Errorf("history of a forced removal: %s", mustJSON(h))
	}
	// The last member: the pool hands out only what is still in it.
	last := s.pool(t, "p")
	if last.Total != 1 {
		t.Fatalf("pool: %s", mustJSON(last))
	}
	for name := range last.Members {
		if got := s.take(t, "p", "k", "k"); got.Name != name {
			t.Errorf("took %s, want the one member left, %s", got.Name, name)
		}
	}
	s.do("PUT", "/pool/p?key=z", "").expect(t, 423, "removed members are not handed out")
}

// TestForceReleasesAreLoggedAsWarnings: every hold a force release ends is
// a warning in the log, with its key, holder and fence, whether the release
// was a DELETE with force or the forced removal of a held pool member.
func TestForceReleasesAreLoggedAsWarnings(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	s := newHTTPStack(t, stackOptions{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	s.do("PUT", "/lock/plain", `{"key":"k1","lock_by":"job-1"}`).expect(t, 200, "take a lock")
	s.addMember(t, "p", "m", "")
	s.take(t, "p", "k2", "job-2")
	s.do("DELETE", "/lock/plain", `{"force":true}`).expect(t, 200, "force a release")
	s.do("DELETE", "/pool/p/m?force=true", "").expect(t, 200, "force a member out")
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		`level=WARN msg="force release" lock=plain key=k1 holder=job-1 fence=1 by=anonymous@`,
		`level=WARN msg="force release" lock=m key=k2 holder=job-2 fence=2 by=anonymous@`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs.String())
		}
	}
	if !regexp.MustCompile(`msg="force release" lock=m .* pool=p\n`).MatchString(logs.String()) {
		t.Errorf("the forced removal's warning does not name the pool:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestPoolForceRemoveNeedsTheForceRight(t *testing.T) {
	s := newHTTPStack(t, stackOptions{Auth: userCreds, Admin: adminCreds})
	admin := as(adminCreds.User, adminCreds.Pass)
	s.addMember(t, "p", "m", `{"env":"prod"}`)
	s.take(t, "p", "deploy", "build-7")

	e := s.do("DELETE", "/pool/p/m?force=true", "").expect(t, 403, "force by the user when an admin is configured").errorOf(t)
	if !strings.Contains(e.Error, "only the admin user") {
		t.Errorf("error %q", e.Error)
	}
	s.do("DELETE", "/pool/p/m", `{"force":true}`).expect(t, 403, "force in the body by the user")
	s.do("DELETE", "/pool/p/m?force=true", "", anonymous()).expect(t, 401, "force without credentials")
	if p := s.pool(t, "p"); p.Total != 1 || p.Members["m"].Key != "deploy" {
		t.Fatalf("refused force changed the pool: %s", mustJSON(p))
	}
	// Without force the user gets the usual 423 (the member is held), and
	// may remove free members.
	s.do("DELETE", "/pool/p/m", "").expect(t, 423, "remove a held member without force")
	s.addMember(t, "p", "spare", "")
	s.do("DELETE", "/pool/p/spare", "").expect(t, 200, "the user removes a free member")

	// The admin forces: released (recorded as forced by the admin) and
	// removed, and a waiter for the pool does not get it.
	waiter := s.goDo("PUT", "/pool/p?key=next&wait=30s", "")
	eventually(t, "the pool waiter to queue", func() bool { return s.pool(t, "p").Waiters == 1 })
	r := s.do("DELETE", "/pool/p/m?force=true", "", admin).expect(t, 200, "force by the admin").memberOf(t)
	if r.State != "free" || r.Pools != nil {
		t.Errorf("forced removal answered %s", mustJSON(r))
	}
	h := s.poolHistory(t, "m")
	n := len(h)
	if n < 2 || h[n-2].Type != "forced" || h[n-2].By != adminCreds.User || h[n-1].Type != "removed" || h[n-1].By != adminCreds.User {
		t.Errorf("history: %s", mustJSON(h))
	}
	// The pool is empty now: the waiter is told so, and got nothing.
	got := receive(t, waiter, "the pool waiter")
	if got.Status == 200 {
		t.Fatalf("the waiter got a removed member: %s", got.Body)
	}
	if got.Status != 404 {
		t.Errorf("the waiter of a pool that lost its last member: %d %s, want 404", got.Status, got.Body)
	}
	if l := s.get(t, "m"); l.State != "free" {
		t.Errorf("the removed member is %s", l.State)
	}
}

// Pool members keep every seed behaviour: counted re-entrancy, shared keys,
// leases, fencing, history; release through DELETE /lock/{name}; claims by
// name.
func TestPoolMembersAreOrdinaryLocks(t *testing.T) {
	t.Parallel()
	s := newHTTPStack(t, stackOptions{})
	s.addMember(t, "p", "m1", `{"n":1}`)
	s.addMember(t, "p", "m2", `{"n":2}`)

	// Claim a specific member by name, the ordinary way.
	claimed := s.do("PUT", "/lock/m2", `{"key":"mine"}`).expect(t, 200, "claim m2 by name").memberOf(t)
	if claimed.Pools == nil || claimed.FreeSince != nil {
		t.Errorf("claimed member: %s", mustJSON(claimed))
	}
	// The pool hands out the other.
	got := s.take(t, "p", "K", "h1")
	if got.Name != "m1" {
		t.Fatalf("took %s, want the free m1", got.Name)
	}
	fence := got.Fence
	if fence == 0 || fence <= claimed.Fence {
		t.Errorf("fence %d after claim's %d", fence, claimed.Fence)
	}
	// Re-entrant: the same holder again, by name.
	l := s.do("PUT", "/lock/m1", `{"key":"K","lock_by":"h1"}`).expect(t, 200, "re-enter").memberOf(t)
	if l.LockedBy["h1"] != 2 || l.Fence != fence {
		t.Errorf("re-entry: %s", mustJSON(l))
	}
	// Shared: another holder under the same key; another key is refused.
	l = s.do("PUT", "/lock/m1", `{"key":"K","lock_by":"h2","ttl":"1h"}`).expect(t, 200, "share").memberOf(t)
	if l.State != "shared" || l.LockedBy["h2"] != 1 || l.Fence != fence || l.Holds["h2"].Expires == nil {
		t.Errorf("shared: %s", mustJSON(l))
	}
	s.do("PUT", "/lock/m1", `{"key":"other"}`).expect(t, 423, "another key")
	s.do("DELETE", "/lock/m1", `{"key":"other"}`).expect(t, 423, "release under another key")
	// Release, counted: three releases free it, through the ordinary route,
	// and it is back in the pool.
	s.release(t, "m1", "K", "h1")
	s.release(t, "m1", "K", "h2")
	if p := s.pool(t, "p"); p.Free != 0 {
		t.Errorf("m1 free with a hold left: %s", mustJSON(p))
	}
	l = s.release(t, "m1", "K", "h1")
	if l.State != "free" || l.FreeSince == nil || !strings.HasSuffix(l.Response, "the lock is free") {
		t.Errorf("last release: %s", mustJSON(l))
	}
	if p := s.pool(t, "p"); p.Free != 1 || p.Members["m1"].State != "free" {
		t.Errorf("after release the pool says %s", mustJSON(p))
	}

	// A lease from the pool: the member comes back by itself when it runs
	// out, and the next holder gets a new fence.
	l = s.do("PUT", "/pool/p?key=L&ttl=1s", "").expect(t, 200, "take with a lease").memberOf(t)
	if l.Name != "m1" || l.Expires == nil || l.Holds["L"].Expires == nil {
		t.Fatalf("take with a lease: %s", mustJSON(l))
	}
	eventually(t, "the lease to run out", func() bool { return s.pool(t, "p").Free == 1 })
	again := s.take(t, "p", "M", "M")
	if again.Name != "m1" || again.Fence <= l.Fence {
		t.Errorf("after expiry: %s (fence before %d)", mustJSON(again), l.Fence)
	}
	// A refresh works on a member taken from the pool.
	s.do("POST", "/lock/m1/refresh", `{"key":"M","ttl":"1h"}`).expect(t, 200, "refresh a member's lease")
	// Force release by name works on a member too, and frees it in the
	// pool.
	s.do("DELETE", "/lock/m1?force=true", "").expect(t, 200, "force release a member by name")
	if p := s.pool(t, "p"); p.Free != 1 {
		t.Errorf("after a force release: %s", mustJSON(p))
	}

	// The history has it all, with the pool fields.
	h := s.poolHistory(t, "m1")
	var types []string
	for _, ev := range h {
		types = append(types, ev.Type)
		if !slices.Equal(ev.Pools, []string{"p"}) {
			t.Errorf("event %s %s: pools %v, want [p]", ev.Type, ev.Holder, ev.Pools)
		}
		if (ev.Type == "added") != (ev.Pool == "p") {
			t.Errorf("event %s: pool %q", ev.Type, ev.Pool)
		}
	}
	want := "added acquired acquired acquired released released released acquired expired acquired refreshed forced"
	if strings.Join(types, " ") != want {
		t.Errorf("history of m1:\n got %s\nwant %s", strings.Join(types, " "), want)
	}
	// Removing it records the removal; it stays a lock with its history.
	s.do("DELETE", "/pool/p/m1", "").expect(t, 200, "remove m1")
	h = s.poolHistory(t, "m1")
	if last := h[len(h)-1]; last.Type != "removed" || last.Pool != "p" || last.Pools != nil {
		t.Errorf("last event after removal: %+v", last)
	}
}

func TestPoolWaitBlocksUntilAMemberIsReleased(t *testing.T) {
	for _, tc := range []struct{ name, path, body string }{
		{"query", "/pool/p?wait=5s", `{"key":"w","lock_by":"waiter"}`},
		{"body", "/pool/p", `{"key":"w","lock_by":"waiter","wait":"30s"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newHTTPStack(t, stackOptions{})
			s.addMember(t, "p", "m1", `{"n":1}`)
			s.addMember(t, "p", "m2", `{"n":2}`)
			s.take(t, "p", "a", "a")
			b := s.take(t, "p", "b", "b")
			c := s.goDo("PUT", tc.path, tc.body)
			eventually(t, "the waiter to queue", func() bool { return s.pool(t, "p").Waiters == 1 })
			if all := s.pools(t); all["p"].Waiters != 1 {
				t.Errorf("GET /pools: %d waiters, want 1", all["p"].Waiters)
			}
			select {
			case r := <-c:
				t.Fatalf("the waiter was answered with every member held: %d %s", r.Status, r.Body)
			default:
			}
			s.release(t, b.Name, "b", "b")
			r := receive(t, c, "the waiter").expect(t, 200, "the waiter")
			got := r.memberOf(t)
			if got.Name != b.Name || got.Key != "w" || got.LockedBy["waiter"] != 1 || !sameJSON(t, got.Metadata, []byte(fmt.Sprintf(`{"n":%s}`, b.Name[1:]))) {
				t.Errorf("the waiter got %s, want %s", mustJSON(got), b.Name)
			}
			if p := s.pool(t, "p"); p.Waiters != 0 || p.Free != 0 {
				t.Errorf("after the hand-off: %s", mustJSON(p))
			}
		})
	}
}

// A member removed while a request waits for the pool is never handed to it.
func TestPoolWaiterNeverGetsARemovedMember(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.addMember(t, "p", "m1", "")
	s.addMember(t, "p", "m2", "")
	s.take(t, "p", "a", "a") // m1
	s.take(t, "p", "b", "b") // m2
	c := s.goDo("PUT", "/pool/p?key=w&wait=30s", "")
	eventually(t, "the waiter to queue", func() bool { return s.pool(t, "p").Waiters == 1 })
	// m1 is released and removed in one step (force): it must not go to
	// the waiter.
	s.do("DELETE", "/pool/p/m1?force=true", "").expect(t, 200, "force-remove m1")
	// Then released, while not in the pool: still not the waiter's.
	if l := s.get(t, "m1"); l.State != "free" {
		t.Fatalf("m1 after forced removal: %+v", l)
	}
	select {
	case r := <-c:
		t.Fatalf("the waiter was answered after m1 was removed: %d %s", r.Status, r.Body)
	case <-time.After(300 * time.Millisecond):
	}
	s.release(t, "m2", "b", "b")
	got := receive(t, c, "the waiter").expect(t, 200, "the waiter").memberOf(t)
	if got.Name != "m2" {
		t.Errorf("the waiter got %s, want m2", got.Name)
	}
	if l := s.get(t, "m1"); l.State != "free" {
		t.Errorf("the removed member was taken: %+v", l)
	}
}

func TestPoolEventsOnTheStream(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	c := s.subscribe(t)
	s.addMember(t, "p", "m", `{"a":1}`)
	s.addMember(t, "p", "m", `{"a":1}`) // unchanged: no event
	s.addMember(t, "p", "m", `{"a":2}`)
	s.take(t, "p", "k", "h")
	s.release(t, "m", "k", "h")
	s.do("DELETE", "/pool/p/m", "").expect(t, 200, "remove")
	want := []struct {
		typ, pool string
		pools     []string
	}{
		{"added", "p", []string{"p"}},
		{"added", "p", []string{"p"}},
		{"acquired", "", []string{"p"}},
		{"released", "", []string{"p"}},
		{"removed", "p", nil},
	}
	for i, w := range want {
		var m sseMessage
		for m = range nextMessages(t, c) {
			if m.Comment == "" {
				break
			}
		}
		var ev poolEventJSON
		if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
			t.Fatalf("event %d: %q", i, m.Data)
		}
		if m.Event != w.typ || ev.Type != w.typ || ev.Lock != "m" || ev.Pool != w.pool || !slices.Equal(ev.Pools, w.pools) {
			t.Fatalf("event %d = %s %s, want %+v", i, m.Event, m.Data, w)
		}
	}
}

// grant is one client's hold on a member, as the client saw it: start is
// when the 200 of the acquisition had arrived, end when the release was
// about to be sent, both from one sequence shared by every client. The
// server held the member for that client over at least [start, end].
type grant struct {
	client      int
	member, key string
	fence       uint64
	start, end  int64
}

// checkGrants fails the test if two grants of one member overlap, or if a
// fence token was issued twice or went backwards on a member.
func checkGrants(t *testing.T, grants []grant) {
	t.Helper()
	byMember := map[string][]grant{}
	fences := map[uint64]grant{}
	for _, g := range grants {
		byMember[g.member] = append(byMember[g.member], g)
		if other, dup := fences[g.fence]; dup {
			t.Errorf("fence %d issued to client %d on %s and to client %d on %s", g.fence, other.client, other.member, g.client, g.member)
		}
		fences[g.fence] = g
	}
	for m, gs := range byMember {
		sort.Slice(gs, func(i, j int) bool { return gs[i].start < gs[j].start })
		for i := 1; i < len(gs); i++ {
			if gs[i].start <= gs[i-1].end {
				t.Errorf("%s held by client %d over [%d, %d] and by client %d from %d: two holders at once", m, gs[i-1].client, gs[i-1].start, gs[i-1].end, gs[i].client, gs[i].start)
			}
			if gs[i].fence <= gs[i-1].fence {
				t.Errorf("%s: fence %d after %d", m, gs[i].fence, gs[i-1].fence)
			}
		}
	}
}

// checkMemberHistory checks a member's history as the server recorded it:
// acquisitions and releases alternate, each release by the key that took it.
func checkMemberHistory(t *testing.T, name string, events []poolEventJSON) int {
	t.Helper()
	holder, grants := "", 0
	for i, ev := range events {
		switch ev.Type {
		case "acquired":
			if holder != "" {
				t.Errorf("%s event %d: acquired by %s while %s held it", name, i, ev.Key, holder)
			}
			holder = ev.Key
			grants++
		case "released":
			if holder != "" && ev.Key != holder {
				t.Errorf("%s event %d: released by %s while %s held it", name, i, ev.Key, holder)
			}
			holder = ""
		}
	}
	return grants
}

// TestPoolManyClientsThroughTheAPI: ten clients, three members, each client
// taking a member (waiting in line), working a little, releasing, several
// times over. No member is ever held by two clients; everyone is served.
func TestPoolManyClientsThroughTheAPI(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	members := []string{"env-1", "env-2", "env-3"}
	for _, m := range members {
		s.addMember(t, "envs", m, fmt.Sprintf(`{"host":"%s.example.com"}`, m))
	}
	const clients, rounds = 10, 5
	var seq atomic.Int64
	inside := map[string]*atomic.Int32{}
	for _, m := range members {
		inside[m] = new(atomic.Int32)
	}
	var (
		mu         sync.Mutex
		grants     []grant
		violations []string
	)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("client-%d", c)
			for round := range rounds {
				r := s.do("PUT", "/pool/envs", jsonBody(map[string]string{"key": key, "wait": "1m"}))
				if r.Status != 200 {
					t.Errorf("%s round %d: %d %s", key, round, r.Status, r.Body)
					return
				}
				start := seq.Add(1)
				var m memberJSON
				if err := json.Unmarshal(r.Body, &m); err != nil || m.Key != key || m.LockedBy[key] != 1 || inside[m.Name] == nil {
					t.Errorf("%s round %d: acquired %s", key, round, r.Body)
					return
				}
				if n := inside[m.Name].Add(1); n != 1 {
					mu.Lock()
					violations = append(violations, fmt.Sprintf("%s had %d holders when %s got it", m.Name, n, key))
					mu.Unlock()
				}
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				inside[m.Name].Add(-1)
				end := seq.Add(1)
				mu.Lock()
				grants = append(grants, grant{client: c, member: m.Name, key: key, fence: m.Fence, start: start, end: end})
				mu.Unlock()
				r = s.do("DELETE", "/lock/"+m.Name, jsonBody(map[string]string{"key": key}))
				if r.Status != 200 || !strings.Contains(string(r.Body), "the lock is free") {
					t.Errorf("%s round %d: release of %s: %d %s", key, round, m.Name, r.Status, r.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, v := range violations {
		t.Error(v)
	}
	if len(grants) != clients*rounds {
		t.Fatalf("%d of %d acquisitions served", len(grants), clients*rounds)
	}
	served := map[int]int{}
	for _, g := range grants {
		served[g.client]++
	}
	for c := range clients {
		if served[c] != rounds {
			t.Errorf("client %d was served %d times, want %d", c, served[c], rounds)
		}
	}
	checkGrants(t, grants)
	// The server's own record agrees.
	total := 0
	for _, m := range members {
		total += checkMemberHistory(t, m, s.poolHistory(t, m))
	}
	if total != clients*rounds {
		t.Errorf("the members' histories record %d acquisitions, want %d", total, clients*rounds)
	}
	if p := s.pool(t, "envs"); p.Free != 3 || p.Waiters != 0 {
		t.Errorf("afterwards: %s", mustJSON(p))
	}
}

// TestPoolWaitersAreServedInArrivalOrder: with every member held, clients
// queue one after another (each seen in the waiter count before the next
// comes), then the members are all released at once and each served client
// works a little and releases, so hand-offs happen concurrently. Grants —
// ordered by their fencing tokens, which the server issues in commit order —
// follow arrival order exactly: nobody is overtaken by a later arrival.
func TestPoolWaitersAreServedInArrivalOrder(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	members := []string{"m1", "m2", "m3"}
	for _, m := range members {
		s.addMember(t, "p", m, "")
	}
	var blockers []memberJSON
	for i := range members {
		blockers = append(blockers, s.take(t, "p", fmt.Sprintf("blocker-%d", i), "blocker"))
	}
	const clients = 10
	type result struct {
		client int
		m      memberJSON
		err    string
	}
	results := make(chan result, clients)
	for c := range clients {
		key := fmt.Sprintf("client-%d", c)
		go func() {
			r := s.do("PUT", "/pool/p?wait=1m", jsonBody(map[string]string{"key": key}))
			if r.Status != 200 {
				results <- result{client: c, err: fmt.Sprintf("%d %s", r.Status, r.Body)}
				return
			}
			var m memberJSON
			json.Unmarshal(r.Body, &m)
			time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
			if r := s.do("DELETE", "/lock/"+m.Name, jsonBody(map[string]string{"key": key})); r.Status != 200 {
				results <- result{client: c, err: fmt.Sprintf("release: %d %s", r.Status, r.Body)}
				return
			}
			results <- result{client: c, m: m}
		}()
		eventually(t, fmt.Sprintf("client %d to queue", c), func() bool { return s.pool(t, "p").Waiters == c+1 })
	}
	var wg sync.WaitGroup
	for _, b := range blockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := s.do("DELETE", "/lock/"+b.Name, jsonBody(map[string]string{"key": b.Key, "locked_by": "blocker"})); r.Status != 200 {
				t.Errorf("releasing %s: %d %s", b.Name, r.Status, r.Body)
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
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d clients served after 60s", len(got), clients)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].m.Fence < got[j].m.Fence })
	var order []int
	for _, r := range got {
		order = append(order, r.client)
	}
	for i, c := range order {
		if c != i {
			t.Fatalf("grants in commit (fence) order went to clients %v; want arrival order 0..%d", order, clients-1)
		}
	}
	// Concurrency was real: more than one member was handed out.
	used := map[string]bool{}
	for _, r := range got {
		used[r.m.Name] = true
	}
	if len(used) < 2 {
		t.Errorf("all grants went to %v: the hand-offs were not concurrent", used)
	}
}

// TestPoolRemovedMembersAreNeverHandedOut races removals and re-additions of
// members against clients taking members: every acquisition the server
// commits (as the event stream reports them) is of a lock that is in the
// pool at that moment.
func TestPoolRemovedMembersAreNeverHandedOut(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	members := []string{"m1", "m2", "m3"}
	for _, m := range members {
		s.addMember(t, "p", m, "")
	}
	events := s.subscribe(t)
	const clients, tries = 4, 40
	var wg sync.WaitGroup
	var took, removed atomic.Int32
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("client-%d", c)
			for range tries {
				r := s.do("PUT", "/pool/p", jsonBody(map[string]string{"key": key}))
				switch r.Status {
				case 200:
					took.Add(1)
					var m memberJSON
					json.Unmarshal(r.Body, &m)
					if r := s.do("DELETE", "/lock/"+m.Name, jsonBody(map[string]string{"key": key})); r.Status != 200 {
						t.Errorf("release %s: %d %s", m.Name, r.Status, r.Body)
						return
					}
				case 404, 423: // every member held or removed just now
				default:
					t.Errorf("%s: %d %s", key, r.Status, r.Body)
					return
				}
			}
		}()
	}
	clientsDone := make(chan struct{})
	removerDone := make(chan struct{})
	go func() {
		defer close(removerDone)
		for i := 0; ; i++ {
			select {
			case <-clientsDone:
				return
			default:
			}
			m := members[i%len(members)]
			if r := s.do("DELETE", "/pool/p/"+m, ""); r.Status == 200 {
				removed.Add(1)
			} else if r.Status != 423 {
				t.Errorf("remove %s: %d %s", m, r.Status, r.Body)
			}
			if r := s.do("PUT", "/pool/p/"+m, ""); r.Status != 200 {
				t.Errorf("re-add %s: %d %s", m, r.Status, r.Body)
			}
		}
	}()
	wg.Wait()
	close(clientsDone)
	<-removerDone
	if took.Load() == 0 || removed.Load() == 0 {
		t.Fatalf("no race: %d acquisitions, %d removals", took.Load(), removed.Load())
	}
	s.do("PUT", "/lock/end-marker", `{"key":"k"}`).expect(t, 200, "marker")
	acquired := 0
	for m := range nextMessages(t, events) {
		if m.Comment != "" {
			continue
		}
		var ev poolEventJSON
		if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
			t.Fatalf("event %q", m.Data)
		}
		if ev.Lock == "end-marker" {
			break
		}
		if ev.Type == "acquired" {
			acquired++
			if !slices.Contains(ev.Pools, "p") {
				t.Errorf("%s was handed to %s while not in the pool: %s", ev.Lock, ev.Key, m.Data)
			}
		}
	}
	if acquired != int(took.Load()) {
		t.Errorf("the stream shows %d acquisitions, the clients made %d", acquired, took.Load())
	}
	t.Logf("%d acquisitions, %d removals", took.Load(), removed.Load())
}

// TestPoolEmptyNames: a pool route with its pool or member name left out
// gets the 400 that /lock/ gets, whatever the method (it got 404 "no such
// route").
func TestPoolEmptyNames(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.addMember(t, "p", "m", "")
	for _, c := range []struct{ method, path, want string }{
		{"PUT", "/pool/?key=k", "pool name must not be empty"},
		{"GET", "/pool/", "pool name must not be empty"},
		{"DELETE", "/pool/", "pool name must not be empty"},
		{"PUT", "/pool/p/", "lock name must not be empty"},
		{"DELETE", "/pool/p/?force=true", "lock name must not be empty"},
		{"GET", "/pool/p/", "lock name must not be empty"},
		{"PUT", "/pool/%2F/", "lock name must not be empty"},
		{"PUT", "/pool/a%01b/", "pool name must not contain control characters"},
		{"PUT", "/lock/?key=k", "lock name must not be empty"},
	} {
		r := s.do(c.method, c.path, "").expect(t, 400, c.method+" "+c.path)
		if e := r.errorOf(t); !strings.HasPrefix(e.Error, c.want) {
			t.Errorf("%s %s: error %q, want %q", c.method, c.path, e.Error, c.want)
		}
	}
	// Not these: no route has a name there.
	for _, path := range []string{"/pool", "/pools/", "/pool/p/m/", "/pool/p/m/x"} {
		s.do("PUT", path, "").expect(t, 404, "PUT "+path)
	}
	if p := s.pool(t, "p"); p.Total != 1 || p.Members["m"].Key != "" {
		t.Errorf("pool after bad requests: %s", mustJSON(p))
	}
}
