package httpapi_test

// Errors are always JSON {"error": "..."} with the right status, and no
// input makes the server answer 500 or anything but JSON.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBadRequestsAre400(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/held", `{"key":"k"}`).expect(t, 200, "lock")
	long := strings.Repeat("x", 513)
	tests := []struct {
		name, method, path, body string
		mention                  string // the error message names this
	}{
		{"no body no key", "PUT", "/lock/x", "", "key"},
		{"empty object", "PUT", "/lock/x", `{}`, "key"},
		{"empty key", "PUT", "/lock/x", `{"key":""}`, "key"},
		{"null key", "PUT", "/lock/x", `{"key":null}`, "key"},
		{"whitespace body", "PUT", "/lock/x", " \n\t ", "key"},
		{"delete no key", "DELETE", "/lock/held", ``, "key"},
		{"delete empty key", "DELETE", "/lock/held", `{"key":""}`, "key"},
		{"refresh no key", "POST", "/lock/held/refresh", `{"ttl":"1m"}`, "key"},
		{"bad JSON", "PUT", "/lock/x", `{"key":`, ""},
		{"bad JSON 2", "PUT", "/lock/x", `{key: "k"}`, ""},
		{"not JSON", "PUT", "/lock/x", `key=k`, ""},
		{"array", "PUT", "/lock/x", `["k"]`, ""},
		{"string", "PUT", "/lock/x", `"k"`, ""},
		{"number", "PUT", "/lock/x", `5`, ""},
		{"true", "PUT", "/lock/x", `true`, ""},
		{"trailing data", "PUT", "/lock/x", `{"key":"k"} x`, ""},
		{"two objects", "PUT", "/lock/x", `{"key":"k"}{"key":"j"}`, ""},
		{"delete bad JSON", "DELETE", "/lock/held", `{"key":"k"`, ""},
		{"delete trailing", "DELETE", "/lock/held", `{"key":"k"}]`, ""},
		{"bad wait query", "PUT", "/lock/x?wait=soon", `{"key":"k"}`, "wait"},
		{"bad wait body", "PUT", "/lock/x", `{"key":"k","wait":"soon"}`, "duration"},
		{"wait 1y", "PUT", "/lock/x", `{"key":"k","wait":"1y"}`, "duration"},
		{"negative wait query", "PUT", "/lock/x?wait=-5s", `{"key":"k"}`, "wait"},
		{"bad ttl query", "PUT", "/lock/x?ttl=forever", `{"key":"k"}`, "ttl"},
		// url.Values would drop these pairs without a word: a hold with
		// no lease, or under another holder.
		{"semicolon in ttl query", "PUT", "/lock/x?key=k&ttl=1s;x", ``, "semicolon"},
		{"semicolon in holder query", "PUT", "/lock/x?key=k&lock_by=job;42", ``, "semicolon"},
		{"bad escape in query", "PUT", "/lock/x?key=k&wait=%zz", ``, "query string"},
		{"delete semicolon in query", "DELETE", "/lock/held?key=k;x", ``, "semicolon"},
		{"bad ttl body", "PUT", "/lock/x", `{"key":"k","ttl":"forever"}`, "duration"},
		{"negative ttl body", "PUT", "/lock/x", `{"key":"k","ttl":"-5s"}`, "negative"},
		{"negative ttl seconds", "PUT", "/lock/x", `{"key":"k","ttl":-5}`, "request body: duration of -5 seconds must not be negative"},
		{"negative ttl decimal query", "PUT", "/lock/x?ttl=-1", `{"key":"k"}`, `ttl: duration "-1" must not be negative`},
		{"negative ttl decimal body", "PUT", "/lock/x", `{"key":"k","ttl":"-1"}`, `request body: duration "-1" must not be negative`},
		// A positive duration that rounds to nothing would read as "no
		// lease asked for": a hold that never expires.
		{"ttl under a nanosecond query", "PUT", "/lock/x?ttl=0.5ns", `{"key":"k"}`, "shorter than a nanosecond"},
		{"ttl under a nanosecond seconds", "PUT", "/lock/x", `{"key":"k","ttl":1e-12}`, "shorter than a nanosecond"},
		// Too small for a float64: read as 0 without an error.
		{"ttl below a float64 seconds", "PUT", "/lock/x", `{"key":"k","ttl":1e-400}`, "shorter than a nanosecond"},
		{"ttl below a float64 query", "PUT", "/lock/x?ttl=0." + strings.Repeat("0", 400) + "1", `{"key":"k"}`, "shorter than a nanosecond"},
		{"ttl under a nanosecond string", "PUT", "/lock/x", `{"key":"k","ttl":"0.0000000005"}`, "shorter than a nanosecond"},
		{"wait under a nanosecond", "PUT", "/lock/x?wait=0.9ns", `{"key":"k"}`, "shorter than a nanosecond"},
		// Seconds are decimal: no hex, underscores or exponents.
		{"ttl hex seconds", "PUT", "/lock/x?ttl=0x1p4", `{"key":"k"}`, "bad duration"},
		{"ttl underscore seconds", "PUT", "/lock/x?ttl=1_000", `{"key":"k"}`, "bad duration"},
		{"ttl exponent seconds", "PUT", "/lock/x?ttl=1.5e3", `{"key":"k"}`, "bad duration"},
		{"ttl wrong type", "PUT", "/lock/x", `{"key":"k","ttl":true}`, ""},
		{"bad force query", "DELETE", "/lock/held?force=maybe", ``, "force"},
		{"bad force body", "DELETE", "/lock/held", `{"force":"yes"}`, ""},
		{"bad refresh ttl", "POST", "/lock/held/refresh", `{"key":"k","ttl":"later"}`, ""},

		// Names, keys and holders: empty, too long, invalid UTF-8, control characters.
		{"name too long", "PUT", "/lock/" + long, `{"key":"k"}`, "512"},
		{"name invalid UTF-8", "PUT", "/lock/%FF", `{"key":"k"}`, "UTF-8"},
		{"name invalid UTF-8 mid", "PUT", "/lock/ab%C3%28", `{"key":"k"}`, "UTF-8"},
		{"name newline", "PUT", "/lock/a%0Ab", `{"key":"k"}`, "control"},
		{"name NUL", "PUT", "/lock/a%00b", `{"key":"k"}`, "control"},
		{"name DEL", "PUT", "/lock/a%7Fb", `{"key":"k"}`, "control"},
		{"name tab", "PUT", "/lock/a%09b", `{"key":"k"}`, "control"},
		{"name C1 control", "PUT", "/lock/a%C2%85b", `{"key":"k"}`, "control"},
		{"delete name too long", "DELETE", "/lock/" + long, `{"key":"k"}`, "512"},
		{"delete name invalid UTF-8", "DELETE", "/lock/%FF", `{"key":"k"}`, "UTF-8"},
		{"delete name control", "DELETE", "/lock/%0A", `{"key":"k"}`, "control"},
		{"force name control", "DELETE", "/lock/%0A?force=true", ``, "control"},
		{"get name invalid UTF-8", "GET", "/lock/%FF", ``, "UTF-8"},
		{"get name control", "GET", "/lock/%0A", ``, "control"},
		{"history name control", "GET", "/lock/%0A/history", ``, "control"},
		{"refresh name control", "POST", "/lock/%0A/refresh", `{"key":"k","ttl":"1m"}`, "control"},
		{"key too long", "PUT", "/lock/x", jsonBody(map[string]string{"key": long}), "512"},
		{"key newline", "PUT", "/lock/x", `{"key":"a\nb"}`, "control"},
		{"key NUL", "PUT", "/lock/x", `{"key":"a\u0000b"}`, "control"},
		{"key invalid UTF-8 query", "PUT", "/lock/x?key=%FF", ``, "UTF-8"},
		// In the body, encoding/json would read a bad byte, or an escape of
		// half a surrogate pair, as U+FFFD: "\xff" and "\xfe" one key.
		{"key invalid UTF-8 body", "PUT", "/lock/x", "{\"key\":\"\xff\"}", "UTF-8"},
		{"holder invalid UTF-8 body", "PUT", "/lock/x", "{\"key\":\"k\",\"lock_by\":\"a\xfe\"}", "UTF-8"},
		{"key lone high surrogate", "PUT", "/lock/x", `{"key":"\ud800"}`, "surrogate"},
		{"key lone low surrogate", "PUT", "/lock/x", `{"key":"a\udc00b"}`, "surrogate"},
		{"key reversed surrogates", "PUT", "/lock/x", `{"key":"\ude00\ud83d"}`, "surrogate"},
		{"delete key lone surrogate", "DELETE", "/lock/held", `{"key":"\udbff"}`, "surrogate"},
		{"key control query", "PUT", "/lock/x?key=%0A", ``, "control"},
		{"holder too long", "PUT", "/lock/x", jsonBody(map[string]string{"key": "k", "lock_by": long}), "512"},
		{"holder newline", "PUT", "/lock/x", `{"key":"k","locked_by":"a\nb"}`, "control"},
		{"holder invalid UTF-8 query", "PUT", "/lock/x?key=k&requestor=%FF", ``, "UTF-8"},
		{"delete key invalid UTF-8 query", "DELETE", "/lock/held?key=%FF", ``, "UTF-8"},
		{"refresh holder too long", "POST", "/lock/held/refresh", jsonBody(map[string]string{"key": "k", "lock_by": long, "ttl": "1m"}), "512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.body).expect(t, 400, tc.method+" "+tc.path+" "+tc.body)
			if e := r.errorOf(t); tc.mention != "" && !strings.Contains(e.Error, tc.mention) {
				t.Errorf("error %q does not mention %q", e.Error, tc.mention)
			}
		})
	}
	// None of that changed the held lock or created another.
	wantEntry(t, s, "held", "k", map[string]int{"k": 1})
	if l := s.list(t); len(l) != 1 {
		t.Errorf("bad requests created locks: %v", keys(l))
	}
}

