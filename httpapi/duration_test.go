package httpapi

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDurations: the forms a wait or ttl may take, in the query (and a
// string in the body) and as a JSON number of seconds.
func TestDurations(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond, "1ns": 1,
		"90": 90 * time.Second, "1.5": 1500 * time.Millisecond, ".5": 500 * time.Millisecond, "5.": 5 * time.Second,
		"0": 0, "0s": 0, "0.000": 0, "-0": 0, "1000000000": 1e9 * time.Second,
	} {
		if got, err := parseDuration(s); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "soon", "-1", "-5s", "0.5ns", "0.0000000005", "1e3", "0x10", "1_000", "1.2.3", ".", "1000000001", "5 s"} {
		if got, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", s, got)
		}
	}
	for js, want := range map[string]time.Duration{`30`: 30 * time.Second, `1.5`: 1500 * time.Millisecond, `0`: 0, `1e-9`: 1, `"2m"`: 2 * time.Minute} {
		var d duration
		if err := json.Unmarshal([]byte(js), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s decodes to %v, %v; want %v", js, time.Duration(d), err, want)
		}
	}
	for _, js := range []string{`-1`, `1e-12`, `1e10`, `true`, `"-1"`} {
		var d duration
		if err := json.Unmarshal([]byte(js), &d); err == nil {
			t.Errorf("%s decodes to %v, want an error", js, time.Duration(d))
		}
	}
}
