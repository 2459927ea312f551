// Package lockservice runs the lock rules (package lock) over a store: it
// adds what needs time and memory rather than storage — blocking waits with
// fair queueing, lease expiry, and the stream of events. Transports (HTTP)
// talk to a Service; stores never see waiters.
package lockservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudfoundry-community/locker/internal/leaseclock"
	"github.com/cloudfoundry-community/locker/internal/logevery"
	"github.com/cloudfoundry-community/locker/lock"
)

// Config limits a Service. Zero values take the defaults noted.
type Config struct {
	// MaxWait caps how long a request may wait for a lock (default 10m).
	MaxWait time.Duration
	// DefaultTTL is the lease of holds that ask for none (default: none).
	DefaultTTL time.Duration
	// MaxTTL caps every lease (default: no cap).
	MaxTTL time.Duration
	// MaxWaitersPerLock and MaxWaiters bound the queues (defaults 1000 and
	// 10000).
	MaxWaitersPerLock int
	MaxWaiters        int
	// OnEvents, if set, is called with every committed change (metrics).
	// It must not block.
	OnEvents func([]lock.Event)
	// PollInterval is how often a waiter re-checks its lock without being
	// woken (default 1s): a safety net for lost notifications.
	PollInterval time.Duration
	// KeepPlace is how long a request whose wait ran out, or was ended by
	// the store failing for a moment, keeps its place in the queue for the
	// same key and holder asking again (default 5s): clients that wait
	// longer than MaxWait ask again and again, and would otherwise go to
	// the back of the line each time.
	KeepPlace time.Duration
	// ForgetFreeAfter, when > 0, has the service forget (lock.Forget)
	// every lock free for longer than it that nobody waits for and that is
	// in no pool, checked every tenth of it (1s to 1h). Default 0: free
	// locks are kept, and listed, for ever.
	ForgetFreeAfter time.Duration
	// Now is the clock by which the service compares the times a store
	// wrote (leases' expiries) with the present: the lease watcher, the
	// waits for a lease to run out, the pools' search for a free member,
	// the sweep of free locks. It must be the store's own clock (the
	// file store's Options.Now) or, for a store with a clock of its own
	// (lock.Clock: PostgreSQL's), this server's best guess at it. Default
	// leaseclock.Now, the process's lease clock, which never jumps when
	// the wall clock is stepped and is the stores' default too.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the lock service.
type Service struct {
	store  lock.Store
	cfg    Config
	log    *slog.Logger
	queues *queues
	leases *leases
	events *Broker

	closing   chan struct{} // closed by Close: waiting requests give up
	closeOnce sync.Once

	limitLog logevery.Minute // requests refused at a limit (LimitReached)

	// The sweep of Config.ForgetFreeAfter: the store's time at Start
	// (from which a lock with no FreeSince counts), its failures' log,
	// and its goroutine, which Close waits for.
	forgetStarted time.Time
	forgetLog     logevery.Minute
	sweeper       sync.WaitGroup
}

// New returns a Service over store. Call Start before use.
func New(store lock.Store, cfg Config) *Service {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Minute
	}
	if cfg.MaxWaitersPerLock <= 0 {
		cfg.MaxWaitersPerLock = 1000
	}
	if cfg.MaxWaiters <= 0 {
		cfg.MaxWaiters = 10000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.KeepPlace <= 0 {
		cfg.KeepPlace = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = leaseclock.Now
	}
	shared, _ := store.(lock.WaitQueue)
	s := &Service{store: store, cfg: cfg, log: cfg.Logger, queues: newQueues(cfg.MaxWaitersPerLock, cfg.MaxWaiters, shared), events: NewBroker(), closing: make(chan struct{})}
	s.leases = newLeases(s.expire, cfg.Now)
	store.Watch(s.committed)
	return s
}

// Start expires the leases that ran out while the server was down and
// watches the rest until ctx ends; with Config.ForgetFreeAfter set, it also
// sweeps free locks until ctx ends or Close.
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.ForgetFreeAfter > 0 {
		// Before the list: a lock it finds with no FreeSince was free
		// by then.
		s.forgetStarted = s.storeNow(ctx)
	}
	locks, err := s.store.List(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		if s.cfg.MaxTTL > 0 && !l.Free() {
			capped, _, err := s.store.Update(ctx, l.Name, func(l *lock.Lock, env lock.Env) []lock.Event {
				return lock.CapLeases(l, s.cfg.MaxTTL, env)
			})
			if err != nil {
				return err
			}
			l = &capped
		}
		s.leases.watch(l.Name, l.NextExpiry())
	}
	go s.leases.run(ctx)
	if s.cfg.ForgetFreeAfter > 0 {
		s.sweeper.Add(1)
		go s.forgetFreeLoop(ctx)
	}
	return nil
}

