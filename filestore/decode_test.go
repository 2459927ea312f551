package filestore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/cloudfoundry-community/locker/internal/jsonscan"
	"github.com/cloudfoundry-community/locker/lock"
)

// sampleRecords are log records and snapshot entries as the store writes
// them: every field, several holders, leases, forced releases, unicode.
func sampleRecords() (recs []logRecord, entries []snapshotEntry) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	exp := t0.Add(90 * time.Second)
	for i, name := range []string{"prod", "deploy/prod-cf", "prod deploy", "ünïcödé 🔒", "a\"b<c>&d\\e", "x"} {
		holds := map[string]lock.Hold{
			"worker-1": {Count: 1, Acquired: t0},
			"worker-2": {Count: 3, Acquired: t0.Add(time.Second), Expires: exp},
		}
		d := diskLock{Name: name, Key: "pipeline-" + fmt.Sprint(i), Holds: lock.HoldsOf(holds), Fence: uint64(1000 + i), Since: t0}
		evs := []lock.Event{
			{Type: lock.Acquired, Lock: name, Key: d.Key, Holder: "worker-2", Count: 3, Fence: d.Fence, Time: t0, Expires: exp},
			{Type: lock.Forced, Lock: name, Key: d.Key, Holder: "worker-3", Count: 0, Fence: d.Fence, Time: t0, By: "admin"},
		}
		recs = append(recs, logRecord{Lock: d, Events: evs, Fence: d.Fence + 7})
		entries = append(entries, snapshotEntry{Lock: d, History: evs})
	}
	// A pool member, with and without metadata (left to encoding/json).
	member := diskLock{Name: "pool/m1", FreeSince: t0, Pools: []string{"p1", "p2"}}
	recs = append(recs, logRecord{Lock: member, Events: []lock.Event{{Type: lock.Added, Lock: member.Name, Pools: member.Pools, Pool: "p2", Time: t0}}, Fence: 4})
	entries = append(entries, snapshotEntry{Lock: member})
	withMeta := member
	withMeta.Metadata = json.RawMessage(`{"az":"z1","n":[1,2]}`)
	recs = append(recs, logRecord{Lock: withMeta, Fence: 5})
	entries = append(entries, snapshotEntry{Lock: withMeta})
	free := diskLock{Name: "free"}
	recs = append(recs, logRecord{Lock: free, Events: []lock.Event{{Type: lock.Released, Lock: "free", Key: "k", Holder: "h", Time: t0}}, Fence: 3})
	entries = append(entries, snapshotEntry{Lock: free})
	return recs, entries
}

