package httpapi_test

// The seed's API, exactly: GET /locks, PUT and DELETE /lock/<name>.

import (
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
)

// seedEntry checks one GET /locks entry against the seed's shape and returns
// its key and locked_by.
func seedEntry(t *testing.T, list map[string]json.RawMessage, name string) (string, map[string]int) {
	t.Helper()
	raw, ok := list[name]
	if !ok {
		t.Fatalf("GET /locks has no entry %q: %v", name, keys(list))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("entry %q is not an object: %s", name, raw)
	}
	var key string
	if err := json.Unmarshal(fields["key"], &key); err != nil {
		t.Fatalf("entry %q: \"key\" is not a string: %s", name, raw)
	}
	lb, ok := fields["locked_by"]
	if !ok || string(lb) == "null" {
		t.Fatalf("entry %q: \"locked_by\" missing or null: %s", name, raw)
	}
	var lockedBy map[string]int
	if err := json.Unmarshal(lb, &lockedBy); err != nil {
		t.Fatalf("entry %q: \"locked_by\" is not an object of counts: %s", name, raw)
	}
	for h, n := range lockedBy {
		if n <= 0 {
			t.Errorf("entry %q: holder %q has count %d; no zero counts may be left behind: %s", name, h, n, raw)
		}
	}
	return key, lockedBy
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func wantEntry(t *testing.T, s *httpStack, name, key string, lockedBy map[string]int) {
	t.Helper()
	gotKey, gotBy := seedEntry(t, s.list(t), name)
	if gotKey != key || !maps.Equal(gotBy, lockedBy) {
		t.Fatalf("GET /locks[%q] = key %q locked_by %v, want key %q locked_by %v", name, gotKey, gotBy, key, lockedBy)
	}
}

func TestListEmpty(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	r := s.do("GET", "/locks", "").expect(t, 200, "GET /locks")
	if got := strings.TrimSpace(string(r.Body)); got != "{}" {
		t.Fatalf("GET /locks on a new server = %s, want {}", got)
	}
}

func TestListShapeAndFreeLockStaysListed(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/deploy", `{"key":"k","lock_by":"h"}`).expect(t, 200, "lock")
	s.do("PUT", "/lock/other", `{"key":"o"}`).expect(t, 200, "lock other")
	wantEntry(t, s, "deploy", "k", map[string]int{"h": 1})
	wantEntry(t, s, "other", "o", map[string]int{"o": 1})

	s.do("DELETE", "/lock/deploy", `{"key":"k","locked_by":"h"}`).expect(t, 200, "unlock")
	list := s.list(t)
	if len(list) != 2 {
		t.Fatalf("GET /locks has %d entries, want 2: %v", len(list), keys(list))
	}
	// A free lock: "key": "" and "locked_by": {} exactly, not null, no zero count.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(list["deploy"], &fields); err != nil {
		t.Fatal(err)
	}
	if string(fields["key"]) != `""` || string(fields["locked_by"]) != `{}` {
		t.Fatalf(`free lock entry = %s, want "key":"" and "locked_by":{}`, list["deploy"])
	}
	wantEntry(t, s, "other", "o", map[string]int{"o": 1})
}

func TestPutHolderSpellings(t *testing.T) {
	for _, field := range []string{"lock_by", "locked_by", "requestor"} {
		t.Run(field, func(t *testing.T) {
			s := newHTTPStack(t, stackOptions{})
			r := s.do("PUT", "/lock/x", `{"key":"k","`+field+`":"h"}`).expect(t, 200, "lock")
			l := r.lockOf(t)
			if l.Response == "" || l.Key != "k" || !maps.Equal(l.LockedBy, map[string]int{"h": 1}) {
				t.Fatalf("PUT answer = %s, want a response and key k, locked_by {h:1}", r.Body)
			}
			wantEntry(t, s, "x", "k", map[string]int{"h": 1})
			// Each spelling releases too.
			for _, del := range []string{"lock_by", "locked_by", "requestor"} {
				s.do("PUT", "/lock/x", `{"key":"k","lock_by":"h"}`).expect(t, 200, "lock again")
				s.do("DELETE", "/lock/x", `{"key":"k","`+del+`":"h"}`).expect(t, 200, "unlock with "+del)
				wantEntry(t, s, "x", "k", map[string]int{"h": 1})
			}
			s.do("DELETE", "/lock/x", `{"key":"k","`+field+`":"h"}`).expect(t, 200, "unlock")
			wantEntry(t, s, "x", "", map[string]int{})
		})
	}
}

