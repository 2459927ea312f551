package filestore

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timerfd is a Linux timerfd in the Go runtime's poller: a goroutine
// reading it wakes when it expires, to the microsecond.
type timerfd struct {
	f  *os.File
	fd int // f's; only the commit loop sets it, and closes f after its last use
}

// newPreciseTimer returns a timerfd that calls fire at each expiry, or nil
// if the system will not give one.
func newPreciseTimer(fire func()) preciseTimer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: in the poller
	go func() {
		var expirations [8]byte
		for {
			if _, err := f.Read(expirations[:]); err != nil {
				// Closed; or broken, when the Go timer beside it still
				// ends every wait, only less precisely when idle.
				return
			}
			fire()
		}
	}()
	return &timerfd{f: f, fd: fd}
}

func (t *timerfd) set(d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	return unix.TimerfdSettime(t.fd, 0, &spec, nil)
}

func (t *timerfd) reset(d time.Duration) error { return t.set(max(d, 1)) } // 0 would disarm it
func (t *timerfd) stop()                       { t.set(0) }
func (t *timerfd) close()                      { t.f.Close() }
