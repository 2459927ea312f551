package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// clientBodies are request bodies as Locker's own clients send them (the
// client package and the CLI marshal a map, the benchmark harness too; the
// Concourse resource and the seed README's curl examples write them by
// hand), with what they decode to.
var clientBodies = []struct {
	body string
	want requestBody
}{
	{`{"key":"deploy-key"}`, requestBody{Key: ptr("deploy-key")}},
	{`{"key":"k1","lock_by":"worker-1"}`, requestBody{Key: ptr("k1"), LockBy: ptr("worker-1")}},
	{`{"key":"k1","locked_by":"worker-1"}`, requestBody{Key: ptr("k1"), LockedBy: ptr("worker-1")}},
	{`{"lock_by":"h","key":"k"}`, requestBody{Key: ptr("k"), LockBy: ptr("h")}},
	{`{"key":"k","requestor":"pipeline/job/42"}`, requestBody{Key: ptr("k"), Requestor: ptr("pipeline/job/42")}},
	{`{"key":"k","ttl":"1m30s"}`, requestBody{Key: ptr("k"), TTL: ptr(duration(90 * time.Second))}},
	{"{\n  \"key\": \"k\",\n  \"lock_by\": \"h\",\n  \"wait\": \"30s\"\n}\n", requestBody{Key: ptr("k"), LockBy: ptr("h"), Wait: ptr(duration(30 * time.Second))}},
	{`{"key":"ünïcödé 🔒"}`, requestBody{Key: ptr("ünïcödé 🔒")}},
	{`{"key":"k","locked_by":"h","acquired":"2026-11-25T23:21:03.833614Z"}`, requestBody{Key: ptr("k"), LockedBy: ptr("h"), Acquired: ptr("2026-11-25T23:21:03.833614Z")}},
	{`{"key":""}`, requestBody{Key: ptr("")}},
	{` {} `, requestBody{}},
}

func ptr[T any](v T) *T { return &v }

// TestClientBodiesTakeTheFastPath checks that the bodies clients send are
// decoded by hand, and to what encoding/json decodes them to.
func TestClientBodiesTakeTheFastPath(t *testing.T) {
	for _, c := range clientBodies {
		var fast, slow requestBody
		if !fastBody([]byte(c.body), &fast) {
			t.Errorf("%s: left to encoding/json", c.body)
			continue
		}
		if !reflect.DeepEqual(fast, c.want) {
			t.Errorf("%s: decoded %+v, want %+v", c.body, fast, c.want)
		}
		if err := slowBody([]byte(c.body), &slow); err != nil || !reflect.DeepEqual(slow, fast) {
			t.Errorf("%s: encoding/json decodes %+v (err %v), the fast path %+v", c.body, slow, err, fast)
		}
	}
}

// fastBodyDeclines are bodies the fast path leaves to encoding/json: each
// is decoded differently, or refused, there.
var fastBodyDeclines = []string{
	``, ` `, `null`, `[]`, `"key"`,
	`{"key":"a\"b"}`,                 // an escape
	`{"key":"a\u00e9"}`,              // an escape
	"{\"key\":\"a\xffb\"}",           // not UTF-8: replaced
	`{"Key":"k"}`,                    // matched in any case there, as encoding/json does
	`{"key":"a","key":"b"}`,          // refused there (encoding/json takes the last)
	`{"key":null}`,                   // leaves Key nil
	`{"key":1}`,                      // the wrong type
	`{"key":"k","force":true}`,       // not a string member
	`{"key":"k","metadata":{"a":1}}`, // not a string member
	`{"key":"k","other":"x"}`,        // unknown members are ignored there
	`{"key":"k","wait":"soon"}`,      // a bad duration, refused there
	`{"key":"k","wait":"-1s"}`,       // a negative one, refused there
	`{"key":"k","ttl":30}`,           // seconds as a number
	`{"key":"k"} {"key":"j"}`,        // data after the object
	`{"key":"k"`,                     // cut short
	`{"key":"k",}`,                   // a trailing comma
}

func TestFastBodyDeclines(t *testing.T) {
	for _, b := range fastBodyDeclines {
		var body requestBody
		if fastBody([]byte(b), &body) {
			t.Errorf("%q: decoded by hand to %+v; encoding/json should decide", b, body)
		}
	}
}

// FuzzDecodeBody checks that whatever the fast path decodes, encoding/json
// decodes without error to the same.
func FuzzDecodeBody(f *testing.F) {
	for _, c := range clientBodies {
		f.Add([]byte(c.body))
	}
	for _, b := range fastBodyDeclines {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, slow requestBody
		if !fastBody(raw, &fast) {
			return
		}
		if err := slowBody(raw, &slow); err != nil {
			t.Fatalf("%q: the fast path decoded %+v, encoding/json refused it: %v", raw, fast, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: the fast path decoded %+v, encoding/json %+v", raw, fast, slow)
		}
	})
}

// BenchmarkDecodeBody decodes the body the benchmark harness sends with
// each PUT, by hand and with encoding/json.
func BenchmarkDecodeBody(b *testing.B) {
	raw, _ := json.Marshal(map[string]string{"key": "bench-key-3", "lock_by": "bench-holder-3"})
	for _, bm := range []struct {
		name   string
		decode func([]byte, *requestBody) error
	}{
		{"decodeBody", decodeBody},
		{"encoding-json", slowBody},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var body requestBody
				if err := bm.decode(raw, &body); err != nil || body.Key == nil {
					b.Fatal(err)
				}
			}
		})
	}
}
