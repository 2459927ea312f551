package leaseclock

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is a wall clock and a monotonic clock the test moves by hand.
type fake struct {
	wall time.Time
	mono time.Duration
}

func (f *fake) read() (time.Time, time.Duration) { return f.wall, f.mono }

// tick lets d of real time go by: both clocks move.
func (f *fake) tick(d time.Duration) {
	f.wall = f.wall.Add(d)
	f.mono += d
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newFake() (*fake, *Clock, *bytes.Buffer) {
	f := &fake{wall: t0, mono: 5 * time.Second}
	var log bytes.Buffer
	c := New(f.read, slog.New(slog.NewTextHandler(&log, nil)))
	return f, c, &log
}

func TestFollowsTheWallClockInStep(t *testing.T) {
	f, c, log := newFake()
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("first reading %v, want the wall clock's %v", got, t0)
	}
	for i := 0; i < 100; i++ {
		f.tick(time.Duration(i) * 37 * time.Millisecond)
		if got := c.Now(); !got.Equal(f.wall) {
			t.Fatalf("reading %d: %v, want the wall clock's %v", i, got, f.wall)
		}
	}
	if c.Offset() != 0 {
		t.Errorf("offset %v, want 0", c.Offset())
	}
	if log.Len() != 0 {
		t.Errorf("logged with the clocks in step: %s", log)
	}
}

// A slewed wall clock (NTP, chrony: a few hundred ppm, up to 1/12) is
// followed exactly: only a rate beyond MaxRate is held back.
func TestFollowsASlewedWallClock(t *testing.T) {
	f, c, _ := newFake()
	c.Now()
	for i := 0; i < 10; i++ {
		f.mono += time.Second
		f.wall = f.wall.Add(time.Second + time.Second/25) // 4% fast
		if got := c.Now(); !got.Equal(f.wall) {
			t.Fatalf("reading %d: %v, want the wall clock's %v", i, got, f.wall)
		}
	}
	for i := 0; i < 10; i++ {
		f.mono += time.Second
		f.wall = f.wall.Add(time.Second - time.Second/20) // 5% slow
		if got := c.Now(); !got.Equal(f.wall) {
			t.Fatalf("reading %d: %v, want the wall clock's %v", i, got, f.wall)
		}
	}
}

func TestForwardStepIsTakenAtTheBoundedRate(t *testing.T) {
	f, c, log := newFake()
	c.Now()
	f.wall = f.wall.Add(time.Hour) // stepped: no real time went by
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("right after a step forward: %v, want %v (no real time went by)", got, t0)
	}
	if got := c.Offset(); got != time.Hour {
		t.Errorf("offset %v, want 1h (behind the wall clock)", got)
	}
	// A lease of a minute taken now runs out only after a minute /
	// MaxRate of real time.
	lease := time.Minute
	expires := c.Now().Add(lease)
	shortest := time.Duration(float64(lease) / MaxRate)
	f.tick(shortest - time.Millisecond)
	if now := c.Now(); !now.Before(expires) {
		t.Fatalf("after %v of real time the clock reads %v: a lease of %v taken then ran out", shortest-time.Millisecond, now, lease)
	}
	f.tick(2 * time.Millisecond)
	if now := c.Now(); now.Before(expires) {
		t.Fatalf("after %v of real time the clock reads %v: not at the bounded rate %v", shortest+time.Millisecond, now, MaxRate)
	}
	// It catches up in about step / (MaxRate - 1) of real time, and
	// then follows the wall clock again.
	for i := 0; i < 30 && c.Offset() != 0; i++ {
		f.tick(time.Hour)
		c.Now()
	}
	if c.Offset() != 0 {
		t.Fatalf("not caught up after 30h: %v behind", c.Offset())
	}
	f.tick(time.Second)
	if got := c.Now(); !got.Equal(f.wall) {
		t.Errorf("caught up: %v, want the wall clock's %v", got, f.wall)
	}
	out := log.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("%d WARN lines for one step, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "forward") || !strings.Contains(out, "step=1h0m0s") || !strings.Contains(out, "catch_up=20h0m0s") {
		t.Errorf("the WARN line does not say the step forward, its size and the time to catch up:\n%s", out)
	}
	if !strings.Contains(out, "level=INFO") || !strings.Contains(out, "caught up") {
		t.Errorf("no INFO line once caught up:\n%s", out)
	}
}

