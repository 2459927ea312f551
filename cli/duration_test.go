package cli

import (
	"testing"
	"time"
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
