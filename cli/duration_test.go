package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestCLIDurationFlags: --ttl and --wait take lock.ParseDuration's forms; a
// positive one that rounds to nothing would mean "none" (a lock that never
// expires) and is refused; --wait also takes "forever".
func TestCLIDurationFlags(t *testing.T) {
	for _, s := range []string{"0.5ns", "0.0000000001", "-1s", "1e3", "soon"} {
		var f durationFlag
		if err := f.Set(s); err == nil {
			t.Errorf("--ttl %s = %v, want an error", s, f.d)
		}
		var w waitFlag
		if err := w.Set(s); err == nil {
			t.Errorf("--wait %s = %v, want an error", s, w.String())
		}
	}
	for s, want := range map[string]time.Duration{"0": 0, "0s": 0, "1ns": 1, "30s": 30 * time.Second, "1.5": 1500 * time.Millisecond} {
		var f durationFlag
		if err := f.Set(s); err != nil || f.d != want {
			t.Errorf("--ttl %s = %v, %v; want %v", s, f.d, err, want)
		}
	}
	var w waitFlag
	if err := w.Set("forever"); err != nil || !w.forever {
		t.Errorf("--wait forever = %v, %v", w.String(), err)
	}
}

// TestHumanLeft: a remaining time (a lease's) is rounded up to what the
// display shows, so that a live lease never reads "0s" (a 1s lease read a
// moment later showed "lease ends in 0s"); an elapsed time (human) is
// rounded down.
func TestHumanLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                        "0s",
		0:                                   "0s",
		time.Nanosecond:                     "1s",
		300 * time.Millisecond:              "1s",
		time.Second:                         "1s",
		1001 * time.Millisecond:             "2s",
		59*time.Second + 1:                  "1m00s",
		90 * time.Second:                    "1m30s",
		59*time.Minute + 59*time.Second + 1: "1h00m",
		time.Hour - time.Millisecond:        "1h00m",
		time.Hour + time.Second:             "1h01m",
		48*time.Hour - time.Second:          "2d00h",
		48*time.Hour + time.Minute:          "2d01h",
	} {
		if got := humanLeft(d); got != want {
			t.Errorf("humanLeft(%v) = %q, want %q", d, got, want)
		}
	}
	if got := human(999 * time.Millisecond); got != "0s" {
		t.Errorf("human(999ms) = %q, want 0s (elapsed: rounded down)", got)
	}
}

// TestLeaseLeftDisplay: locker status and list show a lease with less than
// a second left as 1s, not 0s.
func TestLeaseLeftDisplay(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.Local)
	l := client.Lock{Name: "prod", Key: "k", State: "held", LockedBy: map[string]int{"k": 1}, Fence: 1, Since: now.Add(-time.Second),
		Expires: now.Add(300 * time.Millisecond),
		Holds:   map[string]client.Hold{"k": {Count: 1, Acquired: now.Add(-time.Second), Expires: now.Add(300 * time.Millisecond)}}}
	var b strings.Builder
	if err := writeStatus(&b, &l, now); err != nil || !strings.Contains(b.String(), "lease ends in 1s\n") {
		t.Errorf("status: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := writeTable(&b, []client.Lock{l}, now); err != nil || !regexp.MustCompile(`(?m)^prod +held +k +k x1 +1s +1s +1 +0$`).MatchString(b.String()) {
		t.Errorf("list: %v\n%s", err, b.String())
	}
}
