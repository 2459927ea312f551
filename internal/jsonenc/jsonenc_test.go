package jsonenc

import (
	"encoding/json"
	"testing"
	"time"
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
