package httpapi_test

// Fuzzing of request decoding: bodies, lock names and query parameters,
// through the whole handler. Whatever arrives, the API never panics, never
// answers 5xx, and always answers JSON (redirects to a clean path aside,
// which carry a Location instead). Run with
//
//	go test ./httpapi -run '^$' -fuzz '^FuzzRequest$' -fuzztime 20s
//
// The seed corpus is in testdata/fuzz/FuzzRequest.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

var fuzzMethods = []string{"GET", "PUT", "DELETE", "POST", "HEAD", "PATCH", "OPTIONS"}

func FuzzRequest(f *testing.F) {
	// Seeds besides testdata/fuzz/FuzzRequest: one of each route.
	f.Add(uint8(1), "/lock/x", "", []byte(`{"key":"k","lock_by":"h"}`), false)
	f.Add(uint8(2), "/lock/x", "key=k&locked_by=h", []byte(nil), false)
	f.Add(uint8(3), "/lock/x/refresh", "", []byte(`{"key":"k","ttl":"30s"}`), false)
	f.Add(uint8(2), "/lock/x", "key=k&fence=1&acquired=2026-11-25T23:21:03.833614Z", []byte(nil), false)
	f.Add(uint8(3), "/lock/x/refresh", "", []byte(`{"key":"k","ttl":"30s","acquired":"2026-11-25T23:21:03Z"}`), false)
	f.Add(uint8(0), "/locks", "", []byte(nil), true)
	f.Add(uint8(0), "/lock/x/history", "", []byte(nil), false)
	f.Add(uint8(1), "/lock/a%2Fb", "wait=1ms&ttl=5", []byte(`{"key":"k","requestor":"r","wait":0.001}`), false)
	f.Add(uint8(2), "/lock/x", "force=true", []byte(`{"force":true}`), true)

	store := memstore.New(memstore.Options{})
	// Waits are capped at a millisecond: a fuzzed "wait" must not stall the
	// fuzzer behind a lock another input holds.
	svc := lockservice.New(store, lockservice.Config{MaxWait: time.Millisecond, MaxTTL: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	if err := svc.Start(ctx); err != nil {
		f.Fatal(err)
	}
	open := httpapi.New(svc, httpapi.Config{Version: "fuzz"})
	authed := httpapi.New(svc, httpapi.Config{Version: "fuzz", Auth: userCreds, Admin: adminCreds, ReadOnly: readOnlyCreds,
		AuthLimit: httpapi.AuthLimit{PerMinute: 1000}})

	f.Fuzz(func(t *testing.T, m uint8, path, query string, body []byte, auth bool) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		target := path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest(method, "http://locker.test"+target, strings.NewReader(string(body)))
		if err != nil || req.URL.Path != path && req.URL.RawPath != path {
			return // not a request a client could send with this path
		}
		if req.URL.Path == "/events" || req.URL.Path == "/metrics" {
			return // a stream that never ends; metrics are not configured here
		}
		req.RequestURI = req.URL.RequestURI()
		req.RemoteAddr = "192.0.2.1:1234"
		api := open
		if auth {
			api = authed
			// Alternate between the accounts so that each role's checks run.
			switch len(body) % 3 {
			case 0:
				req.SetBasicAuth(userCreds.User, userCreds.Pass)
			case 1:
				req.SetBasicAuth(readOnlyCreds.User, readOnlyCreds.Pass)
			case 2:
				req.SetBasicAuth(adminCreds.User, adminCreds.Pass)
			}
		}
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req = req.WithContext(rctx)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		res := rec.Result()
		what := method + " " + target
		if res.StatusCode >= 500 {
			t.Fatalf("%s %q: %d: %s", what, body, res.StatusCode, rec.Body.Bytes())
		}
		if strings.HasPrefix(req.URL.Path, "/ui/") && (res.StatusCode == 200 || res.StatusCode == 304) {
			return // the dashboard's script, style and icon
		}
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			if res.Header.Get("Location") == "" {
				t.Fatalf("%s: redirect %d without Location", what, res.StatusCode)
			}
			return // net/http's redirect to the clean path
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %q: %d with Content-Type %q", what, body, res.StatusCode, ct)
		}
		if method == "HEAD" {
			return
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: %d, body not JSON: %q", what, body, res.StatusCode, rec.Body.Bytes())
		}
		if res.StatusCode >= 400 {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &e); e.Error == "" {
				t.Fatalf("%s %q: %d without an error message: %s", what, body, res.StatusCode, rec.Body.Bytes())
			}
		}
	})
}
