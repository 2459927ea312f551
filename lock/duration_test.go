package lock

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestParseDuration: the forms a duration may take everywhere (a request's
// wait or ttl, a flag, the resource's source, the environment), and what
// is refused.
func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond, "1ns": 1,
		"90": 90 * time.Second, "1.5": 1500 * time.Millisecond, ".5": 500 * time.Millisecond, "5.": 5 * time.Second,
		"0": 0, "0s": 0, "0.000": 0, "-0": 0, "1000000000": 1e9 * time.Second,
	} {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "soon", "-1", "-5s", "0.5ns", "0.0000000005", "1e3", "0x10", "1_000", "1.2.3", ".", "1000000001", "5 s", "NaN", "inf"} {
		got, err := ParseDuration(s)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", s, got)
		} else if ErrorCode(err) != EINVALID {
			t.Errorf("ParseDuration(%q): %v is %s, want %s", s, err, ErrorCode(err), EINVALID)
		}
	}
}

func TestSeconds(t *testing.T) {
	for secs, want := range map[float64]time.Duration{30: 30 * time.Second, 1.5: 1500 * time.Millisecond, 0: 0, 1e-9: 1, 1e9: 1e9 * time.Second} {
		if got, err := Seconds(secs); err != nil || got != want {
			t.Errorf("Seconds(%v) = %v, %v; want %v", secs, got, err, want)
		}
	}
	for _, secs := range []float64{-1, 1e-12, 1e9 + 1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, err := Seconds(secs); err == nil {
			t.Errorf("Seconds(%v) = %v, want an error", secs, got)
		}
	}
}

// TestDurationErrorsNameTheDuration: an error says which duration, as it
// was written.
func TestDurationErrorsNameTheDuration(t *testing.T) {
	for s, want := range map[string]string{
		"-5m":          `duration "-5m" must not be negative`,
		"-1":           `duration "-1" must not be negative`,
		"0.5ns":        `duration "0.5ns" is shorter than a nanosecond; use 0 for none`,
		"0.0000000001": `duration "0.0000000001" is shorter than a nanosecond; use 0 for none`,
		"2000000000":   `duration "2000000000" is out of range: use 0 to 1e9 seconds`,
		"soon":         `bad duration "soon": use Go syntax such as "30s" or "5m", or a number of seconds`,
	} {
		if _, err := ParseDuration(s); err == nil || err.Error() != want {
			t.Errorf("ParseDuration(%q): %v, want %s", s, err, want)
		}
	}
	for secs, want := range map[float64]string{
		-5:    "duration of -5 seconds must not be negative",
		1e-12: "duration of 1e-12 seconds is shorter than a nanosecond; use 0 for none",
		1e10:  "duration of 1e+10 seconds is out of range: use 0 to 1e9 seconds",
	} {
		if _, err := Seconds(secs); err == nil || err.Error() != want {
			t.Errorf("Seconds(%v): %v, want %s", secs, err, want)
		}
	}
}

// TestDurationsTooSmallForAFloat: a positive number too small for a
// float64 reads as 0 without an error; it must be refused as too short,
// not taken for "none" (a hold that never expires).
func TestDurationsTooSmallForAFloat(t *testing.T) {
	tiny := "0." + strings.Repeat("0", 400) + "1"
	for _, s := range []string{tiny, "-" + tiny} {
		if d, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%.20q...) = %v, want an error", s, d)
		}
	}
	for _, n := range []string{"1e-400", tiny, "0.5e-330"} {
		if d, err := SecondsText(n); err == nil || !strings.Contains(err.Error(), "shorter than a nanosecond") {
			t.Errorf("SecondsText(%.20q...) = %v, %v; want too short", n, d, err)
		}
	}
	for n, want := range map[string]time.Duration{"0": 0, "0e5": 0, "0.0": 0, "1e-9": 1, "30": 30 * time.Second, "1.5e1": 15 * time.Second} {
		if d, err := SecondsText(n); err != nil || d != want {
			t.Errorf("SecondsText(%q) = %v, %v; want %v", n, d, err, want)
		}
	}
	for _, n := range []string{"1e400", "-1", "2e9"} {
		if d, err := SecondsText(n); err == nil {
			t.Errorf("SecondsText(%q) = %v, want an error", n, d)
		}
	}
}

// TestDurationTooLong: a duration written in Go syntax but longer than a
// time.Duration holds (about 292 years) is told as too long, not as
// badly written: time.ParseDuration says "invalid duration" for both.
func TestDurationTooLong(t *testing.T) {
	for _, s := range []string{"9999999999h", "2562048h", "9223372036854775808ns", "+9999999999h", "2562047h47m17s", "1h9999999999h", "9999999999.5h", "153722868m"} {
		_, err := ParseDuration(s)
		if want := `duration "` + s + `" is too long: the longest is 2562047h47m16.854775807s (about 292 years)`; err == nil || err.Error() != want {
			t.Errorf("ParseDuration(%q): %v, want %s", s, err, want)
		}
	}
	if _, err := ParseDuration("-9999999999h"); err == nil || err.Error() != `duration "-9999999999h" must not be negative` {
		t.Errorf(`ParseDuration("-9999999999h"): %v, want it to say negative`, err)
	}
	// The longest is taken; what is badly written is still told so,
	// whatever its size.
	if d, err := ParseDuration("2562047h47m16.854775807s"); err != nil || d != math.MaxInt64 {
		t.Errorf("ParseDuration of the longest: %v, %v", d, err)
	}
	for _, s := range []string{"9999999999y", "9999999999 h", "1.2.3h", ".h", "h", "9999999999hh", "1e99h", "--1h", "9999999999h5"} {
		if _, err := ParseDuration(s); err == nil || !strings.HasPrefix(err.Error(), "bad duration") {
			t.Errorf("ParseDuration(%q): %v, want a bad duration", s, err)
		}
	}
	// goSyntax takes everything time.ParseDuration takes.
	for _, s := range []string{"0", "-0", "+0", "1h", "1.5h", ".5s", "5.s", "1h2m3s4ms5us6\u00b5s7\u03bcs8ns", "-1m", "+3s", "0.000000001s"} {
		if _, err := time.ParseDuration(s); err != nil || !goSyntax(s) {
			t.Errorf("%q: time.ParseDuration %v, goSyntax %v", s, err, goSyntax(s))
		}
	}
}