// Config returns the service's limits.
func (s *Service) Config() Config { return s.cfg }

// Events returns the broker that streams every committed change.
func (s *Service) Events() *Broker { return s.events }

// committed is called by the store for every committed change, in order.
func (s *Service) committed(name string, events []lock.Event) {
	if name == "" {
		// Changes may have gone by unseen: every waiter looks again, and
		// every event stream is ended so that its client reads again.
		s.queues.wakeEveryone()
		s.events.Missed()
		s.log.Warn("changes made meanwhile may not have reached this server's event streams; they were ended so that their clients read the locks again")
		return
	}
	s.queues.wake(name, events)
	if len(events) == 0 {
		return
	}
	s.events.Publish(events)
	// A member changed: the waiters of its pools try again (of the pool it
	// left too, which may have no members now).
	for _, ev := range events {
		for _, p := range ev.Pools {
			s.queues.wake(poolQueue(p), nil)
		}
		if ev.Pool != "" {
			s.queues.wake(poolQueue(ev.Pool), nil)
		}
	}
	if s.cfg.OnEvents != nil {
		s.cfg.OnEvents(events)
	}
	for _, ev := range events {
		if ev.Type == lock.Expired {
			s.log.Info("lease expired", "lock", ev.Lock, "key", ev.Key, "holder", ev.Holder, "fence", ev.Fence)
		}
	}
	if lock.Forgets(events) {
		// Gone, and free: a check of its leases would only keep its
		// name in memory.
		s.leases.forget(name)
		return
	}
	var next time.Time
	for _, ev := range events {
		if !ev.Expires.IsZero() && (next.IsZero() || ev.Expires.Before(next)) {
			next = ev.Expires
		}
	}
	s.leases.watch(name, next)
}

// Acquire takes a hold on the named lock. With wait > 0 (capped by
// Config.MaxWait) it waits in line while the lock is held under another key,
// and returns an ECONFLICT error when the wait runs out. r.TTL is clamped to
// the server's default and maximum. A request whose ctx ends while waiting
// never keeps the lock.
func (s *Service) Acquire(ctx context.Context, name string, r lock.Request, wait time.Duration) (lock.Lock, error) {
	r.TTL = lock.ClampTTL(r.TTL, s.cfg.DefaultTTL, s.cfg.MaxTTL)
	r.MaxTTL = s.cfg.MaxTTL
	if err := r.Validate(name); err != nil {
		return lock.Lock{}, err
	}
	return s.waitFor(ctx, name, r, wait, func(w *waiter) (lock.Lock, lock.Hold, error) {
		return s.tryAcquire(ctx, name, r, w)
	})
}

