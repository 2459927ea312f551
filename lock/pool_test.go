package lock_test

import (
	"encoding/json"
	"testing"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestAddToPoolSameMetadataIsNoChange: metadata sent again, however it is
// written (or as PostgreSQL's jsonb gives it back), changes nothing and
// records nothing; different metadata replaces it.
func TestAddToPoolSameMetadataIsNoChange(t *testing.T) {
	stored := `{"b":1,"a":[1,2.5,"x\u00e9"],"c":{"d":null,"e":true},"n":100}`
	for _, same := range []string{
		stored,
		`{ "b" : 1, "a" : [ 1, 2.5, "xé" ], "c" : { "d" : null, "e" : true }, "n" : 100 }`,
		`{"a": [1, 2.50, "x\u00e9"], "b": 1, "c": {"d": null, "e": true}, "n": 1e2}`, // jsonb's order and spacing
		`{"n":100.0,"c":{"e":true,"d":null},"b":1.0,"a":[1e0,25e-1,"x\u00E9"]}`,
	} {
		l := lock.Lock{Name: "m", Pools: []string{"p"}, Metadata: json.RawMessage(stored), FreeSince: t0}
		if events := lock.AddToPool(&l, "p", json.RawMessage(same), newEnv().env(t0)); len(events) != 0 || string(l.Metadata) != stored {
			t.Errorf("adding again with %s: events %v, metadata %s", same, events, l.Metadata)
		}
	}
	for _, other := range []string{
		`{"b":1,"a":[1,2.5,"xé"],"c":{"d":null,"e":true},"n":101}`,
		`{"b":1,"a":[2.5,1,"xé"],"c":{"d":null,"e":true},"n":100}`, // arrays keep their order
		`{"b":1,"a":[1,2.5,"xé"],"c":{"d":null,"e":true}}`,
		`{"b":1,"a":[1,2.5,"xé"],"c":{"d":false,"e":true},"n":100}`,
		`{"b":"1","a":[1,2.5,"xé"],"c":{"d":null,"e":true},"n":100}`,
		`{"b":1,"a":[1,2.5,"xé"],"c":{"d":null,"e":true},"n":100,"z":0}`,
		`{"b":1,"a":[1,2.5,"xé"],"c":{"d":null,"e":true},"n":100.0000000000000000001}`, // the same double, not the same number
		`[1]`, `"text"`, `null`,
	} {
		l := lock.Lock{Name: "m", Pools: []string{"p"}, Metadata: json.RawMessage(stored), FreeSince: t0}
		events := lock.AddToPool(&l, "p", json.RawMessage(other), newEnv().env(t0))
		if len(events) != 1 || events[0].Type != lock.Added || string(l.Metadata) != other {
			t.Errorf("adding with %s: events %v, metadata %s", other, events, l.Metadata)
		}
	}
	// Numbers out of a double's range (only in metadata stored before
	// they were refused) compare as written, and are never taken for
	// another number.
	if lock.SameJSONForTest(`[1e400]`, `[10e399]`) || !lock.SameJSONForTest(`[1e400]`, `[1e400]`) {
		t.Error("numbers out of a double's range compare as written")
	}
}

// TestAddToPoolReplacesMetadataTodaysRulesRefuse: metadata kept from an
// older file that today's rules refuse (half a surrogate pair, bad UTF-8, a
// key twice) is replaced by the same value sent cleanly.
func TestAddToPoolReplacesMetadataTodaysRulesRefuse(t *testing.T) {
	for stored, sent := range map[string]string{
		`{"h":"\ud800"}`:   `{"h":"\ufffd"}`,
		"{\"h\":\"\xff\"}": `{"h":"\ufffd"}`,
		`{"a":1,"a":2}`:    `{"a":2}`,
	} {
		l := lock.Lock{Name: "m", Pools: []string{"p"}, Metadata: json.RawMessage(stored), FreeSince: t0}
		if events := lock.AddToPool(&l, "p", json.RawMessage(sent), newEnv().env(t0)); len(events) != 1 || string(l.Metadata) != sent {
			t.Errorf("stored %q, sent %s: events %v, metadata %q", stored, sent, events, l.Metadata)
		}
	}
}