func TestNotFound(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, path := range []string{"/", "/nope", "/lock", "/locks/x", "/lock/x/y", "/lock/x/history/more", "/api/v1/locks"} {
		s.do("GET", path, "").expect(t, 404, "GET "+path)
	}
	s.do("GET", "/lock/never-seen", "").expect(t, 404, "GET unknown lock")
	s.do("GET", "/lock/never-seen/history", "").expect(t, 404, "history of unknown lock")
	e := s.do("GET", "/lock/never-seen", "").errorOf(t)
	if !strings.Contains(e.Error, "never-seen") {
		t.Errorf("404 error %q does not name the lock", e.Error)
	}
}

// TestMethodNotAllowedNamesThePathAsSent: a name holding an escaped slash
// is one segment, but the 405 and 404 named the decoded path, another
// route: PUT /lock/a%2Fb/refresh got "method PUT is not allowed on
// /lock/a/b/refresh", and PUT /lock/%2F/history "... on /lock///history".
// They name the path as sent.
func TestMethodNotAllowedNamesThePathAsSent(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, c := range []struct{ method, path string }{
		{"PUT", "/lock/a%2Fb/refresh"},
		{"PUT", "/lock/%2F/history"},
		{"PATCH", "/lock/%2F"},
		{"POST", "/pool/a%2Fb"},
	} {
		e := s.do(c.method, c.path, "").expect(t, 405, c.method+" "+c.path).errorOf(t)
		if !strings.Contains(e.Error, " on "+c.path+";") {
			t.Errorf("%s %s: error %q, want it to name %s", c.method, c.path, e.Error, c.path)
		}
	}
	if e := s.do("GET", "/nope/a%2Fb", "").expect(t, 404, "GET /nope/a%2Fb").errorOf(t); e.Error != "no such route: GET /nope/a%2Fb" {
		t.Errorf("GET /nope/a%%2Fb: error %q", e.Error)
	}
	// A path whose escapes only spell it another way is named decoded,
	// as before.
	if e := s.do("PATCH", "/lock/caf%C3%A9", "").expect(t, 405, "PATCH /lock/café").errorOf(t); !strings.Contains(e.Error, " on /lock/café;") {
		t.Errorf("PATCH /lock/caf%%C3%%A9: error %q, want it to name /lock/café", e.Error)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	tests := []struct {
		method, path string
		allow        []string
	}{
		{"POST", "/locks", []string{"GET"}},
		{"DELETE", "/locks", []string{"GET"}},
		{"PUT", "/locks", []string{"GET"}},
		{"PATCH", "/lock/x", []string{"DELETE", "GET", "PUT"}},
		{"POST", "/lock/x", []string{"DELETE", "GET", "PUT"}},
		{"GET", "/lock/x/refresh", []string{"POST"}},
		{"PUT", "/lock/x/refresh", []string{"POST"}},
		{"DELETE", "/lock/x/history", []string{"GET"}},
		{"POST", "/events", []string{"GET"}},
		{"DELETE", "/healthz", []string{"GET"}},
		{"GET", "/pool/p/m", []string{"DELETE", "PUT"}},
		{"POST", "/pool/p", []string{"GET", "PUT"}},
	}
	for _, tc := range tests {
		r := s.do(tc.method, tc.path, `{"key":"k"}`).expect(t, 405, tc.method+" "+tc.path)
		var allow []string
		for _, v := range r.Header.Values("Allow") {
			for _, m := range strings.Split(v, ",") {
				allow = append(allow, strings.TrimSpace(m))
			}
		}
		slices.Sort(allow)
		// HEAD is listed with GET, which answers it too.
		if slices.Contains(allow, "GET") != slices.Contains(allow, "HEAD") {
			t.Errorf("%s %s: Allow = %v: HEAD works wherever GET does, and only there", tc.method, tc.path, allow)
		}
		if e := r.errorOf(t); !strings.Contains(e.Error, fmt.Sprint(r.Header.Values("Allow"))) {
			t.Errorf("%s %s: error %q does not list %v", tc.method, tc.path, e.Error, r.Header.Values("Allow"))
		}
		allow = slices.DeleteFunc(allow, func(m string) bool { return m == "HEAD" })
		if !slices.Equal(allow, tc.allow) {
			t.Errorf("%s %s: Allow = %v, want %v", tc.method, tc.path, allow, tc.allow)
		}
	}
	// The refused requests changed nothing.
	if l := s.list(t); len(l) != 0 {
		t.Errorf("405 requests created locks: %v", keys(l))
	}
}

func TestBodyOver1MiBIs413(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	const limit = 1 << 20
	pad := func(total int) string {
		head := `{"key":"k","pad":"`
		return head + strings.Repeat("p", total-len(head)-2) + `"}`
	}
	for _, method := range []string{"PUT", "DELETE"} {
		r := s.do(method, "/lock/x", pad(limit+1)).expect(t, 413, method+" with a body of 1 MiB + 1")
		if e := r.errorOf(t); !strings.Contains(e.Error, "bytes") {
			t.Errorf("413 error %q does not say what the limit is", e.Error)
		}
	}
	s.do("POST", "/lock/x/refresh", pad(2*limit)).expect(t, 413, "refresh with 2 MiB")
	s.do("PUT", "/lock/x", pad(8*limit)).expect(t, 413, "PUT with 8 MiB")
	if l := s.list(t); len(l) != 0 {
		t.Errorf("413 requests created locks: %v", keys(l))
	}
	// Exactly 1 MiB is accepted (unknown fields are ignored).
	s.do("PUT", "/lock/x", pad(limit)).expect(t, 200, "PUT with a body of exactly 1 MiB")
}

// TestAnnouncedOverLimitIs413AtOnce: a Content-Length over 1 MiB is
// answered 413 at once, without waiting for the body: a client that sends
// none (or waits for a 100 Continue) waited for the read timeout.
func TestAnnouncedOverLimitIs413AtOnce(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	for _, c := range []struct{ what, head string }{
		{"PUT, no body sent", "PUT /lock/x?key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"},
		{"PUT, Expect: 100-continue", "PUT /lock/x?key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"},
		{"DELETE, a few bytes of it sent", "DELETE /lock/x?key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{\"key\":"},
		{"refresh", "POST /lock/x/refresh?key=k&ttl=1m HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"},
		{"pool", "PUT /pool/p/m HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"},
	} {
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		conn.SetDeadline(start.Add(5 * time.Second))
		if _, err := io.WriteString(conn, c.head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: no answer within 5s (%v)", c.what, err)
			conn.Close()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != 413 || !strings.Contains(string(b), `"error":"request body is over 1048576 bytes"`) {
			t.Errorf("%s: %d %s, want 413", c.what, resp.StatusCode, b)
		}
		if !resp.Close {
			t.Errorf("%s: the connection, with a body unread, is kept open", c.what)
		}
	}
	if l := s.list(t); len(l) != 0 {
		t.Errorf("413 requests created locks: %v", keys(l))
	}
}

func TestEveryAnswerIsJSON(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	// do checks Content-Type and JSON on every answer; walk every route.
	s.do("GET", "/locks", "").expect(t, 200, "list")
	s.do("PUT", "/lock/x", `{"key":"k","ttl":"1h"}`).expect(t, 200, "lock")
	s.do("GET", "/lock/x", "").expect(t, 200, "get")
	s.do("POST", "/lock/x/refresh", `{"key":"k","ttl":"2h"}`).expect(t, 200, "refresh")
	s.do("GET", "/lock/x/history", "").expect(t, 200, "history")
	s.do("DELETE", "/lock/x", `{"key":"k"}`).expect(t, 200, "unlock")
	s.do("DELETE", "/lock/x?force=true", "").expect(t, 200, "force")
	s.do("GET", "/healthz", "").expect(t, 200, "healthz")
	s.do("GET", "/readyz", "").expect(t, 200, "readyz")
	s.do("PUT", "/lock/y", `{"key":"a"}`).expect(t, 200, "lock y")
	s.do("PUT", "/lock/y", `{"key":"b"}`).expect(t, 423, "conflict")
	s.do("GET", "/nope", "").expect(t, 404, "404")
	s.do("PATCH", "/locks", "").expect(t, 405, "405")
	for _, path := range []string{"/locks", "/lock/x", "/lock/y", "/healthz"} {
		r := s.do("HEAD", path, "")
		if r.Status != 200 || r.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s = %d %q", path, r.Status, r.Header.Get("Content-Type"))
		}
	}
}

// No input crashes the server or gets a non-JSON or 5xx answer.
func TestHostileRequests(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/held", `{"key":"k"}`).expect(t, 200, "lock")
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepObj := `{"key":` + strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000) + "}"
	tests := []struct{ method, path, body string }{
		{"PROPFIND", "/locks", ""},
		{"FOO", "/lock/x", `{"key":"k"}`},
		{"OPTIONS", "/lock/x", ""},
		{"TRACE", "/locks", ""},
		{"PUT", "/lock/", `{"key":"k"}`},
		{"DELETE", "/lock/", `{"key":"k"}`},
		{"GET", "/lock/", ""},
		{"PUT", "/lock/%2e%2e", `{"key":5}`},
		{"PUT", "/lock/%2e", `{}`},
		{"PUT", "/lock/x/", `{"key":"k"}`},
		{"PUT", "/lock/x%2F", `{"key":"k","ttl":-5}`},
		{"PUT", "/locks", `{"key":"k"}`},
		{"PUT", "/lock/x", `{"key":5}`},
		{"PUT", "/lock/x", `{"key":null}`},
		{"PUT", "/lock/x", `{"key":["k"]}`},
		{"PUT", "/lock/x", `{"key":{"a":"b"}}`},
		{"PUT", "/lock/x", `{"key":"k","lock_by":7}`},
		{"PUT", "/lock/x", `{"key":"k","requestor":false}`},
		{"PUT", "/lock/x", `{"key":"k","ttl":-5}`},
		{"PUT", "/lock/x", `{"key":"k","ttl":1e300}`},
		{"PUT", "/lock/x", `{"key":"k","ttl":"9999999999h"}`},
		{"PUT", "/lock/x", `{"key":"k","wait":"1y"}`},
		{"PUT", "/lock/x", `{"key":"k","wait":1e300}`},
		{"PUT", "/lock/x", `{"key":"k","wait":-1}`},
		{"PUT", "/lock/x", `{"key":"k","wait":{}}`},
		{"PUT", "/lock/x?ttl=1e400", `{"key":"k"}`},
		{"PUT", "/lock/x?ttl=NaN", `{"key":"k"}`},
		{"PUT", "/lock/x?ttl=-Inf", `{"key":"k"}`},
		{"PUT", "/lock/x?wait=9223372036854775808ns", `{"key":"k"}`},
		{"PUT", "/lock/x?ttl=99999999999999h", `{"key":"k"}`},
		{"PUT", "/lock/x?ttl=1e10", `{"key":"k"}`},
		{"PUT", "/lock/x", `{"key":"k","ttl":1e10}`},
		{"PUT", "/lock/x?key=%zz", ""},
		{"PUT", "/lock/x", deep},
		{"PUT", "/lock/x", deepObj},
		{"PUT", "/lock/x", "\xff\xfe\x00\x01"},
		{"PUT", "/lock/x", `{"key":"k"`},
		{"DELETE", "/lock/held", `{"key":5}`},
		{"DELETE", "/lock/held", `{"force":1}`},
		{"DELETE", "/lock/held", `{"force":null,"key":null}`},
		{"DELETE", "/lock/held?force=", `{"key":"wrong"}`},
		{"POST", "/lock/held/refresh", `{"key":"k","ttl":-5}`},
		{"POST", "/lock/held/refresh", `{"key":"k","ttl":0}`},
		{"POST", "/lock/held/refresh", `{"key":"k","ttl":"0s"}`},
		{"POST", "/lock/held/refresh", `{"key":"k"}`},
		{"GET", "/lock/%FF/history", ""},
		{"GET", "/events/x", ""},
	}
	for _, tc := range tests {
		r := s.do(tc.method, tc.path, tc.body)
		if r.Err != nil {
			continue // do reported it
		}
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("%s %s %.60q: status %d, want a 4xx; body %s", tc.method, tc.path, tc.body, r.Status, r.Body)
		}
	}
	// The server still works and nothing above touched the held lock.
	wantEntry(t, s, "held", "k", map[string]int{"k": 1})
	s.do("GET", "/healthz", "").expect(t, 200, "healthz after hostile requests")
}