// waitFor makes attempts to take a hold for r until one succeeds, waiting in
// the named queue between them for at most wait (capped by MaxWait); with
// wait <= 0 it makes one attempt, behind everyone queued. An attempt that
// fails with ECONFLICT is tried again when the queue is woken (a change to
// the lock or pool, a waiter leaving), when a lease in the way runs out, or
// at the poll interval. A request whose ctx ends never keeps a hold. An
// attempt returns the lock it took a hold on and the holder's hold on it
// before (for kept).
func (s *Service) waitFor(ctx context.Context, queue string, r lock.Request, wait time.Duration, attempt func(w *waiter) (lock.Lock, lock.Hold, error)) (lock.Lock, error) {
	if wait <= 0 {
		l, before, err := attempt(nil)
		if err != nil {
			return l, err
		}
		return s.kept(ctx, l, before, r)
	}
	wait = min(wait, s.cfg.MaxWait)
	release, err := takeWaitPlace(ctx)
	limited := err != nil // no place to wait in
	var w *waiter
	if err == nil {
		if w, limited, err = s.queues.join(ctx, queue, r.Key, r.Holder); err != nil {
			release()
		}
	}
	if err != nil {
		// A full queue (or no place to wait in) refuses only a request
		// that would have to wait: one that can have the lock at once
		// (its holder re-entering) still gets it, as it would without
		// wait.
		l, before, aerr := attempt(nil)
		switch {
		case aerr == nil:
			return s.kept(ctx, l, before, r)
		case lock.ErrorCode(aerr) != lock.ECONFLICT:
			return l, aerr
		}
		if limited {
			s.LimitReached(err)
		}
		return lock.Lock{}, err
	}
	defer release()
	keep := time.Duration(0) // set when the wait runs out: the client may ask again
	defer func() { s.queues.leave(ctx, queue, w, keep) }()
	// A change made by another server sharing the store reaches this one
	// as a notification; should one be lost, this poll still finds it.
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	expiryTimer := time.NewTimer(time.Hour)
	expiryTimer.Stop()
	defer expiryTimer.Stop()
	var seenExpiry time.Time
	skew := minSkewWait
	for {
		l, before, err := attempt(w)
		if err == nil {
			return s.kept(ctx, l, before, r)
		}
		if lock.ErrorCode(err) != lock.ECONFLICT {
			if lock.ErrorCode(err) == lock.EUNAVAILABLE {
				// The store failed for a moment (a database blip): a
				// client that asks again gets its place back rather than
				// the back of the line.
				keep = s.cfg.KeepPlace
			}
			return l, err
		}
		// A lease running out frees the lock without a release: wake up
		// for it too, whether or not the lease watcher gets there first.
		var expiry <-chan time.Time
		if t := l.NextExpiry(); !t.IsZero() {
			d := expiryWait(t, s.cfg.Now())
			if t.Equal(seenExpiry) {
				// The same lease again, so it had not run out by the
				// store's clock when this one's said it had: the
				// clocks disagree (a replica ahead of the database).
				// Look again later each time, not at once for ever.
				d = max(d, skew)
				skew = min(2*skew, s.cfg.PollInterval)
			} else {
				skew = minSkewWait
			}
			seenExpiry = t
			expiryTimer.Reset(d)
			expiry = expiryTimer.C
		}
	sleep:
		select {
		case <-w.wake:
		case <-poll.C:
			if !s.queues.mayGo(queue, w) {
				goto sleep // an earlier waiter goes first: woken when not
			}
		case <-expiry:
			if !s.queues.mayGo(queue, w) {
				goto sleep
			}
		case <-deadline.C:
			keep = s.cfg.KeepPlace
			var e *lock.Error
			if !errors.As(err, &e) {
				return l, err
			}
			e.Message += "; gave up after waiting " + wait.String()
			return l, e
		case <-ctx.Done():
			return lock.Lock{}, ctx.Err()
		case <-s.closing:
			// Asking again on another replica (sharing the queue), the
			// client gets its place back.
			keep = s.cfg.KeepPlace
			return lock.Lock{}, lock.Errorf(lock.EUNAVAILABLE, "the server is shutting down; try again")
		}
	}
}

// expiryWait is how long a waiter sleeps, at now, before looking again at a
// lock whose first lease runs out at t: until just after it. It saturates:
// t.Sub does at the longest duration, which a lease of the longest ttl a
// request may ask for (about 292 years) reaches, and the millisecond added
// to it would overflow into a negative pause, a timer that fires at once.
func expiryWait(t, now time.Time) time.Duration {
	d := t.Sub(now)
	if d > math.MaxInt64-time.Millisecond {
		return math.MaxInt64
	}
	return d + time.Millisecond
}