func TestDefaultHolderIsKey(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	l := s.do("PUT", "/lock/x", `{"key":"prod-cf"}`).expect(t, 200, "lock").lockOf(t)
	if !maps.Equal(l.LockedBy, map[string]int{"prod-cf": 1}) {
		t.Fatalf("locked_by = %v, want the key as holder", l.LockedBy)
	}
	// An empty holder is the key too.
	s.do("PUT", "/lock/x", `{"key":"prod-cf","lock_by":""}`).expect(t, 200, "lock with empty holder")
	wantEntry(t, s, "x", "prod-cf", map[string]int{"prod-cf": 2})
	// Releasing without a holder releases the key's own hold.
	s.do("DELETE", "/lock/x", `{"key":"prod-cf"}`).expect(t, 200, "unlock")
	s.do("DELETE", "/lock/x", `{"key":"prod-cf"}`).expect(t, 200, "unlock")
	wantEntry(t, s, "x", "", map[string]int{})
}

func TestCountedReentrancyNeedsTwoDeletes(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"h"}`).expect(t, 200, "lock 1")
	l := s.do("PUT", "/lock/x", `{"key":"k","lock_by":"h"}`).expect(t, 200, "lock 2").lockOf(t)
	if l.LockedBy["h"] != 2 {
		t.Fatalf("after two locks locked_by = %v, want h:2", l.LockedBy)
	}
	l = s.do("DELETE", "/lock/x", `{"key":"k","locked_by":"h"}`).expect(t, 200, "unlock 1").lockOf(t)
	if l.Key != "k" || l.LockedBy["h"] != 1 {
		t.Fatalf("after one unlock: key %q locked_by %v, want still held by h:1", l.Key, l.LockedBy)
	}
	wantEntry(t, s, "x", "k", map[string]int{"h": 1})
	// Still held: another key is refused.
	s.do("PUT", "/lock/x", `{"key":"other"}`).expect(t, 423, "other key while held once")
	l = s.do("DELETE", "/lock/x", `{"key":"k","locked_by":"h"}`).expect(t, 200, "unlock 2").lockOf(t)
	if l.Key != "" || len(l.LockedBy) != 0 {
		t.Fatalf("after two unlocks: key %q locked_by %v, want free", l.Key, l.LockedBy)
	}
	wantEntry(t, s, "x", "", map[string]int{})
	s.do("PUT", "/lock/x", `{"key":"other"}`).expect(t, 200, "other key once free")
}

func TestSharedKeySeveralHolders(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, h := range []string{"node-a", "node-b", "node-c"} {
		s.do("PUT", "/lock/pool", jsonBody(map[string]string{"key": "shared", "lock_by": h})).expect(t, 200, "lock "+h)
	}
	s.do("PUT", "/lock/pool", `{"key":"shared","lock_by":"node-a"}`).expect(t, 200, "node-a again")
	wantEntry(t, s, "pool", "shared", map[string]int{"node-a": 2, "node-b": 1, "node-c": 1})
	s.do("PUT", "/lock/pool", `{"key":"exclusive","lock_by":"node-e"}`).expect(t, 423, "node-e")

	s.do("DELETE", "/lock/pool", `{"key":"shared","locked_by":"node-b"}`).expect(t, 200, "unlock b")
	// No zero count left behind for node-b.
	wantEntry(t, s, "pool", "shared", map[string]int{"node-a": 2, "node-c": 1})
	for _, h := range []string{"node-a", "node-a", "node-c"} {
		s.do("DELETE", "/lock/pool", jsonBody(map[string]string{"key": "shared", "locked_by": h})).expect(t, 200, "unlock "+h)
	}
	wantEntry(t, s, "pool", "", map[string]int{})
	s.do("PUT", "/lock/pool", `{"key":"exclusive","lock_by":"node-e"}`).expect(t, 200, "node-e once free")
}

func TestPutWrongKeyIs423WithWhoHoldsIt(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/prod-deployments", `{"key":"prod-cf","lock_by":"my-deployment"}`).expect(t, 200, "lock")
	s.do("PUT", "/lock/prod-deployments", `{"key":"prod-cf","lock_by":"other-deployment"}`).expect(t, 200, "lock shared")
	r := s.do("PUT", "/lock/prod-deployments", `{"key":"staging","lock_by":"x"}`).expect(t, 423, "wrong key")
	e := r.errorOf(t)
	for _, want := range []string{"prod-deployments", "prod-cf", "my-deployment", "other-deployment"} {
		if !strings.Contains(e.Error, want) {
			t.Errorf("423 error %q does not name %q", e.Error, want)
		}
	}
	if e.Lock == nil {
		t.Fatalf("423 has no \"lock\" object: %s", r.Body)
	}
	if e.Lock.Key != "prod-cf" || !maps.Equal(e.Lock.LockedBy, map[string]int{"my-deployment": 1, "other-deployment": 1}) {
		t.Errorf("423 lock = key %q locked_by %v", e.Lock.Key, e.Lock.LockedBy)
	}
	// Nothing changed.
	wantEntry(t, s, "prod-deployments", "prod-cf", map[string]int{"my-deployment": 1, "other-deployment": 1})
}

func TestDeleteUnknownOrFreeIs200(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("DELETE", "/lock/never-seen", `{"key":"k"}`).expect(t, 200, "unlock unknown")
	// Releasing an unknown lock does not create it.
	s.do("GET", "/lock/never-seen", "").expect(t, 404, "GET after unlock of unknown")
	if _, ok := s.list(t)["never-seen"]; ok {
		t.Errorf("an unlock of an unknown lock created it")
	}

	s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock")
	s.do("DELETE", "/lock/x", `{"key":"k"}`).expect(t, 200, "unlock")
	for _, body := range []string{`{"key":"k"}`, `{"key":"anything","locked_by":"anyone"}`} {
		s.do("DELETE", "/lock/x", body).expect(t, 200, "unlock free lock "+body)
	}
	wantEntry(t, s, "x", "", map[string]int{})
}

func TestDeleteByHolderHoldingNothingChangesNothing(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"a"}`).expect(t, 200, "lock")
	before := s.history(t, "x")
	l := s.do("DELETE", "/lock/x", `{"key":"k","locked_by":"b"}`).expect(t, 200, "unlock by b").lockOf(t)
	if l.Key != "k" || !maps.Equal(l.LockedBy, map[string]int{"a": 1}) {
		t.Fatalf("after b's unlock: key %q locked_by %v, want unchanged", l.Key, l.LockedBy)
	}
	wantEntry(t, s, "x", "k", map[string]int{"a": 1})
	if after := s.history(t, "x"); len(after) != len(before) {
		t.Errorf("history grew from %d to %d events on a no-op unlock", len(before), len(after))
	}
}

