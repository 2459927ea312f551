package resource_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// joinBeforeRemoval wraps a server so that, while armed, the first forced
// DELETE of /pool/{pool}/{member} is preceded by a join of holder under
// key on that member (PUT /lock/{member}, straight to the API): a holder
// joining between the resource's read of the member and its removal. It
// counts the joins made.
func joinBeforeRemoval(pool, name, key, holder string, armed *atomic.Bool, joined *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && r.URL.Path == "/pool/"+pool+"/"+name && armed.CompareAndSwap(true, false) {
				join := httptest.NewRequest(http.MethodPut, "/lock/"+name+"?key="+key+"&lock_by="+holder, nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, join)
				if rec.Code != http.StatusOK {
					panic("the join was refused: " + rec.Body.String())
				}
				joined.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
}

// TestPoolRemoveJoinedMeanwhile: a holder that joins the member under the
// directory's key (so under the same fence) after the remove: put read the
// member, held by the directory's hold alone, and before its forced
// removal, is not forced away: the server, told whose hold the removal
// ends, refuses, and the put fails saying who joined; the member stays in
// the pool with both holds. Once the other has released, the remove works.
func TestPoolRemoveJoinedMeanwhile(t *testing.T) {
	var (
		armed  atomic.Bool
		joined atomic.Int32
	)
	s := startServer(t, serverOpts{wrap: joinBeforeRemoval("shared", "m1", "team-key", "other-job", &armed, &joined)})
	c := s.client(t, "", "")
	setup := newBuild(t, poolSource(s, "shared"), "setup", 1, 1)
	setup.task("m", map[string]string{"name": "m1", "metadata": ""})
	setup.put("m", obj{"add": "m"})
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})

	armed.Store(true)
	r := b.putFails(obj{"remove": "env"})
	if joined.Load() != 1 {
		t.Fatalf("the join was not injected (%d); stderr:\n%s", joined.Load(), r.stderr)
	}
	for _, want := range []string{
		`cannot remove "m1" from pool "shared": it is also held under key "team-key" by "other-job" x1, besides this directory's hold ("special-job")`,
		"removing it would release their hold too",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	m := member(t, c, "shared", "m1")
	if m.Key != "team-key" || m.LockedBy["other-job"] != 1 || m.LockedBy["special-job"] != 1 {
		t.Fatalf("after the refused remove, m1 is %+v: other-job, which joined meanwhile, was forced away", m)
	}

	if _, err := c.Unlock(t.Context(), "m1", "team-key", "other-job"); err != nil {
		t.Fatal(err)
	}
	b.put("rm", obj{"remove": "env"})
	if p := getPool(t, c, "shared"); p.Total != 0 {
		t.Fatalf("after the remove, the pool is %+v", p)
	}
}

// olderLocker wraps a server so that a DELETE of a pool member reaches it
// without the holder condition (key and locked_by dropped from the query
// and the body), as a Locker from before the condition reads it.
func olderLocker(seen *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/pool/") {
				q := r.URL.Query()
				if q.Has("locked_by") || q.Has("key") {
					seen.Add(1)
				}
				q.Del("key")
				q.Del("locked_by")
				r.URL.RawQuery = q.Encode()
				var body map[string]any
				if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
					delete(body, "key")
					delete(body, "locked_by")
					b, _ := json.Marshal(body)
					r.Body = io.NopCloser(bytes.NewReader(b))
					r.ContentLength = int64(len(b))
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// TestPoolRemoveOlderLocker: against a Locker that ignores the holder
// condition, the remove still releases the directory's own hold and
// removes the member, and the resource's own read still refuses while
// another holder holds it.
func TestPoolRemoveOlderLocker(t *testing.T) {
	var seen atomic.Int32
	s := startServer(t, serverOpts{wrap: olderLocker(&seen)})
	c := s.client(t, "", "")
	sharedMember(t, s, c, "team-key")
	b := newBuild(t, poolSource(s, "shared"), "special", 1, 401)
	b.put("env", obj{"claim": "m1", "key": "team-key", "locked_by": "special-job"})
	r := b.putFails(obj{"remove": "env"})
	if !strings.Contains(r.stderr, `it is also held under key "team-key" by "other-job" x1`) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if _, err := c.Unlock(t.Context(), "m1", "team-key", "other-job"); err != nil {
		t.Fatal(err)
	}
	b.put("rm", obj{"remove": "env"})
	if p := getPool(t, c, "shared"); p.Total != 0 {
		t.Fatalf("after the remove, the pool is %+v", p)
	}
	if seen.Load() != 1 {
		t.Fatalf("the remove sent the holder condition %d times, want 1", seen.Load())
	}
}