// minSkewWait is the first pause before a waiter looks again at a lease
// that its clock says has run out and the store's says has not.
const minSkewWait = 10 * time.Millisecond

// kept returns the hold an attempt took, unless the request's ctx ended
// while it was being written (the client went away): then it gives the hold
// back, so that nobody holds a lock for a caller that will never release
// it. before is the holder's hold on l before the attempt.
func (s *Service) kept(ctx context.Context, l lock.Lock, before lock.Hold, r lock.Request) (lock.Lock, error) {
	if ctx.Err() != nil {
		granted := l.Holds.Get(r.Holder)
		_, _, err := s.change(context.WithoutCancel(ctx), l.Name, nil, func(m *lock.Lock, env lock.Env) []lock.Event {
			events, _ := lock.GiveBack(m, r.Key, r.Holder, l.Fence, before, granted, env)
			return events
		})
		if err != nil {
			// Left so, the lock would be held for good by a client that
			// never learnt of it.
			s.log.Warn("could not give back the hold of a client that went away; trying again", "lock", l.Name, "key", r.Key, "holder", r.Holder, "fence", l.Fence, "error", err)
			go s.giveBackAgain(context.WithoutCancel(ctx), l, before, granted, r, lock.Unsure(err))
		}
		return lock.Lock{}, ctx.Err()
	}
	return l, nil
}

// giveBackAgain tries a failed give-back again, with a growing pause,
// until it is made or the service closes. While every failure was certain
// to have changed nothing (unsure false: the file store's), it gives back
// one count of the grant, whatever the hold did meanwhile (the holder
// releasing, or taking it again), as long as it is the hold the grant was
// counted in (lock.GiveBack: not one begun since). Once a failure may have been a change
// made whose answer was lost (unsure), it gives back only a hold still
// exactly as the grant left it (lock.GiveBackAgain), so as never to give
// back twice; a hold changed since is logged at WARN, as it may be left
// held.
func (s *Service) giveBackAgain(ctx context.Context, l lock.Lock, before, granted lock.Hold, r lock.Request, unsure bool) {
	for delay := giveBackPause; ; delay = min(2*delay, 10*time.Second) {
		t := time.NewTimer(delay)
		select {
		case <-s.closing:
			t.Stop()
			s.log.Error("the server is stopping before it could give back the hold of a client that went away: the lock may stay held; release it by force if so", "lock", l.Name, "key", r.Key, "holder", r.Holder, "fence", l.Fence)
			return
		case <-t.C:
		}
		var gave bool
		_, _, err := s.change(ctx, l.Name, nil, func(m *lock.Lock, env lock.Env) []lock.Event {
			var events []lock.Event
			if unsure {
				events, gave = lock.GiveBackAgain(m, r.Key, r.Holder, l.Fence, before, granted, env)
			} else {
				events, gave = lock.GiveBack(m, r.Key, r.Holder, l.Fence, before, granted, env)
			}
			return events
		})
		switch {
		case err != nil:
			unsure = unsure || lock.Unsure(err)
			s.log.Warn("could not give back the hold of a client that went away; trying again", "lock", l.Name, "key", r.Key, "holder", r.Holder, "fence", l.Fence, "error", err)
			continue
		case gave:
			s.log.Info("gave back the hold of a client that went away", "lock", l.Name, "key", r.Key, "holder", r.Holder, "fence", l.Fence)
		case unsure:
			s.log.Warn("the hold of a client that went away was given back already, or has changed since (the holder took or released it meanwhile): if the holder holds more than it knows, release it", "lock", l.Name, "key", r.Key, "holder", r.Holder, "fence", l.Fence)
		default:
			s.log.Info("the hold of a client that went away was gone already", "lock", l.Name, "key", r.Key, "holder", r.Holder, "fence", l.Fence)
		}
		return
	}
}

// giveBackPause is the first pause before a failed give-back is tried
// again.
const giveBackPause = 100 * time.Millisecond

// Closing is closed when the service is shutting down: long-lived requests
// (event streams) end when it is.
func (s *Service) Closing() <-chan struct{} { return s.closing }

