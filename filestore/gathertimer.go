package filestore

import "time"

// gatherTimer ends the commit loop's wait for a batch to fill. It is a Go
// timer and, where the system has one, a precise one beside it (a timerfd
// on Linux), whichever fires first; either sends on c.
//
// A Go timer alone fires late when the server is otherwise idle: the
// runtime then sleeps in epoll_wait, whose timeout is in whole
// milliseconds, so a 100 µs wait lasted about 0.8 ms on average here
// (docs/benchmarks.md), and a change waiting for company that did not come
// waited that long. The precise timer is a file descriptor in the runtime's
// poller, which wakes it when the time comes. While the runtime is busy it
// may notice the descriptor late, but then it checks its own timers often:
// hence both.
//
// A firing may arrive after the wait it was for has ended (stopped or reset
// too late): the waiter compares the time with its deadline.
type gatherTimer struct {
	c       chan struct{}
	timer   *time.Timer
	precise preciseTimer // nil where there is none
}

// preciseTimer is a system timer finer than the Go runtime's sleep.
type preciseTimer interface {
	reset(d time.Duration) error
	stop()
	close()
}

func newGatherTimer() *gatherTimer {
	t := &gatherTimer{c: make(chan struct{}, 1)}
	t.timer = time.AfterFunc(time.Hour, t.fire)
	t.timer.Stop()
	t.precise = newPreciseTimer(t.fire) // nil if it cannot be had
	return t
}

func (t *gatherTimer) fire() {
	select {
	case t.c <- struct{}{}:
	default:
	}
}

// reset starts a wait of d, dropping a firing left over from an earlier one.
func (t *gatherTimer) reset(d time.Duration) {
	select {
	case <-t.c:
	default:
	}
	t.timer.Reset(d)
	if t.precise != nil && t.precise.reset(d) != nil {
		t.precise.close()
		t.precise = nil // the Go timer alone, as on other systems
	}
}

func (t *gatherTimer) stop() {
	t.timer.Stop()
	if t.precise != nil {
		t.precise.stop()
	}
}

// close stops the timer for good; it is called once, by its owner.
func (t *gatherTimer) close() {
	t.stop()
	if t.precise != nil {
		t.precise.close()
	}
}
