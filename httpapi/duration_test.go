package httpapi

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDurations: a wait or ttl in a JSON body, as a string (lock.ParseDuration's
// forms, tested there) or as a number of seconds.
func TestDurations(t *testing.T) {
	for js, want := range map[string]time.Duration{`30`: 30 * time.Second, `1.5`: 1500 * time.Millisecond, `0`: 0, `1e-9`: 1, `"2m"`: 2 * time.Minute, `"90"`: 90 * time.Second} {
		var d duration
		if err := json.Unmarshal([]byte(js), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s decodes to %v, %v; want %v", js, time.Duration(d), err, want)
		}
	}
	for _, js := range []string{`-1`, `1e-12`, `1e10`, `true`, `"-1"`, `"0.5ns"`, `"1e3"`} {
		var d duration
		if err := json.Unmarshal([]byte(js), &d); err == nil {
			t.Errorf("%s decodes to %v, want an error", js, time.Duration(d))
		}
	}
}