// Close makes waiting requests give up (the server is shutting down), and
// returns once the sweep of free locks, if any, has stopped: the store may
// be closed then.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.sweeper.Wait()
}

// tryAcquire makes one attempt. w is the caller's place in the queue (nil
// when it does not wait: then every waiter is ahead of it). On a conflict
// the error carries the lock's state and so does the returned Lock.
func (s *Service) tryAcquire(ctx context.Context, name string, r lock.Request, w *waiter) (lock.Lock, lock.Hold, error) {
	var had lock.Hold
	l, err := s.update(ctx, name, w, func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
		events := lock.Expire(l, env.Now)
		if ahead := before(env.Queue, w); lock.MustQueue(l, r, ahead) {
			return events, queued(l, ahead, r.Key)
		}
		if len(l.Pools) > 0 && takesAnew(l, r) {
			// A member goes to the earliest waiter for it: one waiting
			// through a pool may have come first. Joining the holders
			// of a member held under r's key would jump it too (a pool
			// waiter never joins a hold), as MustQueue says of an
			// earlier waiter by name with another key.
			s.queues.deferTo(w, poolQueues(l.Pools, "")...)
			n, err := s.queues.poolsAhead(ctx, l.Pools, "", w)
			if err != nil {
				return events, err
			}
			if n > 0 {
				return events, queuedForPools(l, n)
			}
			s.queues.undefer(w)
		}
		had = l.Holds.Get(r.Holder)
		more, err := lock.Acquire(l, r, env)
		return append(events, more...), err
	})
	return l, had, err
}

// change is store.Update with the lock's wait queue in env.Queue (the
// store's read of it, or this server's queue) and the number of requests
// waiting in the returned lock's Waiters — others than self, the caller's
// own place in the queue when it waits.
func (s *Service) change(ctx context.Context, name string, self *waiter, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	waiters := 0
	if cb, ok := ctx.Value(changeBeganKey{}).(*changeBegan); ok {
		began := time.Now()
		defer cb.at.Store(&began)
	}
	l, events, err := s.store.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		env.Queue = s.queues.snapshot(name, env)
		waiters = len(env.Queue)
		for _, q := range env.Queue {
			if self != nil && q.Ticket == self.ticket {
				waiters--
			}
		}
		return m(l, env)
	})
	l.Waiters = waiters
	var e *lock.Error
	if errors.As(err, &e) && e.Lock != nil {
		e.Lock.Waiters = waiters
	}
	return l, events, err
}

type (
	changeBeganKey struct{}
	changeBegan    struct{ at atomic.Pointer[time.Time] }
)

// WithChangeBegan returns a context under which the service notes when the
// last change it made for the caller began, by this process's clock, and a
// function that returns it (zero: none yet). That is no later than the
// store's time of the change (its Env.Now, from which a lease it granted
// runs), whichever store: a server can so say how long a lease runs from
// when it took the request, whatever the request waited for first
// (Locker-Lease).
func WithChangeBegan(ctx context.Context) (context.Context, func() time.Time) {
	cb := new(changeBegan)
	return context.WithValue(ctx, changeBeganKey{}, cb), func() time.Time {
		if at := cb.at.Load(); at != nil {
			return *at
		}
		return time.Time{}
	}
}

// update changes the named lock as rule says (change) and returns the lock
// after the change and the store's error, or else the rule's.
func (s *Service) update(ctx context.Context, name string, self *waiter, rule func(*lock.Lock, lock.Env) ([]lock.Event, error)) (lock.Lock, error) {
	var outcome error
	l, _, err := s.change(ctx, name, self, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := rule(l, env)
		outcome = err
		return events
	})
	if err != nil {
		return l, err
	}
	return l, withWaiters(outcome, l.Waiters)
}

// withWaiters sets the waiter count of the lock a refusal carries.
func withWaiters(err error, n int) error {
	var e *lock.Error
	if errors.As(err, &e) && e.Lock != nil {
		e.Lock.Waiters = n
	}
	return err
}

