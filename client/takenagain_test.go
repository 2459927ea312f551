package client_test

import (
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// TestTakenAgainSince checks the one rule Keep, Acquire and the Concourse
// resource use to tell a hold taken afresh from the one they mean.
func TestTakenAgainSince(t *testing.T) {
	for _, c := range []struct {
		l     client.Lock
		fence uint64
		want  bool
	}{
		{client.Lock{Key: "k", Fence: 7}, 7, false},     // the same hold
		{client.Lock{Key: "k", Fence: 8}, 7, true},      // taken again since
		{client.Lock{Fence: 7}, 7, false},               // released, not taken again
		{client.Lock{Fence: 8}, 7, true},                // taken again, and released
		{client.Lock{Key: "k", Fence: 8}, 0, false},     // no fence to compare with
		{client.Lock{Key: "k", Legacy: true}, 7, false}, // a server without fences
		{client.Lock{Key: "k", Fence: 8, Legacy: true}, 7, false},
	} {
		if got := c.l.TakenAgainSince(c.fence); got != c.want {
			t.Errorf("%+v.TakenAgainSince(%d) = %v, want %v", c.l, c.fence, got, c.want)
		}
	}
}
