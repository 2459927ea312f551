package httpapi_test

// Request bodies and query strings that encoding/json and url.Values would
// read without a word, or with a word that does not say what is wrong.

import (
	"bytes"
	"compress/gzip"
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

// TestBodyFieldNamesAreExact: a field twice is refused, also when spelt in
// two cases; encoding/json took the last of two, so {"key":"k1","key":"k2"}
// was key k2. A name in another case alone is still the field, as it was
// for the original server ({"KEY":"x"} is key x): a client that worked
// with it keeps working.
func TestBodyFieldNamesAreExact(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	refused(t, s, []struct{ what, method, path, body, want string }{
		{"key twice", "PUT", "/lock/x", `{"key":"k1","key":"k2"}`, `request body has the field "key" twice; send each field once`},
		{"key twice, the same", "PUT", "/lock/x", `{"key":"k","lock_by":"h","key":"k"}`, `the field "key" twice`},
		{"ttl twice", "PUT", "/lock/x", `{"key":"k","ttl":"1h","ttl":1}`, `the field "ttl" twice`},
		{"holder twice", "DELETE", "/lock/x", `{"key":"k","locked_by":"a","locked_by":"b"}`, `the field "locked_by" twice`},
		{"force twice", "DELETE", "/lock/x", `{"force":false,"force":true}`, `the field "force" twice`},
		{"fence twice", "POST", "/lock/x/refresh", `{"key":"k","ttl":"1m","fence":1,"fence":2}`, `the field "fence" twice`},
		{"metadata twice", "PUT", "/pool/p/m", `{"metadata":1,"metadata":2}`, `the field "metadata" twice`},
		{"an escaped name the same as another", "PUT", "/lock/x", `{"key":"a","k\u0065y":"b"}`, `the field "key" twice`},
		{"Key with key", "PUT", "/lock/x", `{"key":"a","Key":"b"}`, `request body has the field "key" twice, as "key" and "Key"`},
		{"the Kelvin sign with key", "PUT", "/lock/x", "{\"\u212aey\":\"x\",\"KEY\":\"y\"}", `the field "key" twice, as "\u212aey" and "KEY"`},
		{"TTL with ttl", "PUT", "/lock/x", `{"key":"k","TTL":"1h","ttl":"2h"}`, `the field "ttl" twice`},
	})
	// Bad JSON is still told as bad JSON, whatever its names.
	if e := s.do("PUT", "/lock/x", `{"KEY":"x",}`).expect(t, 400, "bad JSON").errorOf(t); !strings.Contains(e.Error, "invalid character") {
		t.Errorf("bad JSON with a wrong-case name: error %q", e.Error)
	}
	// A name in another case, once, is the field.
	s.do("PUT", "/lock/y", `{"KEY":"x","Lock_By":"h","TTL":"1h"}`).expect(t, 200, "names in another case")
	wantEntry(t, s, "y", "x", map[string]int{"h": 1})
	s.do("DELETE", "/lock/y", "{\"\u212aey\":\"x\",\"reque\u017ftor\":\"h\"}").expect(t, 200, "the Kelvin sign and a long s")
	wantEntry(t, s, "y", "", map[string]int{})
	// Unknown fields are still ignored, repeated or not; so are names
	// that only look like a field's.
	s.do("PUT", "/lock/x", `{"key":"k","note":1,"note":2,"keys":"x","lockby":"y"}`).expect(t, 200, "unknown fields")
	wantEntry(t, s, "x", "k", map[string]int{"k": 1})
}

// TestQueryParameterOnce: a parameter the API reads, given twice, is
// refused; url.Values' Get read the first and left the others unread, so
// "?ttl=1s&ttl=-5" passed and "?ttl=&ttl=5m" took a hold without a lease.
func TestQueryParameterOnce(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	refused(t, s, []struct{ what, method, path, body, want string }{
		{"ttl twice", "PUT", "/lock/x?key=k&ttl=1s&ttl=-5", ``, `query string has "ttl" twice; send each parameter once`},
		{"ttl empty, then set", "PUT", "/lock/x?key=k&ttl=&ttl=5m", ``, `"ttl" twice`},
		{"ttl twice, the body's wins", "PUT", "/lock/x?ttl=1s&ttl=2s", `{"key":"k","ttl":"1m"}`, `"ttl" twice`},
		{"key three times", "PUT", "/lock/x?key=a&key=b&key=c", ``, `query string has "key" 3 times`},
		{"wait twice", "PUT", "/lock/x?key=k&wait=1s&wait=1s", ``, `"wait" twice`},
		{"holder twice", "PUT", "/lock/x?key=k&lock_by=a&lock_by=b", ``, `"lock_by" twice`},
		{"locked_by twice", "DELETE", "/lock/x?key=k&locked_by=a&locked_by=b", ``, `"locked_by" twice`},
		{"requestor twice", "POST", "/lock/x/refresh?key=k&ttl=1m&requestor=a&requestor=b", ``, `"requestor" twice`},
		{"force twice", "DELETE", "/lock/x?force=false&force=true", ``, `"force" twice`},
		{"fence twice", "DELETE", "/lock/x?force=true&fence=1&fence=2", ``, `"fence" twice`},
		{"pool acquire", "PUT", "/pool/p?key=k&key=j", ``, `"key" twice`},
		{"pool remove", "DELETE", "/pool/p/m?force=true&force=true", ``, `"force" twice`},
	})
	// Parameters the API does not read are ignored, repeated or not (a
	// cache-buster, say).
	s.do("PUT", "/lock/x?key=k&_=1&_=2", ``).expect(t, 200, "unknown parameters repeated")
	wantEntry(t, s, "x", "k", map[string]int{"k": 1})
}

// TestDurationTooLongIsSaid: a duration past the longest a server can
// hold (about 292 years) is told as too long, in the body and the query,
// not as badly written.
func TestDurationTooLongIsSaid(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	refused(t, s, []struct{ what, method, path, body, want string }{
		{"ttl in the body", "PUT", "/lock/x", `{"key":"k","ttl":"9999999999h"}`, `request body: duration "9999999999h" is too long: the longest is 2562047h47m16.854775807s (about 292 years)`},
		{"wait in the query", "PUT", "/lock/x?key=k&wait=9999999999h", ``, `wait: duration "9999999999h" is too long`},
		{"refresh ttl", "POST", "/lock/x/refresh?key=k&ttl=2562048h", ``, `ttl: duration "2562048h" is too long`},
		{"seconds", "PUT", "/lock/x", `{"key":"k","ttl":"9999999999"}`, `duration "9999999999" is out of range: use 0 to 1e9 seconds`},
	})
}

// TestCompressedBodySaysSo: a body sent compressed (Content-Encoding:
// gzip, as some HTTP libraries send when told to) is not decoded; its 400
// said only "request body is not valid UTF-8", which sent its sender
// looking at the JSON. It names the encoding, and nothing is taken. A
// plain body that claims an encoding is read as before.
func TestCompressedBodySaysSo(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"key":"k"}`))
	zw.Close()
	for _, c := range []struct{ what, method, path, encoding string }{
		{"PUT", "PUT", "/lock/x", "gzip"},
		{"DELETE", "DELETE", "/lock/x", "gzip"},
		{"refresh", "POST", "/lock/x/refresh?ttl=1m", "GZIP"},
		{"a pool's member", "PUT", "/pool/p/m", "deflate, gzip"},
	} {
		r := s.do(c.method, c.path, gz.String(), header("Content-Encoding", c.encoding)).expect(t, 400, c.what)
		e := r.errorOf(t)
		if !strings.Contains(e.Error, "Content-Encoding: "+c.encoding) || !strings.Contains(e.Error, "send it uncompressed") {
			t.Errorf("%s of a gzip body: error %q, want it to name Content-Encoding: %s", c.what, e.Error, c.encoding)
		}
	}
	if l := s.list(t); len(l) != 0 {
		t.Errorf("refused requests took locks: %v", keys(l))
	}
	s.do("PUT", "/lock/x", `{"key":"k"}`, header("Content-Encoding", "gzip")).expect(t, 200, "a plain body labelled gzip")
	if e := s.do("PUT", "/lock/y", gz.String(), header("Content-Encoding", "identity")).expect(t, 400, "gzip labelled identity").errorOf(t); strings.Contains(e.Error, "Content-Encoding") {
		t.Errorf("a body labelled identity: error %q names an encoding", e.Error)
	}
}

// TestFormBodySaysSo: `curl -d key=k` (form data, which curl labels
// application/x-www-form-urlencoded, as it labels JSON too) is not read:
// the seed's API takes JSON, as the original server did. Its 400 said only
// "invalid character 'k' looking for beginning of value", which does not
// tell a newcomer that the fields are right and their encoding is not. It
// says so, and nothing is taken. Bad JSON that is not form data keeps its
// message alone.
func TestFormBodySaysSo(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, c := range []struct{ what, method, path, body string }{
		{"PUT", "PUT", "/lock/x", "key=k"},
		{"PUT with a holder", "PUT", "/lock/x", "key=k&lock_by=h"},
		{"DELETE", "DELETE", "/lock/x", "key=k&locked_by=h"},
		{"refresh", "POST", "/lock/x/refresh", "key=k&ttl=1m"},
		{"a pool", "PUT", "/pool/p", "key=k"},
	} {
		e := s.do(c.method, c.path, c.body, header("Content-Type", "application/x-www-form-urlencoded")).expect(t, 400, c.what).errorOf(t)
		if !strings.Contains(e.Error, "form data") || !strings.Contains(e.Error, `{"key":"..."}`) || !strings.Contains(e.Error, "?key=") {
			t.Errorf("%s of %q: error %q, want it to say the body is form data, and how to send it", c.what, c.body, e.Error)
		}
	}
	for _, body := range []string{"garbage", `{"key":"k"`, "[1]", "=", "k=v"} {
		if e := s.do("PUT", "/lock/y", body).expect(t, 400, body).errorOf(t); strings.Contains(e.Error, "form data") {
			t.Errorf("PUT of %q: error %q takes it for form data", body, e.Error)
		}
	}
	if l := s.list(t); len(l) != 0 {
		t.Errorf("refused requests took locks: %v", keys(l))
	}
}