// takesAnew reports whether r would take l as a new holder: l is free, or
// held under r's key by others (a holder taking it again is never made to
// wait, see lock.MustQueue).
func takesAnew(l *lock.Lock, r lock.Request) bool {
	if l.Free() {
		return true
	}
	_, held := l.Holds.Lookup(r.Holder)
	return l.Key == r.Key && !held
}

// queuedForPools refuses a member to a request that came after n waiters
// of its pools.
func queuedForPools(l *lock.Lock, n int) error {
	c := l.Clone()
	msg := fmt.Sprintf("lock %q is free but %d earlier waiter(s) for its pool(s) %s come first", l.Name, n, quoteAll(l.Pools))
	if !l.Free() {
		msg = fmt.Sprintf("lock %q is held by key %q (%s) and %d earlier waiter(s) for its pool(s) %s come first", l.Name, l.Key, lock.DescribeHolders(l), n, quoteAll(l.Pools))
	}
	return &lock.Error{Code: lock.ECONFLICT, Lock: &c, Message: msg}
}

// quoteAll quotes each name, comma-separated.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// queued refuses l to a request with key that came after the waiters
// ahead. Of a free lock it says how many of them have another key: those
// with key do not keep the request out.
func queued(l *lock.Lock, ahead []lock.Waiter, key string) error {
	c := l.Clone()
	others := 0
	for _, w := range ahead {
		if w.Key != key {
			others++
		}
	}
	msg := fmt.Sprintf("lock %q is free but %d earlier waiter(s) with another key come first", l.Name, others)
	if !l.Free() {
		msg = fmt.Sprintf("lock %q is held by key %q (%s) and %d earlier waiter(s) come first", l.Name, l.Key, lock.DescribeHolders(l), len(ahead))
	}
	return &lock.Error{Code: lock.ECONFLICT, Message: msg, Lock: &c}
}

// Release gives back one hold of holder under key. It returns the lock after
// the change and whether a hold was released.
func (s *Service) Release(ctx context.Context, name, key, holder string) (lock.Lock, bool, error) {
	return s.ReleaseHold(ctx, name, key, holder, lock.HoldRef{})
}

// ReleaseHold is Release of the hold ref names only (lock.ReleaseHold): a
// lock taken again since (another fence, even by the same key and holder),
// or a hold the holder took again within the period (another acquired),
// is refused (ECONFLICT, with the lock) and left alone.
func (s *Service) ReleaseHold(ctx context.Context, name, key, holder string, ref lock.HoldRef) (lock.Lock, bool, error) {
	if err := lock.ValidateRelease(name, key, holder); err != nil {
		return lock.Lock{}, false, err
	}
	return s.release(ctx, name, key, holder, ref)
}

func (s *Service) release(ctx context.Context, name, key, holder string, ref lock.HoldRef) (lock.Lock, bool, error) {
	var outcome error
	released := false
	l, _, err := s.change(ctx, name, nil, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.ReleaseHold(l, key, holder, ref, env)
		outcome = err
		released = false
		for _, ev := range events {
			released = released || ev.Type == lock.Released
		}
		return events
	})
	if err != nil {
		return l, false, err
	}
	return l, released, withWaiters(outcome, l.Waiters)
}

// Lease is the lease a hold asking for ttl gets: ttl, or the server's
// default when 0, capped by its maximum (0: none).
func (s *Service) Lease(ttl time.Duration) time.Duration {
	return lock.ClampTTL(ttl, s.cfg.DefaultTTL, s.cfg.MaxTTL)
}

// Refresh extends holder's lease to ttl (clamped by the server's maximum)
// from now.
func (s *Service) Refresh(ctx context.Context, name, key, holder string, ttl time.Duration) (lock.Lock, error) {
	return s.RefreshHold(ctx, name, key, holder, ttl, lock.HoldRef{})
}

// RefreshHold is Refresh of the hold ref names only (lock.Refresh).
func (s *Service) RefreshHold(ctx context.Context, name, key, holder string, ttl time.Duration, ref lock.HoldRef) (lock.Lock, error) {
	if err := (lock.Request{Key: key, Holder: holder}).Validate(name); err != nil {
		return lock.Lock{}, err
	}
	ttl = s.Lease(ttl)
	return s.update(ctx, name, nil, func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
		return lock.Refresh(l, key, holder, ttl, ref, env)
	})
}

