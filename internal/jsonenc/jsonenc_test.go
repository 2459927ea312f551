package jsonenc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `locked "a" with key "k\\x" for "h" (count 1)`, "<&>", "a&b", "x>y", "\x00\x1f", "\x7f", "é", "\u2028", "\xff", `\`, `"`} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add(`a"b\c<d>` + "\u00e9\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, want %s", s, got[1:], want)
		}
	})
}

func TestAppendTimeMatchesEncodingJSON(t *testing.T) {
	base := time.Date(2026, 11, 26, 5, 30, 1, 123456789, time.UTC)
	for _, tm := range []time.Time{
		{},
		base,
		base.Truncate(time.Second),
		base.Add(-123456700), // trailing zeros of the fraction dropped
		base.In(time.FixedZone("CET", 3600)),
		base.In(time.FixedZone("W", -(23*3600 + 59*60))),
		base.In(time.FixedZone("X", 24*3600)),
		base.In(time.FixedZone("Y", -24*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), // with a monotonic reading
	} {
		want, err := json.Marshal(tm)
		got, ok := AppendTime([]byte("x"), tm)
		if ok != (err == nil) || TimeOK(tm) != ok {
			t.Errorf("%v: AppendTime ok %v, TimeOK %v; encoding/json error %v", tm, ok, TimeOK(tm), err)
			continue
		}
		if !ok {
			if string(got) != "x" {
				t.Errorf("%v: refused, but appended %q", tm, got[1:])
			}
			continue
		}
		if string(got) != "x"+string(want) {
			t.Errorf("%v: %s, want %s", tm, got[1:], want)
		}
	}
}

func TestAppendHoldsMatchesEncodingJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 5, 30, 1, 5, time.UTC)
	for _, m := range []map[string]lock.Hold{
		{},
		{"h": {Count: 1, Acquired: t0}},
		{"b": {Count: 2, Acquired: t0, Expires: t0.Add(time.Hour)}, "a": {Count: 1, Acquired: t0}, `we"ird <h>`: {Count: 3, Acquired: t0.In(time.FixedZone("CET", 3600))}},
		{"late": {Count: 1, Acquired: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}, // encoding/json refuses it
		{"zone": {Count: 1, Acquired: t0, Expires: t0.In(time.FixedZone("X", 24*3600))}},
	} {
		want, err := json.Marshal(m)
		got, ok := AppendHolds([]byte("x"), lock.HoldsOf(m))
		if ok != (err == nil) {
			t.Errorf("%v: ok %v, encoding/json error %v", m, ok, err)
			continue
		}
		if !ok {
			if string(got) != "x" {
				t.Errorf("%v: refused, but appended %q", m, got[1:])
			}
			continue
		}
		if string(got) != "x"+string(want) {
			t.Errorf("%v: %s, want %s", m, got[1:], want)
		}
	}
}