// TestFastDecodeTakesTheFastPath checks that what the store writes is read
// by the fast decoder (not left to encoding/json) and comes out equal to
// what was written. Strings with escapes (a name with a quote or <, > or
// &) are left to encoding/json.
func TestFastDecodeTakesTheFastPath(t *testing.T) {
	recs, entries := sampleRecords()
	fast := 0
	for _, want := range recs {
		b := mustJSON(want)
		var got logRecord
		d := fastDecoder{Scanner: jsonscan.New(b)}
		if !d.logRecord(&got) || !d.End() {
			if !bytes.Contains(b, []byte(`\`)) && !bytes.Contains(b, []byte(`"metadata"`)) {
				t.Errorf("the fast decoder gave up on %s", b)
			}
			continue
		}
		fast++
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %s\n got %+v\nwant %+v", b, got, want)
		}
	}
	for _, want := range entries {
		b := mustJSON(want)
		var got snapshotEntry
		d := fastDecoder{Scanner: jsonscan.New(b)}
		if !d.snapshotEntry(&got) || !d.End() {
			if !bytes.Contains(b, []byte(`\`)) && !bytes.Contains(b, []byte(`"metadata"`)) {
				t.Errorf("the fast decoder gave up on %s", b)
			}
			continue
		}
		fast++
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %s\n got %+v\nwant %+v", b, got, want)
		}
	}
	if fast != len(recs)+len(entries)-4 {
		t.Errorf("%d documents decoded by the fast path, want all but the 2 with escapes and the 2 with metadata", fast)
	}
}

// TestFastDecodeSharesStrings checks that events' lock names, keys and
// holders share the lock's strings instead of holding copies.
func TestFastDecodeSharesStrings(t *testing.T) {
	recs, _ := sampleRecords()
	var rec logRecord
	if err := decodeLogRecord(mustJSON(recs[1]), &rec); err != nil {
		t.Fatal(err)
	}
	same := func(a, b string) bool { return a != "" && a == b && unsafe.StringData(a) == unsafe.StringData(b) }
	ev := rec.Events[0]
	if !same(ev.Lock, rec.Lock.Name) || !same(ev.Key, rec.Lock.Key) {
		t.Errorf("event strings are copies of the lock's")
	}
	var holder string
	for _, h := range rec.Lock.Holds {
		if h.Holder == ev.Holder {
			holder = h.Holder
		}
	}
	if !same(ev.Holder, holder) {
		t.Errorf("event holder is a copy of the hold's")
	}
}

// fastDecodeCases are documents the fast decoder must leave to
// encoding/json (or decode exactly as it does).
var fastDecodeCases = []string{
	`{}`,
	` { "lock" : { "name" : "a" , "key" : "k" , "holds" : { "h" : { "count" : 2 , "acquired" : "2024-05-01T12:00:00Z" } } } , "fence" : 9 } `,
	`{"lock":{"name":"a\u003cb"},"fence":1}`,
	`{"lock":{"name":"a\"b"},"fence":1}`,
	`{"lock":{"name":"a\nb"},"fence":1}`,
	"{\"lock\":{\"name\":\"a\x01b\"},\"fence\":1}",
	"{\"lock\":{\"name\":\"bad \xff utf8\"},\"fence\":1}",
	`{"lock":{"name":"a","holds":null},"fence":1}`,
	`{"lock":null,"fence":1}`,
	`{"lock":{"name":"a"},"events":null}`,
	`{"lock":{"name":"a"},"events":[]}`,
	`{"lock":{"name":"a","holds":{}}}`,
	`{"lock":{"Name":"a"}}`,
	`{"lock":{"name":"a","NAME":"b"}}`,
	`{"lock":{"name":"a","name":"b"}}`,
	`{"lock":{"name":"a"},"lock":{"key":"k"}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":1},"h":{"count":2}}}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":1,"count":2}}}}`,
	`{"lock":{"name":"a"},"unknown":[1,2,{"x":null}]}`,
	`{"lock":{"name":"a","fence":-1}}`,
	`{"lock":{"name":"a","fence":1.5}}`,
	`{"lock":{"name":"a","fence":1e3}}`,
	`{"lock":{"name":"a","fence":01}}`,
	`{"lock":{"name":"a","fence":18446744073709551615}}`,
	`{"lock":{"name":"a","fence":18446744073709551616}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":-3}}}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":-0}}}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":- 1}}}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":9223372036854775807}}}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":-9223372036854775808}}}}`,
	`{"lock":{"name":"a","holds":{"h":{"count":"1"}}}}`,
	`{"lock":{"name":"a","since":"2024-05-01T12:00:00+02:00"}}`,
	`{"lock":{"name":"a","since":"2024-05-01T12:00:00.5Z"}}`,
	`{"lock":{"name":"a","since":"yesterday"}}`,
	`{"lock":{"name":"a","since":"2024-05-01 12:00:00Z"}}`,
	`{"lock":{"name":"a","since":null}}`,
	`{"lock":{"name":"a","since":0}}`,
	`{"lock":{"name":"a"},"events":[{"type":"acquired","lock":"a","key":"k","holder":"h","count":1,"fence":1,"time":"2024-05-01T12:00:00Z"},]}`,
	`{"lock":{"name":"a"},"events":[{"type":"weird","lock":"b","by":"op"}]}`,
	`{"lock":{"name":"a"} "fence":1}`,
	`{"lock":{"name":"a"},"fence":1} x`,
	`{"lock":{"name":"a"},"fence":1}{}`,
	`{"lock":{"name":"a"},"fence":1`,
	`{"lock":{"name":"a"},"fence":`,
	`[]`,
	`null`,
	``,
	`{"lock":{"name":"a","key":"k","holds":{"h1":{"count":1},"h2":{"count":1},"h3":{"count":1},"h4":{"count":1},"h5":{"count":1},"h6":{"count":1},"h7":{"count":1},"h8":{"count":1},"h9":{"count":1},"h10":{"count":1},"h11":{"count":1},"h12":{"count":1},"h13":{"count":1}}}}`,
	`{"lock":{"name":"a"},"history":[{"type":"released"}]}`,
	`{"lock":{"name":"a","pools":[]}}`,
	`{"lock":{"name":"a","pools":null}}`,
	`{"lock":{"name":"a","pools":["x",]}}`,
	`{"lock":{"name":"a","pools":["x" "y"]}}`,
	`{"lock":{"name":"a","pools":[1]}}`,
	`{"lock":{"name":"a","metadata":{"x": [1, 2 ]}}}`,
	`{"lock":{"name":"a","metadata":{"x": [1, 2 }}}`,
	`{"lock":{"name":"a","free_since":"2024-05-01T12:00:00Z"},"events":[{"type":"removed","pool":"p","pools":["q"]}]}`,
}

// sameAsEncodingJSON decodes b both ways, as a log record and as a
// snapshot entry, and reports any difference.
func sameAsEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	var fast, slow logRecord
	ferr := decodeLogRecord(b, &fast)
	serr := json.Unmarshal(b, &slow)
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) || !reflect.DeepEqual(fast, slow) {
		t.Errorf("log record %q:\nfast %+v, %v\njson %+v, %v", b, fast, ferr, slow, serr)
	}
	var fastE, slowE snapshotEntry
	ferr = decodeSnapshotEntry(b, &fastE)
	serr = json.Unmarshal(b, &slowE)
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) || !reflect.DeepEqual(fastE, slowE) {
		t.Errorf("snapshot entry %q:\nfast %+v, %v\njson %+v, %v", b, fastE, ferr, slowE, serr)
	}
}

func TestFastDecodeAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range fastDecodeCases {
		sameAsEncodingJSON(t, []byte(c))
	}
	recs, entries := sampleRecords()
	for _, r := range recs {
		sameAsEncodingJSON(t, mustJSON(r))
	}
	for _, e := range entries {
		sameAsEncodingJSON(t, mustJSON(e))
	}
}

// FuzzFastDecode checks that the fast decoder decodes any input exactly as
// encoding/json does: the same values, the same errors.
func FuzzFastDecode(f *testing.F) {
	for _, c := range fastDecodeCases {
		f.Add([]byte(c))
	}
	recs, entries := sampleRecords()
	for _, r := range recs {
		f.Add(mustJSON(r))
	}
	for _, e := range entries {
		f.Add(mustJSON(e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsEncodingJSON(t, b)
	})
}