// Paths that are not clean ("//", "/./", "/../"), sent as they are, are
// answered as their clean path is, in JSON, not redirected (net/http's
// redirect escaped names a second time, and had a client that does not
// follow it take nothing: TestUncleanPathsServedAsClean). A name holding
// "/" or ".." is sent escaped (a%2Fb, %2e%2e): see TestNamesURLEncoded.
func TestUncleanPathsAnsweredAsClean(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	s.do("PUT", "/lock/held", `{"key":"k"}`).expect(t, 200, "lock")
	client := *s.Srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for path, clean := range map[string]string{
		"/lock//x":        "/lock/x",
		"/lock/./x":       "/lock/x",
		"/lock/x/../held": "/lock/held",
		"/lock/..":        "/",
		"/lock/x/.":       "/lock/x",
	} {
		get := func(p string) (int, string) {
			req, err := http.NewRequest("GET", s.URL+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = p // send the path as is
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", p, err)
			}
			defer resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("GET %s: redirected to %q", p, loc)
			}
			return resp.StatusCode, resp.Header.Get("Content-Type")
		}
		code, ctype := get(path)
		wantCode, wantType := get(clean)
		if code != wantCode || ctype != wantType {
			t.Errorf("GET %s: %d %s, want %d %s as GET %s", path, code, ctype, wantCode, wantType, clean)
		}
	}
	wantEntry(t, s, "held", "k", map[string]int{"k": 1})
}

// Raw requests that net/http's client would not send.
func TestMalformedRawRequests(t *testing.T) {
	s := newHTTPStack(t, stackOptions{})
	raws := []string{
		"PUT /lock/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"ke",                                // body shorter than announced
		"PUT /lock/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",       // bad chunk size
		"PUT /lock/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + strings.Repeat("a", 100000), // too long, cut short
		"GET /lock/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET lock/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
		"DELETE /lock/x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"key\":\"k\"}",
	}
	for _, raw := range raws {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("%.40q: %d %s", raw, resp.StatusCode, b)
			}
			if resp.StatusCode != 400 && resp.StatusCode != 404 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%.40q: %d with Content-Type %q", raw, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		c.Close()
	}
	s.do("GET", "/healthz", "").expect(t, 200, "healthz after raw requests")
}
