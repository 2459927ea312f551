package lockservice

import (
	"context"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// forgetInterval is how often the sweep of Config.ForgetFreeAfter runs: a
// tenth of the setting, so that a lock is forgotten at most a tenth late
// (between after and 1.1 × after from when it became free), but at most
// hourly — a setting of days still sweeps every hour, and one sweep costs a
// read of every lock (PostgreSQL: one SELECT of the table), nothing more
// unless something is due — and at least every second, so that a short
// setting does not keep the store busy with reads.
func forgetInterval(after time.Duration) time.Duration {
	return min(max(after/10, time.Second), time.Hour)
}

// forgettable reports whether the sweep forgets l at now (the store's
// time): free, in no pool, and free for longer than after. A zero
// FreeSince is unknown, not long ago — the file store keeps it on disk
// only for pool members, and a PostgreSQL row last written by a Locker
// before pools (or by locker migrate from a file) has none — and counts
// from started, the store's time when this server started: such a lock
// was free before then, so it is forgotten later than it could be, never
// sooner. Whether it may be forgotten at all (nobody waits for it, the
// store holds it) is lock.Forget's to decide.
func forgettable(l *lock.Lock, now, started time.Time, after time.Duration) bool {
	if !l.Free() || len(l.Pools) > 0 {
		return false
	}
	since := l.FreeSince
	if since.IsZero() {
		since = started
	}
	return now.Sub(since) > after
}

// storeNow is the store's time: its own clock's when it has one that is
// not this server's (PostgreSQL's, which writes FreeSince), else this
// server's lease clock (Config.Now), which is the file store's.
func (s *Service) storeNow(ctx context.Context) time.Time {
	if c, ok := s.store.(lock.Clock); ok {
		if now, err := c.Now(ctx); err == nil {
			return now
		}
	}
	return s.cfg.Now()
}

// forgetFreeLoop sweeps every forgetInterval until ctx ends or the service
// closes (Close waits for it, so that the store is never closed under a
// sweep).
func (s *Service) forgetFreeLoop(ctx context.Context) {
	defer s.sweeper.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel() // a sweep in progress stops
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(forgetInterval(s.cfg.ForgetFreeAfter))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.forgetFree(ctx)
	}
}

// forgetFree forgets, through the store's ordinary update with lock.Forget
// as the change (so that history goes, and events reach the stream, the
// metrics and the dashboard, as a forget asked for over HTTP does), every
// lock free for longer than Config.ForgetFreeAfter that nobody waits for
// and that is in no pool. The store's list only picks the candidates; each
// is looked at again, at the store's time, in its update. A refusal (held
// or waited for since, a pool member, gone already: another replica's
// sweep got there first) skips the lock. It returns how many it forgot,
// and logs that count once at INFO when it is not zero.
func (s *Service) forgetFree(ctx context.Context) int {
	after, started := s.cfg.ForgetFreeAfter, s.forgetStarted
	locks, err := s.store.List(ctx)
	if err != nil {
		s.forgetFailed(ctx, err)
		return 0
	}
	now := s.storeNow(ctx)
	var due []string
	for _, l := range locks {
		if forgettable(l, now, started, after) {
			due = append(due, l.Name)
		}
	}
	forgot := 0
	for _, name := range due {
		if ctx.Err() != nil {
			break
		}
		var ok bool
		_, err := s.update(ctx, name, nil, func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
			ok = false // a store may run a change more than once
			if !forgettable(l, env.Now, started, after) {
				return nil, nil // taken, or released again, since the list
			}
			events, err := lock.Forget(l, env)
			ok = err == nil
			return events, err
		})
		switch lock.ErrorCode(err) {
		case "":
			if ok {
				forgot++
			}
		case lock.ECONFLICT, lock.EINUSE, lock.ENOTFOUND:
			// Held or waited for now, joined a pool, or forgotten
			// already (by another replica): not to forget.
		default:
			s.forgetFailed(ctx, err)
		}
	}
	if forgot > 0 {
		s.log.Info("forgot locks free for longer than the server's setting", "count", forgot, "forget_free_after", after.String())
	}
	return forgot
}

// forgetFailed logs a sweep's store error, at most once a minute: the store
// failing for a while would otherwise log at every sweep.
func (s *Service) forgetFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // stopping
	}
	if ok, held := s.forgetLog.Allow(time.Now()); ok {
		s.log.Warn("forgetting free locks failed; trying again at the next sweep", "error", err, "held_back", held)
	}
}
