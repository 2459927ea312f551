package filestore

import (
	"runtime"
	"testing"
	"time"
)

// TestGatherTimer checks that the gather timer fires after each reset,
// that a stopped one does not, and that a firing left over from an earlier
// wait is dropped by the next reset.
func TestGatherTimer(t *testing.T) {
	tm := newGatherTimer()
	defer tm.close()
	if runtime.GOOS == "linux" && tm.precise == nil {
		t.Fatal("no timerfd on Linux: gathers would end up to a millisecond late on an idle server")
	}
	for range 3 {
		tm.reset(200 * time.Microsecond)
		select {
		case <-tm.c:
		case <-time.After(10 * time.Second):
			t.Fatal("the timer never fired")
		}
	}
	// A fresh timer, so that no firing of the waits above (each fires
	// twice: Go's timer and the precise one) can still be on its way.
	tm = newGatherTimer()
	defer tm.close()
	tm.reset(300 * time.Millisecond)
	tm.stop()
	select {
	case <-tm.c:
		t.Fatal("a stopped timer fired")
	case <-time.After(600 * time.Millisecond):
	}
	tm.fire() // a firing come late
	tm.reset(time.Hour)
	select {
	case <-tm.c:
		t.Fatal("reset kept an earlier wait's firing")
	default:
	}
	tm.stop()
}

// TestPreciseTimerAlone checks the precise timer fires by itself, without
// the Go timer beside it.
func TestPreciseTimerAlone(t *testing.T) {
	fired := make(chan struct{}, 1)
	p := newPreciseTimer(func() {
		select {
		case fired <- struct{}{}:
		default:
		}
	})
	if p == nil {
		if runtime.GOOS == "linux" {
			t.Fatal("no timerfd on Linux")
		}
		return // none here: the Go timer alone, tested above
	}
	defer p.close()
	for range 3 {
		if err := p.reset(200 * time.Microsecond); err != nil {
			t.Fatal(err)
		}
		select {
		case <-fired:
		case <-time.After(10 * time.Second):
			t.Fatal("the timerfd never fired")
		}
	}
}

// BenchmarkGatherTimerIdle measures how late a 100 µs wait ends in an
// otherwise idle process: with a Go timer alone (the Go runtime sleeps in
// whole milliseconds when it has nothing to do) and with the gather timer.
// Reported as late-µs/op.
func BenchmarkGatherTimerIdle(b *testing.B) {
	const wait = 100 * time.Microsecond
	lateness := func(b *testing.B, waitFor func(time.Duration)) {
		var late time.Duration
		for b.Loop() {
			start := time.Now()
			waitFor(wait)
			late += time.Since(start) - wait
		}
		b.ReportMetric(float64(late.Microseconds())/float64(b.N), "late-µs/op")
	}
	b.Run("go-timer", func(b *testing.B) {
		tm := time.NewTimer(time.Hour)
		lateness(b, func(d time.Duration) { tm.Reset(d); <-tm.C })
	})
	b.Run("gather-timer", func(b *testing.B) {
		tm := newGatherTimer()
		defer tm.close()
		lateness(b, func(d time.Duration) { tm.reset(d); <-tm.c })
	})
}
