package cli

import "testing"

// TestCLIDurationUnderANanosecond: a positive --ttl or --wait that rounds
// to nothing would mean "none" (a lock that never expires): refused.
func TestCLIDurationUnderANanosecond(t *testing.T) {
	for _, s := range []string{"0.5ns", "0.0000000001"} {
		if d, err := parseCLIDuration(s); err == nil {
			t.Errorf("parseCLIDuration(%q) = %v, want an error", s, d)
		}
	}
	for _, s := range []string{"0", "0s", "1ns", "30s", "1.5"} {
		if _, err := parseCLIDuration(s); err != nil {
			t.Errorf("parseCLIDuration(%q): %v", s, err)
		}
	}
}
