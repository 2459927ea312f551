package lock_test

import (
	"encoding/json"
	"fmt"
	"strings"
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
		if events, _ := lock.AddToPool(&l, "p", json.RawMessage(same), newEnv().env(t0)); len(events) != 0 || string(l.Metadata) != stored {
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
		events, _ := lock.AddToPool(&l, "p", json.RawMessage(other), newEnv().env(t0))
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
		if events, _ := lock.AddToPool(&l, "p", json.RawMessage(sent), newEnv().env(t0)); len(events) != 1 || string(l.Metadata) != sent {
			t.Errorf("stored %q, sent %s: events %v, metadata %q", stored, sent, events, l.Metadata)
		}
	}
}

// TestAddToPoolRefusesOneTooMany: a lock is in at most MaxPools pools
// (every event of it lists them all: without a bound, a few thousand
// adds made one lock's history hundreds of megabytes). One more is
// refused (ETOOLARGE), changing nothing; one it is in already, or new
// metadata, is still taken; and one less makes room again.
func TestAddToPoolRefusesOneTooMany(t *testing.T) {
	l := lock.Lock{Name: "m"}
	for i := range lock.MaxPools {
		if _, err := lock.AddToPool(&l, fmt.Sprintf("p%03d", i), nil, newEnv().env(t0)); err != nil {
			t.Fatalf("pool %d of %d: %v", i+1, lock.MaxPools, err)
		}
	}
	events, err := lock.AddToPool(&l, "one-too-many", nil, newEnv().env(t0))
	if lock.ErrorCode(err) != lock.ETOOLARGE || len(events) != 0 || len(l.Pools) != lock.MaxPools || l.InPool("one-too-many") {
		t.Fatalf("one pool too many: events %v, error %v (code %q), pools %d", events, err, lock.ErrorCode(err), len(l.Pools))
	}
	for _, want := range []string{`"m"`, fmt.Sprint(lock.MaxPools), `"one-too-many"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not name %s", err, want)
		}
	}
	if events, err := lock.AddToPool(&l, "p000", json.RawMessage(`{"a":1}`), newEnv().env(t0)); err != nil || len(events) != 1 {
		t.Errorf("new metadata for a pool it is in: events %v, %v", events, err)
	}
	if _, err := lock.RemoveFromPool(&l, "p001", false, "", newEnv().env(t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.AddToPool(&l, "one-too-many", nil, newEnv().env(t0)); err != nil || !l.InPool("one-too-many") {
		t.Errorf("after leaving a pool: %v, pools %v", err, l.Pools)
	}
}
