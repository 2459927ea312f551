// Package leaseclock is the one clock by which a Locker process decides
// leases and times its changes (the file and memory stores' Env.Now, the
// lock service's lease watcher and waits): the wall clock, except that it
// never jumps.
//
// Leases are absolute times (a hold's expires), so a server that compared
// them with the wall clock would, when that clock is stepped forward (time
// sync stepping a clock that was behind, date -s, a virtual machine's clock
// corrected), find every lease run out at once and give each lock to its
// next waiter, while the holder, which times its renewals by its own clock,
// still believes it holds it: two holders of one lock. Stepped back, it
// would make leases last longer by the step and times in history go back.
//
// This clock follows the wall clock while the two agree, slewing included
// (a wall clock that runs at between MinRate and MaxRate of the real rate
// is followed exactly). When the wall clock moves faster than that (a step
// forward), it runs at MaxRate of the monotonic clock until it has caught
// up; slower (a step back), at MinRate, and never backward. So between any
// two readings it has moved by between MinRate and MaxRate of the real time
// between them: a lease of length L granted at one reading runs out no
// sooner than L/MaxRate of real time later, and no later than L/MinRate.
//
// Why MaxRate is 1.05. A holder that renews as client.Keep does (every
// third of its lease, each lease counted from when the renewal was sent,
// which is before the server granted it) and presumes it lost when no
// renewal has succeeded for nine tenths of the lease (the Keeper, locker
// run --kill-on-lost) must stop before the server frees the lock. The
// server frees it no sooner than L/MaxRate after the grant: 1/1.05 = 0.952
// of the lease, which leaves the holder 0.052 of the lease (3.1 s of the
// default 1m ttl) between the 0.9 at which it stops and the server
// freeing the lock; it has 0.1 when the clocks agree. A rate of 1.1 would
// leave 0.009 (0.5 s of a minute: too little for a command to exit on
// SIGTERM), and at 1/0.9 = 1.11 or more a holder that stops at nine tenths
// could stop too late. The price of a lower rate is a longer catch-up:
// at 1.05 a step forward of S takes 20·S to catch up (an hour's step: 20
// hours), during which the times the server writes (acquired, expires,
// history) are behind the wall clock by what is left of the step.
//
// Why MinRate is 0.9, not standing still. A clock that stood still until
// the wall clock came back to it would freeze every lease for as long as
// the step back (an hour: every lock left by a dead holder held an hour
// longer). At 0.9 a lease lasts at most 1/0.9 = 1.11 times its length
// while catching up, and a step back of S is caught up in 10·S; times
// stay ordered. Leases lasting longer is the safe direction: no lock has
// two holders.
//
// The clock starts from the wall clock when the process starts: a step
// the clock was still catching up with when the server stopped is taken
// at once by the next start (leases then run out at once by up to what
// was left of it), as are steps while the server was down.
//
// The monotonic clock (CLOCK_MONOTONIC) does not run while the machine is
// suspended: a suspended server's clock, woken, is behind the wall clock
// by the time it slept, and catches up as from a step forward. Its leases
// then last longer, never shorter.
package leaseclock

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The rates, as fractions of the monotonic clock's, between which the
// clock moves: MaxRate while behind the wall clock (after a step forward),
// MinRate while ahead of it (after a step back). See the package comment
// for why these.
const (
	MaxRate = 1 + 1.0/fastBy // 1.05
	MinRate = 1 - 1.0/slowBy // 0.9

	fastBy = 20 // MaxRate is 1 + 1/fastBy: a step forward of S is caught up in fastBy·S
	slowBy = 10 // MinRate is 1 - 1/slowBy: a step back of S is caught up in slowBy·S
)

// Reported is the least difference from the wall clock that is logged as
// a step: smaller ones (the jitter between the two clocks' readings, a
// slewing time sync's) are taken as silently.
const Reported = 100 * time.Millisecond

// Clock is a lease clock. Its readings never go back, and between any two
// of them it moves by between MinRate and MaxRate of the monotonic time
// between them. Safe for concurrent use.
type Clock struct {
	read func() (wall time.Time, mono time.Duration)
	log  atomic.Pointer[slog.Logger]

	mu       sync.Mutex
	started  bool
	last     time.Time     // the last reading
	lastMono time.Duration // the monotonic clock then
	offset   time.Duration // the wall clock minus the last reading
	// reported is the offset a log line has told of (0: none), moved
	// toward 0 as the clock catches up, so that the next step is told
	// by how much it added.
	reported time.Duration
	// warnedAt is the monotonic reading of the last WARN: a wall clock
	// that keeps drawing away in the same direction (slewed faster than
	// MaxRate) is told of at most once every warnEvery.
	warnedAt time.Duration
}