func TestDeleteWrongKeyIs423AndChangesNothing(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/x", `{"key":"k","lock_by":"a"}`).expect(t, 200, "lock")
	for _, body := range []string{`{"key":"wrong"}`, `{"key":"wrong","locked_by":"a"}`} {
		e := s.do("DELETE", "/lock/x", body).expect(t, 423, "unlock with the wrong key").errorOf(t)
		if !strings.Contains(e.Error, `"k"`) || !strings.Contains(e.Error, "a") || e.Lock == nil || e.Lock.Key != "k" {
			t.Errorf("423 on DELETE = %+v, want it to say the lock is held by k (a)", e)
		}
	}
	wantEntry(t, s, "x", "k", map[string]int{"a": 1})
}

func TestKeyAndHolderAsQueryParameters(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/x?key=k&lock_by=h", "").expect(t, 200, "PUT with query")
	s.do("PUT", "/lock/x?key=k&locked_by=h", "").expect(t, 200, "PUT with query locked_by")
	s.do("PUT", "/lock/x?key=k&requestor=r", "").expect(t, 200, "PUT with query requestor")
	s.do("PUT", "/lock/x?key=k", "").expect(t, 200, "PUT with query key only")
	wantEntry(t, s, "x", "k", map[string]int{"h": 2, "r": 1, "k": 1})
	s.do("PUT", "/lock/x?key=other", "").expect(t, 423, "PUT with another key in the query")

	s.do("DELETE", "/lock/x?key=other&locked_by=h", "").expect(t, 423, "DELETE wrong key in query")
	s.do("DELETE", "/lock/x?key=k&locked_by=h", "").expect(t, 200, "DELETE with query")
	s.do("DELETE", "/lock/x?key=k&lock_by=h", "").expect(t, 200, "DELETE with query lock_by")
	s.do("DELETE", "/lock/x?key=k&requestor=r", "").expect(t, 200, "DELETE with query requestor")
	wantEntry(t, s, "x", "k", map[string]int{"k": 1})
	s.do("DELETE", "/lock/x?key=k", "").expect(t, 200, "DELETE with query key only")
	wantEntry(t, s, "x", "", map[string]int{})

	// Escaped values in the query.
	s.do("PUT", "/lock/x?key="+url.QueryEscape("prod cf/1")+"&lock_by="+url.QueryEscape("a&b=c"), "").expect(t, 200, "PUT escaped query")
	wantEntry(t, s, "x", "prod cf/1", map[string]int{"a&b=c": 1})
}