func TestBackwardStepNeverGoesBack(t *testing.T) {
	f, c, log := newFake()
	before := c.Now()
	f.wall = f.wall.Add(-time.Hour)
	prev := before
	for i := 0; i < 1000; i++ {
		now := c.Now()
		if now.Before(prev) {
			t.Fatalf("reading %d went backward: %v after %v", i, now, prev)
		}
		prev = now
		f.tick(time.Minute)
	}
	// Meanwhile at MinRate: a lease lasts at most 1/MinRate of its length.
	f2, c2, _ := newFake()
	c2.Now()
	f2.wall = f2.wall.Add(-time.Hour)
	expires := c2.Now().Add(time.Minute)
	minute := time.Minute
	longest := time.Duration(float64(minute) / MinRate)
	f2.tick(longest + time.Millisecond)
	if now := c2.Now(); now.Before(expires) {
		t.Fatalf("after %v of real time the clock reads %v: a lease of a minute taken then has not run out", longest, now)
	}
	if c.Offset() != 0 {
		t.Errorf("not caught up after 1000 minutes: offset %v", c.Offset())
	}
	out := log.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "back") || !strings.Contains(out, "step=-1h0m0s") || !strings.Contains(out, "catch_up=10h0m0s") {
		t.Errorf("want one WARN line of the step back, its size and time to catch up:\n%s", out)
	}
}

// The monotonic clock's small jitter against the wall clock is never
// reported; a second step while catching up from the first is.
func TestEachStepIsReportedOnce(t *testing.T) {
	f, c, log := newFake()
	c.Now()
	f.wall = f.wall.Add(10 * time.Millisecond) // under the threshold
	c.Now()
	f.tick(time.Second)
	c.Now()
	if log.Len() != 0 {
		t.Fatalf("a 10ms difference was logged: %s", log)
	}
	f.wall = f.wall.Add(time.Hour)
	for i := 0; i < 100; i++ {
		f.tick(time.Second)
		c.Now()
	}
	f.wall = f.wall.Add(time.Minute)
	for i := 0; i < 100; i++ {
		f.tick(time.Second)
		c.Now()
	}
	if n := strings.Count(log.String(), "level=WARN"); n != 2 {
		t.Errorf("%d WARN lines for two steps, want 2:\n%s", n, log)
	}
	// A step back past the wall clock while behind it: the lease clock is
	// then ahead, a new step.
	f.wall = f.wall.Add(-3 * time.Hour)
	c.Now()
	if n := strings.Count(log.String(), "level=WARN"); n != 3 {
		t.Errorf("%d WARN lines for three steps, want 3:\n%s", n, log)
	}
}

// A monotonic reading that does not move (two readings at once) never
// moves the clock back or forward by more than the bound.
func TestMonotonicStandsStill(t *testing.T) {
	f, c, _ := newFake()
	first := c.Now()
	f.wall = f.wall.Add(time.Second)
	if got := c.Now(); !got.Equal(first) {
		t.Errorf("with no real time gone by the clock moved: %v, want %v", got, first)
	}
	f.mono -= time.Second // never goes back; taken as standing still
	if got := c.Now(); got.Before(first) {
		t.Errorf("went back: %v before %v", got, first)
	}
}

func TestConcurrentReadingsAreOrdered(t *testing.T) {
	c := New(realReading, nil)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := c.Now()
			for i := 0; i < 1000; i++ {
				now := c.Now()
				if now.Before(prev) {
					t.Errorf("went back: %v before %v", now, prev)
					return
				}
				prev = now
			}
		}()
	}
	wg.Wait()
	if now := c.Now(); now.Location() != time.UTC || now != now.Round(0) {
		t.Errorf("%#v: want UTC without a monotonic reading", now)
	}
}

// A wall clock set centuries ahead is a step like any other: the time to
// catch up saturates rather than wrap round to a negative duration.
func TestHugeStep(t *testing.T) {
	f, c, log := newFake()
	c.Now()
	f.wall = f.wall.AddDate(250, 0, 0)
	f.tick(time.Second)
	if got := c.Now(); got.After(t0.Add(2 * time.Second)) {
		t.Fatalf("after a step of 250 years the clock reads %v", got)
	}
	if out := log.String(); !strings.Contains(out, "catch_up=2562047h47m16") {
		t.Errorf("want the longest duration as the time to catch up:\n%s", out)
	}
}

// A wall clock slewed faster than MaxRate for long (chrony may slew at up
// to 1/12) draws away from the lease clock a little at every reading: that
// is told at most once a minute, not each time it has gained another
// Reported (every 3 s at 1/12: a review found it by reading).
func TestFastSlewIsNotToldAtEveryReport(t *testing.T) {
	f, c, log := newFake()
	c.Now()
	for range 6000 { // 10 minutes, read every 100 ms
		f.mono += 100 * time.Millisecond
		f.wall = f.wall.Add(100*time.Millisecond + 100*time.Millisecond/12)
		c.Now()
	}
	if n := strings.Count(log.String(), "level=WARN"); n < 1 || n > 11 {
		t.Errorf("%d WARN lines for 10 minutes of a wall clock slewed at 1/12, want 1 to 11:\n%s", n, log)
	}
}
