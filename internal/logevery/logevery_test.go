package logevery

import (
	"testing"
	"time"
)

// TestMinute: the first message goes out, those within a minute of the
// last one written are held back and counted, and the next one written
// says how many.
func TestMinute(t *testing.T) {
	var m Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		ok   bool
		held int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{59 * time.Second, false, 0},
		{time.Minute, true, 2},
		{time.Minute + time.Second, false, 0},
		{3 * time.Minute, true, 1},
		{5 * time.Minute, true, 0},
	}
	for _, s := range steps {
		if ok, held := m.Allow(t0.Add(s.at)); ok != s.ok || held != s.held {
			t.Errorf("at %v: %v, %d; want %v, %d", s.at, ok, held, s.ok, s.held)
		}
	}
}
