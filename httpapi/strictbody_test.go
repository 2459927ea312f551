package httpapi_test

// Request bodies and query strings that encoding/json and url.Values would
// read without a word, or with a word that does not say what is wrong.

import (
	"strings"
	"testing"
)

// refused sends each request, expects 400 with an error that says want,
// and checks that nothing was taken.
func refused(t *testing.T, s *httpStack, cases []struct{ what, method, path, body, want string }) {
	t.Helper()
	for _, c := range cases {
		r := s.do(c.method, c.path, c.body).expect(t, 400, c.what)
		if e := r.errorOf(t); !strings.Contains(e.Error, c.want) {
			t.Errorf("%s: error %q, want it to say %q", c.what, e.Error, c.want)
		}
	}
	if l := s.list(t); len(l) != 0 {
		t.Errorf("refused requests took locks: %v", keys(l))
	}
}

// TestBodyMustBeAnObject: a body that is JSON, but not an object, is told
// so plainly (encoding/json said `field "" has the wrong type (array)`).
func TestBodyMustBeAnObject(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	refused(t, s, []struct{ what, method, path, body, want string }{
		{"an array", "PUT", "/lock/x", `["k"]`, "request body is not a JSON object but an array: the body must be an object"},
		{"an array, with whitespace", "PUT", "/lock/x?key=k", " \n[{\"key\":\"k\"}]", "not a JSON object but an array"},
		{"a string", "PUT", "/lock/x?key=k", `"k"`, "not a JSON object but a string"},
		{"a number", "DELETE", "/lock/x?key=k", `5`, "not a JSON object but a number"},
		{"a negative number", "POST", "/lock/x/refresh?key=k&ttl=1m", `-1`, "not a JSON object but a number"},
		{"true", "PUT", "/lock/x?key=k", `true`, "not a JSON object but a boolean"},
		{"false", "PUT", "/pool/p?key=k", `false`, "not a JSON object but a boolean"},
		{"an array for metadata's body", "PUT", "/pool/p/m", `[{"metadata":1}]`, "not a JSON object but an array"},
	})
	for _, body := range []string{`["k"]`, `"k"`, `5`, `true`} {
		if e := s.do("PUT", "/lock/x", body).errorOf(t); strings.Contains(e.Error, `field ""`) {
			t.Errorf("%s: error %q names an empty field", body, e.Error)
		}
	}
	// null is still an empty object.
	s.do("PUT", "/lock/x?key=k", `null`).expect(t, 200, "null body, key in the query")
}

// TestBodyByteOrderMark: a UTF-8 byte-order mark ahead of the JSON (what
// editors on Windows save, and curl --data-binary @file sends) is skipped,
// as RFC 8259 lets a parser do; UTF-16 is refused, saying so.
func TestBodyByteOrderMark(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	const bom = "\xef\xbb\xbf"
	l := s.do("PUT", "/lock/x", bom+`{"key":"k","lock_by":"h"}`).expect(t, 200, "PUT with a BOM").lockOf(t)
	if l.Key != "k" || l.LockedBy["h"] != 1 {
		t.Fatalf("PUT with a BOM took %s", mustJSON(l))
	}
	// The slow path too (a number of seconds), and a body that is a BOM
	// and whitespace only (an empty body).
	s.do("POST", "/lock/x/refresh", bom+"{\n \"key\": \"k\", \"lock_by\": \"h\", \"ttl\": 60\n}\n").expect(t, 200, "refresh with a BOM")
	s.do("DELETE", "/lock/x?key=k&locked_by=h", bom+"\r\n").expect(t, 200, "DELETE with a BOM only")
	wantEntry(t, s, "x", "", map[string]int{})

	// Only one, and only at the start: anywhere else it is a character
	// the JSON does not allow there.
	for _, body := range []string{bom + bom + `{"key":"k"}`, ` ` + bom + `{"key":"k"}`} {
		s.do("PUT", "/lock/y", body).expect(t, 400, "a BOM that is not the first thing in the body")
	}
	// UTF-16, as Notepad's "Unicode" writes it.
	utf16 := "\xff\xfe"
	for _, c := range `{"key":"k"}` {
		utf16 += string(rune(c)) + "\x00"
	}
	if e := s.do("PUT", "/lock/y", utf16).expect(t, 400, "UTF-16").errorOf(t); !strings.Contains(e.Error, "UTF-16") {
		t.Errorf("UTF-16 body: error %q does not say UTF-16", e.Error)
	}
	if _, ok := s.list(t)["y"]; ok {
		t.Errorf("refused requests took lock y")
	}
}
