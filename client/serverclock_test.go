package client

import (
	"net/http"
	"testing"
	"time"
)

func TestServerAheadOf(t *testing.T) {
	answered := time.Date(2026, 11, 28, 12, 0, 0, 300_000_000, time.UTC)
	for _, c := range []struct {
		date string
		want time.Duration
	}{
		{"", 0},
		{"not a date", 0},
		{"Sat, 28 Nov 2026 12:00:00 GMT", 0}, // the same second
		{"Sat, 28 Nov 2026 11:59:59 GMT", 0}, // a second behind: a Date's rounding and a round trip
		{"Sat, 28 Nov 2026 12:00:01 GMT", 0}, // within the slack
		{"Sat, 28 Nov 2026 11:00:00 GMT", -time.Hour + 200*time.Millisecond},
		{"Sat, 28 Nov 2026 12:30:00 GMT", 30*time.Minute + 200*time.Millisecond},
	} {
		h := http.Header{}
		if c.date != "" {
			h.Set("Date", c.date)
		}
		if got := serverAheadOf(h, answered); got != c.want {
			t.Errorf("Date %q: got %v, want %v", c.date, got, c.want)
		}
	}
}