// ForceRelease releases every hold on the lock, recording by as the operator.
// It returns the lock after the change and the holds it released.
func (s *Service) ForceRelease(ctx context.Context, name, by string) (lock.Lock, []lock.Event, error) {
	return s.ForceReleaseFence(ctx, name, by, 0)
}

// ForceReleaseFence is ForceRelease of the holds taken under fence only (0:
// any): a lock taken again since is refused (ECONFLICT) and left alone.
func (s *Service) ForceReleaseFence(ctx context.Context, name, by string, fence uint64) (lock.Lock, []lock.Event, error) {
	if err := lock.ValidateName("lock name", name); err != nil {
		return lock.Lock{}, nil, err
	}
	var outcome error
	l, events, err := s.change(ctx, name, nil, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.ForceReleaseFence(l, by, fence, env)
		outcome = err
		return events
	})
	if err != nil {
		return l, events, err
	}
	return l, events, withWaiters(outcome, l.Waiters)
}

// Forget removes the named lock from the store with its history, when it
// is free (once leases that ran out are expired), nobody waits for it and
// it is in no pool (lock.Forget decides; its refusals come back as they
// are). Whoever takes the name next gets a higher fence than it ever had:
// tokens come from the store's counter, not from the lock.
func (s *Service) Forget(ctx context.Context, name string) (lock.Lock, error) {
	if err := lock.ValidateName("lock name", name); err != nil {
		return lock.Lock{}, err
	}
	return s.update(ctx, name, nil, lock.Forget)
}

// expire releases the lock's holds whose lease ran out; the lease watcher
// calls it when one is due. It returns the next expiry still pending.
func (s *Service) expire(ctx context.Context, name string) (time.Time, error) {
	l, _, err := s.store.Update(ctx, name, func(l *lock.Lock, env lock.Env) []lock.Event {
		return lock.Expire(l, env.Now)
	})
	return l.NextExpiry(), err
}

// Get returns the named lock, ENOTFOUND for a name never seen.
func (s *Service) Get(ctx context.Context, name string) (lock.Lock, error) {
	if err := lock.ValidateName("lock name", name); err != nil {
		return lock.Lock{}, err
	}
	l, ok, err := s.store.Get(ctx, name)
	if err != nil {
		return l, err
	}
	if !ok {
		return l, lock.Errorf(lock.ENOTFOUND, "no lock named %q", name)
	}
	l.Waiters = s.queues.count(ctx, name)
	return l, nil
}

// List returns every lock. The locks are shared with the store: read them,
// never change them.
func (s *Service) List(ctx context.Context) ([]*lock.Lock, error) { return s.store.List(ctx) }

// History returns the named lock's recent events, oldest first; ENOTFOUND for
// a name never seen.
func (s *Service) History(ctx context.Context, name string) ([]lock.Event, error) {
	if _, err := s.Get(ctx, name); err != nil {
		return nil, err
	}
	return s.store.History(ctx, name)
}

// Waiters returns how many requests wait for the named lock.
func (s *Service) Waiters(name string) int { return s.queues.count(context.Background(), name) }

// WaiterCounts returns how many requests wait for each lock that has any.
func (s *Service) WaiterCounts(ctx context.Context) map[string]int { return s.queues.counts(ctx) }

// Waiting returns how many requests wait for a lock or pool (as the sum of
// WaiterCounts) and when the one waiting longest took its place in line,
// zero when none waits. With a shared queue (PostgreSQL) both are every
// server's.
func (s *Service) Waiting(ctx context.Context) (n int, oldest time.Time) {
	return s.queues.waiting(ctx)
}

// Reporting returns an error while the store cannot hear of changes made
// by other servers (lock.Reporter): an event stream started then would
// miss them.
func (s *Service) Reporting() error {
	if r, ok := s.store.(lock.Reporter); ok {
		return r.Reporting()
	}
	return nil
}

// Ready reports whether the store can take writes.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ready(ctx) }