// warnEvery is the least time between two WARN lines of steps in the same
// direction.
const warnEvery = time.Minute

// New returns a clock that reads the wall clock and a monotonic clock
// (any origin; it must never go back) from read, in one call so that the
// two agree. It logs each step to log (nil: slog.Default()).
func New(read func() (wall time.Time, mono time.Duration), log *slog.Logger) *Clock {
	c := &Clock{read: read}
	c.SetLogger(log)
	return c
}

// SetLogger sets where steps are logged (nil: slog.Default()).
func (c *Clock) SetLogger(log *slog.Logger) { c.log.Store(log) }

// Now returns the clock's time, in UTC, without a monotonic reading: it is
// compared with times that were stored.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	wall, mono := c.read()
	wall = wall.UTC().Round(0)
	if !c.started {
		c.started, c.last, c.lastMono = true, wall, mono
		c.mu.Unlock()
		return wall
	}
	dt := max(mono-c.lastMono, 0)
	lo := c.last.Add(dt - dt/slowBy)
	hi := c.last.Add(dt + dt/fastBy)
	now := wall
	switch {
	case now.Before(lo):
		now = lo
	case now.After(hi):
		now = hi
	}
	c.last, c.lastMono = now, max(mono, c.lastMono)
	c.offset = wall.Sub(now)
	tell := c.note(c.lastMono)
	c.mu.Unlock()
	tell()
	return now
}

// Offset returns, at a new reading, how far the clock is behind the wall
// clock (negative: ahead of it); 0 when the two agree.
func (c *Clock) Offset() time.Duration {
	c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// note decides, with c.mu held, what to log of the offset just read at
// the monotonic reading mono, and returns the logging to do once c.mu is
// let go.
func (c *Clock) note(mono time.Duration) func() {
	off, was := c.offset, c.reported
	switch {
	case off == 0:
		c.reported = 0
		if was != 0 {
			return func() {
				c.logger().Info("the lease clock has caught up with the wall clock")
			}
		}
	case was != 0 && (off > 0) == (was > 0) && abs(off) <= abs(was):
		c.reported = off // catching up
	case abs(off-was) < Reported:
	case was != 0 && (off > 0) == (was > 0) && mono-c.warnedAt < warnEvery:
		// Drawing away further, in the same direction, within a
		// minute of the last WARN: told with the rest at the next one.
	default:
		c.reported, c.warnedAt = off, mono
		step := off - was
		return func() { c.warn(step, off) }
	}
	return func() {}
}

func (c *Clock) warn(step, off time.Duration) {
	if off > 0 {
		c.logger().Warn("the wall clock stepped forward: leases are timed by a clock that runs at most 5% fast until it catches up with it, so that no lease runs out sooner than 1/1.05 of its length; meanwhile the times the server writes are behind the wall clock",
			"step", step, "behind", off, "catch_up", times(off, fastBy).Round(time.Second))
		return
	}
	c.logger().Warn("the wall clock stepped back: leases are timed by a clock that never goes back and runs 10% slow until the wall clock catches up with it, so leases last up to 1/0.9 of their length meanwhile, and the times the server writes are ahead of the wall clock",
		"step", step, "ahead", -off, "catch_up", times(-off, slowBy).Round(time.Second))
}

func (c *Clock) logger() *slog.Logger {
	if l := c.log.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// times is d·n, saturating at the longest duration (a wall clock set
// centuries ahead).
func times(d time.Duration, n int64) time.Duration {
	if d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// origin is the monotonic clock's origin for realReading.
var origin = time.Now()

// realReading reads the wall and monotonic clocks in one time.Now.
func realReading() (time.Time, time.Duration) {
	t := time.Now()
	return t, t.Sub(origin)
}

// std is the process's lease clock.
var std = New(realReading, nil)

// Default returns the process's lease clock, which the stores and the
// lock service use unless told otherwise: one clock for every lease
// decision in the process.
func Default() *Clock { return std }

// Now is Default().Now().
func Now() time.Time { return std.Now() }