// TestEscapedKeysAreExact: a \u escape of a whole character, a pair of
// surrogate halves included, is that character; a backslash before "u"
// is text. (Halves alone, and invalid UTF-8, are refused: TestBadRequestsAre400.)
func TestEscapedKeysAreExact(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/e", `{"key":"\ud83d\udd12"}`).expect(t, 200, "a key in escapes")
	s.do("PUT", "/lock/e", `{"key":"🔒"}`).expect(t, 200, "the same key as it is")
	wantEntry(t, s, "e", "🔒", map[string]int{"🔒": 2})
	s.do("PUT", "/lock/e", `{"key":"\ufffd"}`).expect(t, 423, "U+FFFD is another key")
	s.do("PUT", "/lock/b", `{"key":"\\ud800"}`).expect(t, 200, "a backslash, then text")
	wantEntry(t, s, "b", `\ud800`, map[string]int{`\ud800`: 1})
}

func TestBodyWinsOverQuery(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/x?key=q&lock_by=qh", `{"key":"b","lock_by":"bh"}`).expect(t, 200, "PUT body and query")
	wantEntry(t, s, "x", "b", map[string]int{"bh": 1})
	// The body wins, but a malformed query value is still refused, and
	// changes nothing.
	for _, q := range []string{"wait=1x", "ttl=abc", "force=maybe", "fence=-1"} {
		body := `{"key":"b","lock_by":"bh","wait":"1s","ttl":"1h","force":false,"fence":1}`
		s.do("PUT", "/lock/x?"+q, body).expect(t, 400, "PUT with "+q)
		s.do("DELETE", "/lock/x?"+q, body).expect(t, 400, "DELETE with "+q)
	}
	wantEntry(t, s, "x", "b", map[string]int{"bh": 1})
}

func TestLockResponseSaysWhatHappened(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	l1 := s.do("PUT", "/lock/x", `{"key":"k"}`).expect(t, 200, "lock").lockOf(t)
	if l1.Response == "" || l1.Name != "x" || l1.State != "held" || l1.Fence == 0 {
		t.Fatalf("PUT answer = %+v, want response, name x, state held, a fence", l1)
	}
	l := s.do("PUT", "/lock/x", `{"key":"k","lock_by":"b"}`).expect(t, 200, "lock shared").lockOf(t)
	if l.State != "shared" || l.Fence != l1.Fence {
		t.Fatalf("shared PUT answer = state %q fence %d, want shared and the same fence %d", l.State, l.Fence, l1.Fence)
	}
	s.do("DELETE", "/lock/x", `{"key":"k"}`).expect(t, 200, "unlock k")
	l = s.do("DELETE", "/lock/x", `{"key":"k","locked_by":"b"}`).expect(t, 200, "unlock b").lockOf(t)
	if l.Response == "" || l.State != "free" {
		t.Fatalf("last DELETE answer = %+v, want a response and state free", l)
	}
	l2 := s.do("PUT", "/lock/x", `{"key":"j"}`).expect(t, 200, "lock again").lockOf(t)
	if l2.Fence <= l1.Fence {
		t.Fatalf("fence after free→held again = %d, want > %d", l2.Fence, l1.Fence)
	}
}

// Names arrive URL-encoded and round-trip through GET /locks and
// GET /lock/{name}.
func TestNamesURLEncoded(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	names := map[string]string{ // name → how a client sends it
		"prod deploy":     "prod%20deploy",
		"a/b":             "a%2Fb",
		"déploiement-生产":  url.PathEscape("déploiement-生产"),
		"déploiement-生产2": "déploiement-生产2", // raw UTF-8 in the path
		"a?b#c%d":         url.PathEscape("a?b#c%d"),
		"..":              "%2e%2e",
		"x/../y":          "x%2F..%2Fy",
		"bosh+director":   "bosh+director",
		"/":               "%2F", // Go's ServeMux alone takes it for a trailing slash
		"//":              "%2F%2F",
		"/a":              "%2fa",
	}
	for name, esc := range names {
		l := s.do("PUT", "/lock/"+esc, `{"key":"k"}`).expect(t, 200, "PUT "+esc).lockOf(t)
		if l.Name != name {
			t.Errorf("PUT /lock/%s answered name %q, want %q", esc, l.Name, name)
		}
	}
	list := s.list(t)
	for name, esc := range names {
		if key, by := seedEntry(t, list, name); key != "k" || by["k"] != 1 {
			t.Errorf("GET /locks[%q] = %q %v", name, key, by)
		}
		if got := s.get(t, esc); got.Name != name || got.Key != "k" {
			t.Errorf("GET /lock/%s = name %q key %q, want %q k", esc, got.Name, got.Key, name)
		}
		// GET /lock/<url.PathEscape(name)> finds it whichever way it was
		// sent (".." only escaped as %2e%2e: a client would clean it away).
		if name == ".." {
			continue
		}
		if got := s.get(t, url.PathEscape(name)); got.Name != name {
			t.Errorf("GET /lock/%s = name %q, want %q", url.PathEscape(name), got.Name, name)
		}
	}
	if len(list) != len(names) {
		t.Errorf("GET /locks has %d entries, want %d: %v", len(list), len(names), keys(list))
	}
	for name, esc := range names {
		s.do("DELETE", "/lock/"+esc, `{"key":"k"}`).expect(t, 200, "DELETE "+esc)
		if got := s.get(t, esc); got.Key != "" {
			t.Errorf("%q still held after DELETE", name)
		}
	}
}

