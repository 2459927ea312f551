package e2e

// Pools through the real binary: add members with metadata, two clients
// acquiring at once get different members, a blocking wait is handed the
// member released, membership survives a restart, removal needs the member
// free or the admin's force.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// poolMemberReply is a lock object with the fields pool members add.
type poolMemberReply struct {
	Response string          `json:"response"`
	Name     string          `json:"name"`
	Key      string          `json:"key"`
	LockedBy map[string]int  `json:"locked_by"`
	State    string          `json:"state"`
	Fence    uint64          `json:"fence"`
	Pools    []string        `json:"pools"`
	Metadata json.RawMessage `json:"metadata"`
}

type poolReply struct {
	Name    string                     `json:"name"`
	Members map[string]poolMemberReply `json:"members"`
	Free    int                        `json:"free"`
	Total   int                        `json:"total"`
	Waiters int                        `json:"waiters"`
}

func decodeInto(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
}

func sameJSONText(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestPoolThroughTheBinary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + data, "AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"}
	s := startServer(t, env)
	api := func(method, path, body string) (int, string) {
		t.Helper()
		return call(t, method, s.URL+path, "ci", "ci-pass", body)
	}
	mustAPI := func(want int, method, path, body string) string {
		t.Helper()
		status, b := api(method, path, body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d\nserver output:\n%s", method, path, status, b, want, s.Output())
		}
		return b
	}
	metadata := map[string]string{
		"env-1": `{"host":"env-1.example.com","region":"eu-west-1"}`,
		"env-2": `{"host":"env-2.example.com","region":"us-east-1"}`,
	}
	for _, m := range []string{"env-1", "env-2"} {
		var r poolMemberReply
		decodeInto(t, mustAPI(200, "PUT", "/pool/envs/"+m, `{"metadata":`+metadata[m]+`}`), &r)
		if r.Name != m || r.State != "free" || len(r.Pools) != 1 || r.Pools[0] != "envs" || !sameJSONText(string(r.Metadata), metadata[m]) {
			t.Fatalf("adding %s answered %+v", m, r)
		}
	}
	var pools map[string]poolReply
	decodeInto(t, mustAPI(200, "GET", "/pools", ""), &pools)
	if p := pools["envs"]; len(pools) != 1 || p.Free != 2 || p.Total != 2 || len(p.Members) != 2 {
		t.Fatalf("GET /pools = %+v", pools)
	}

	// Two clients at once: each gets a member, never the same one, with its
	// metadata.
	got := make([]poolMemberReply, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, key := range []string{"job-a", "job-b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, b := api("PUT", "/pool/envs", fmt.Sprintf(`{"key":%q,"lock_by":"%s/build-1"}`, key, key))
			if status != 200 {
				t.Errorf("%s: %d %s", key, status, b)
				return
			}
			if err := json.Unmarshal([]byte(b), &got[i]); err != nil {
				t.Errorf("%s: %s", key, b)
			}
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	a, b := got[0], got[1]
	if a.Name == b.Name {
		t.Fatalf("both clients got %s", a.Name)
	}
	for i, r := range got {
		key := []string{"job-a", "job-b"}[i]
		if r.Key != key || r.LockedBy[key+"/build-1"] != 1 || r.State != "held" || r.Fence == 0 || !sameJSONText(string(r.Metadata), metadata[r.Name]) {
			t.Errorf("%s got %+v", key, r)
		}
	}
	if a.Fence == b.Fence {
		t.Errorf("both grants have fence %d", a.Fence)
	}
	mustAPI(423, "PUT", "/pool/envs?key=job-c", "")

	// A waiter is handed the member released through DELETE /lock/{name}.
	waiter := make(chan poolMemberReply, 1)
	go func() {
		status, body := api("PUT", "/pool/envs?key=job-c&wait=60s", "")
		var r poolMemberReply
		if status != 200 {
			t.Errorf("the waiter: %d %s", status, body)
		} else {
			json.Unmarshal([]byte(body), &r)
		}
		waiter <- r
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var p poolReply
		decodeInto(t, mustAPI(200, "GET", "/pool/envs", ""), &p)
		if p.Waiters == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiter did not show in GET /pool/envs: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustAPI(200, "DELETE", "/lock/"+a.Name+"?key=job-a&locked_by=job-a/build-1", "")
	var c poolMemberReply
	select {
	case c = <-waiter:
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter was not served within 30s of the release")
	}
	if c.Name != a.Name || c.Key != "job-c" || c.Fence <= a.Fence {
		t.Fatalf("the waiter got %+v, want %s with a new fence", c, a.Name)
	}

	// Membership, metadata and holds survive a restart.
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping: %v\n%s", err, s.Output())
	}
	s = startServer(t, env)
	var p poolReply
	decodeInto(t, mustAPI(200, "GET", "/pool/envs", ""), &p)
	if p.Total != 2 || p.Free != 0 || p.Members[a.Name].Key != "job-c" || p.Members[b.Name].Key != "job-b" || !sameJSONText(string(p.Members["env-1"].Metadata), metadata["env-1"]) {
		t.Fatalf("after a restart: %+v", p)
	}

	// Removal: a held member only with force, and force only by the admin.
	mustAPI(423, "DELETE", "/pool/envs/"+b.Name, "")
	mustAPI(403, "DELETE", "/pool/envs/"+b.Name+"?force=true", "")
	status, body := call(t, "DELETE", s.URL+"/pool/envs/"+b.Name+"?force=true", "ops", "ops-pass", "")
	if status != 200 {
		t.Fatalf("force removal by the admin: %d %s", status, body)
	}
	var removed poolMemberReply
	decodeInto(t, body, &removed)
	if removed.State != "free" || removed.Pools != nil {
		t.Errorf("force removal answered %+v", removed)
	}
	// A free member goes without force.
	mustAPI(200, "DELETE", "/lock/"+c.Name+"?key=job-c", "")
	mustAPI(200, "DELETE", "/pool/envs/"+c.Name, "")
	mustAPI(404, "GET", "/pool/envs", "")
	mustAPI(404, "PUT", "/pool/envs?key=job-d", "")
	pools = nil // Unmarshal would add to the old map
	decodeInto(t, mustAPI(200, "GET", "/pools", ""), &pools)
	if len(pools) != 0 {
		t.Errorf("GET /pools after removing every member: %+v", pools)
	}
	// The former members are ordinary locks, with their history.
	var h struct {
		Events []struct {
			Type string `json:"type"`
			Pool string `json:"pool"`
			By   string `json:"by"`
		} `json:"events"`
	}
	decodeInto(t, mustAPI(200, "GET", "/lock/"+b.Name+"/history", ""), &h)
	n := len(h.Events)
	if n < 3 || h.Events[0].Type != "added" || h.Events[n-2].Type != "forced" || h.Events[n-1].Type != "removed" || h.Events[n-1].By != "ops" || h.Events[n-1].Pool != "envs" {
		t.Errorf("history of %s: %+v", b.Name, h.Events)
	}
}

// TestPoolFairAcrossQueuesThroughTheBinary: a member in two pools, wanted
// by name too, goes to its waiters in arrival order, whichever way each
// waits. The pool whose name sorts first has the later pool waiter.
func TestPoolFairAcrossQueuesThroughTheBinary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "locks.yml")
	s := startServer(t, []string{"LOCKER_CONFIG=" + data})
	api := func(method, path, body string) (int, string) {
		t.Helper()
		return call(t, method, s.URL+path, "", "", body)
	}
	for _, p := range []string{"zz", "aa"} {
		if status, b := api("PUT", "/pool/"+p+"/m", ""); status != 200 {
			t.Fatalf("adding m to %s: %d %s", p, status, b)
		}
	}
	if status, b := api("PUT", "/lock/m", `{"key":"h"}`); status != 200 {
		t.Fatalf("taking m: %d %s", status, b)
	}
	waiters := func() int {
		n := 0
		for _, p := range []string{"zz", "aa"} {
			var r struct {
				Members map[string]struct {
					Waiters int `json:"waiters"`
				} `json:"members"`
				Waiters int `json:"waiters"`
			}
			_, b := api("GET", "/pool/"+p, "")
			decodeInto(t, b, &r)
			n += r.Waiters
			if p == "zz" {
				n += r.Members["m"].Waiters
			}
		}
		return n
	}
	type waiting struct {
		key  string
		done chan string
	}
	var queue []waiting
	for _, w := range []struct{ key, path string }{
		{"a", "/pool/zz"}, // through pool zz
		{"b", "/lock/m"},  // by name
		{"c", "/pool/aa"}, // through pool aa, after b
		{"d", "/lock/m"},  // by name, after c
	} {
		before := waiters()
		done := make(chan string, 1)
		go func() {
			status, b := call(t, "PUT", s.URL+w.path+"?wait=60s", "", "", fmt.Sprintf(`{"key":%q}`, w.key))
			done <- fmt.Sprintf("%d %s", status, b)
		}()
		deadline := time.Now().Add(15 * time.Second)
		for waiters() == before {
			if time.Now().After(deadline) {
				t.Fatalf("waiter %s did not queue\n%s", w.key, s.Output())
			}
			time.Sleep(10 * time.Millisecond)
		}
		queue = append(queue, waiting{w.key, done})
	}
	prev := "h"
	for i, w := range queue {
		if status, b := api("DELETE", "/lock/m?key="+prev, ""); status != 200 {
			t.Fatalf("%s releasing m: %d %s", prev, status, b)
		}
		select {
		case got := <-w.done:
			var r poolMemberReply
			if !strings.HasPrefix(got, "200 ") {
				t.Fatalf("waiter %s: %s", w.key, got)
			}
			decodeInto(t, strings.TrimPrefix(got, "200 "), &r)
			if r.Name != "m" || r.Key != w.key {
				t.Fatalf("waiter %s got %+v", w.key, r)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("m released by %s did not go to %s, the earliest waiter, within 30s\n%s", prev, w.key, s.Output())
		}
		for _, later := range queue[i+1:] {
			select {
			case got := <-later.done:
				t.Fatalf("waiter %s answered before its turn: %s", later.key, got)
			default:
			}
		}
		prev = w.key
	}
}
