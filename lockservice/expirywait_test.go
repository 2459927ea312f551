package lockservice

import (
	"math"
	"testing"
	"time"
)

// TestExpiryWaitLongestLease: a lease of the longest duration a request may
// ask for (lock.ParseDuration takes up to math.MaxInt64 nanoseconds, and
// no MaxTTL is the default) runs out about 292 years from now. The waiter's
// pause until just after it must stay that long, not overflow into a
// negative duration: a timer reset with one fires at once, and the waiter
// would ask the store again and again for as long as the lease is held.
func TestExpiryWaitLongestLease(t *testing.T) {
	now := time.Now()
	longest := time.Duration(math.MaxInt64)
	for _, tc := range []struct {
		name string
		t    time.Time
		want time.Duration
	}{
		{"longest lease", now.Add(longest), longest},
		{"longest lease less a millisecond", now.Add(longest - time.Millisecond), longest},
		{"a second", now.Add(time.Second), time.Second + time.Millisecond},
		{"run out", now.Add(-time.Second), -time.Second + time.Millisecond},
		{"far past", now.Add(math.MinInt64), math.MinInt64 + time.Millisecond},
	} {
		if got := expiryWait(tc.t, now); got != tc.want {
			t.Errorf("%s: expiryWait = %v, want %v", tc.name, got, tc.want)
		}
	}
}