func TestNameLengthLimitBoundary(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	ok := strings.Repeat("n", 512)
	s.do("PUT", "/lock/"+ok, `{"key":"k"}`).expect(t, 200, "512-byte name")
	// 512 bytes of multi-byte UTF-8 (170 × 3 bytes + 2).
	okUTF8 := strings.Repeat("生", 170) + "ab"
	s.do("PUT", "/lock/"+url.PathEscape(okUTF8), `{"key":"k"}`).expect(t, 200, "512-byte UTF-8 name")
	s.do("PUT", "/lock/"+ok+"n", `{"key":"k"}`).expect(t, 400, "513-byte name")
	s.do("PUT", "/lock/"+url.PathEscape(okUTF8+"c"), `{"key":"k"}`).expect(t, 400, "513-byte UTF-8 name")
	s.do("PUT", "/lock/x", jsonBody(map[string]string{"key": ok, "lock_by": ok})).expect(t, 200, "512-byte key and holder")
}

// TestNamesAreComparedByteForByte: names that look alike but differ in
// their bytes (Unicode normal forms, a zero-width space, a trailing space)
// are different locks, as with the original server; docs/api.md says so.
func TestNamesAreComparedByteForByte(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	names := []string{"caf\u00e9", "cafe\u0301", "caf\u00e9\u200b", "caf\u00e9 "}
	for i, n := range names {
		s.do("PUT", "/lock/"+url.PathEscape(n), jsonBody(map[string]string{"key": "k" + string(rune('0'+i))})).expect(t, 200, "lock "+strconv.Quote(n))
	}
	list := s.list(t)
	for i, n := range names {
		wantEntry(t, s, n, "k"+string(rune('0'+i)), map[string]int{"k" + string(rune('0'+i)): 1})
	}
	if len(list) != len(names) {
		t.Errorf("GET /locks has %v, want %d locks", keys(list), len(names))
	}
}

// TestSeedAnswersSayUTF8LikeTheOriginal: the original server (gin's JSON
// render) answered every route with Content-Type "application/json;
// charset=utf-8". A client that trusts the charset, or lacks one, keeps
// reading names, keys and holders as UTF-8: Windows PowerShell 5.1's
// Invoke-RestMethod decodes a body without a charset as ISO-8859-1, so a
// lock named "déploiement" came back as "dÃ©ploiement" and a script
// looking for its lock in GET /locks did not find it.
func TestSeedAnswersSayUTF8LikeTheOriginal(t *testing.T) {
	const want = "application/json; charset=utf-8"
	s := newHTTPStack(t, stackOptions{Auth: httpapi.Credentials{User: "ci", Pass: "secret"}})
	name := url.PathEscape("déploiement")
	for _, c := range []struct {
		method, path, body string
		status             int
		opts               []reqOption
	}{
		{"PUT", "/lock/" + name, `{"key":"clé","lock_by":"équipe"}`, 200, nil},
		{"PUT", "/lock/" + name, `{"key":"other"}`, 423, nil},
		{"GET", "/locks", "", 200, nil},
		{"GET", "/lock/" + name, "", 200, nil},
		{"DELETE", "/lock/" + name, `{"key":"other"}`, 423, nil},
		{"DELETE", "/lock/" + name, `{"key":"clé","locked_by":"équipe"}`, 200, nil},
		{"PUT", "/lock/" + name, `{}`, 400, nil},
		{"GET", "/locks", "", 401, []reqOption{anonymous()}},
		{"GET", "/nope", "", 404, nil},
	} {
		r := s.do(c.method, c.path, c.body, c.opts...).expect(t, c.status, c.method+" "+c.path)
		if ct := r.Header.Get("Content-Type"); ct != want {
			t.Errorf("%s %s: %d with Content-Type %q, want %q (the original's)", c.method, c.path, r.Status, ct, want)
		}
	}
}
