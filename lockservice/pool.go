package lockservice

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// poolQueue names a pool's wait queue. Lock names cannot contain control
// characters, so it never collides with a lock's queue (and PostgreSQL
// text takes \x01, unlike \x00).
func poolQueue(pool string) string { return poolQueuePrefix + pool }

// isPoolQueue reports whether the named queue is a pool's.
func isPoolQueue(name string) bool { return strings.HasPrefix(name, poolQueuePrefix) }

const poolQueuePrefix = "\x01pool\x01"

// PoolWaiters returns how many requests wait for a member of pool.
func (s *Service) PoolWaiters(pool string) int { return s.Waiters(poolQueue(pool)) }

// Pool is one pool and its members.
type Pool struct {
	Name    string
	Members []lock.Lock // sorted by name
	Waiters int
}

// AddMember adds the named lock to pool (creating the lock, free, if it is
// new) and, when metadata is not nil, sets its metadata.
func (s *Service) AddMember(ctx context.Context, pool, name string, metadata json.RawMessage) (lock.Lock, error) {
	if err := validatePoolMember(pool, name); err != nil {
		return lock.Lock{}, err
	}
	if metadata != nil {
		if err := lock.ValidateMetadata(metadata); err != nil {
			return lock.Lock{}, err
		}
	}
	var outcome error
	l, _, err := s.change(ctx, name, nil, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.AddToPool(l, pool, metadata, env)
		outcome = err
		return events
	})
	if err != nil {
		return l, err
	}
	return l, outcome
}

// RemoveMember takes the named lock out of pool: only while it is free,
// unless force (which releases it, recorded as by). It returns the lock
// after the change and the events recorded (forced releases among them).
func (s *Service) RemoveMember(ctx context.Context, pool, name string, force bool, by string) (lock.Lock, []lock.Event, error) {
	return s.RemoveMemberFence(ctx, pool, name, force, by, 0)
}

// RemoveMemberFence is RemoveMember whose force ends only the holds taken
// under fence (0: any); a member taken again since is refused (ECONFLICT).
func (s *Service) RemoveMemberFence(ctx context.Context, pool, name string, force bool, by string, fence uint64) (lock.Lock, []lock.Event, error) {
	return s.RemoveMemberHeldBy(ctx, pool, name, force, by, fence, "", "")
}

// RemoveMemberHeldBy is RemoveMemberFence whose force also ends only
// holder's holds (under key, when not ""): a member held by others too is
// refused (ECONFLICT) and left as it is (lock.RemoveFromPoolHeldBy).
func (s *Service) RemoveMemberHeldBy(ctx context.Context, pool, name string, force bool, by string, fence uint64, key, holder string) (lock.Lock, []lock.Event, error) {
	if err := validatePoolMember(pool, name); err != nil {
		return lock.Lock{}, nil, err
	}
	if err := lock.ValidateHeldBy(key, holder); err != nil {
		return lock.Lock{}, nil, err
	}
	var outcome error
	l, events, err := s.change(ctx, name, nil, func(l *lock.Lock, env lock.Env) []lock.Event {
		events, err := lock.RemoveFromPoolHeldBy(l, pool, force, by, fence, key, holder, env)
		outcome = err
		return events
	})
	if err != nil {
		return l, nil, err
	}
	return l, events, withWaiters(outcome, l.Waiters)
}

func validatePoolMember(pool, name string) error {
	if err := lock.ValidateName("pool name", pool); err != nil {
		return err
	}
	return lock.ValidateName("lock name", name)
}

// Pools returns every pool that has members, sorted by name.
func (s *Service) Pools(ctx context.Context) ([]Pool, error) {
	locks, err := s.store.List(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Pool{}
	for _, l := range locks {
		for _, p := range l.Pools {
			if byName[p] == nil {
				byName[p] = &Pool{Name: p}
			}
			byName[p].Members = append(byName[p].Members, *l)
		}
	}
	waiters := s.queues.counts(ctx)
	out := make([]Pool, 0, len(byName))
	for _, p := range byName {
		sort.Slice(p.Members, func(i, j int) bool { return p.Members[i].Name < p.Members[j].Name })
		p.Waiters = waiters[poolQueue(p.Name)]
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Pool returns one pool; ENOTFOUND when it has no members.
func (s *Service) Pool(ctx context.Context, pool string) (Pool, error) {
	members, err := s.poolMembers(ctx, pool)
	if err != nil {
		return Pool{}, err
	}
	return Pool{Name: pool, Members: members, Waiters: s.queues.count(ctx, poolQueue(pool))}, nil
}

// poolMembers returns pool's members, sorted by name; ENOTFOUND when it
// has none. The store finds them without reading every lock.
func (s *Service) poolMembers(ctx context.Context, pool string) ([]lock.Lock, error) {
	if err := lock.ValidateName("pool name", pool); err != nil {
		return nil, err
	}
	locks, err := s.store.ListPool(ctx, pool)
	if err != nil {
		return nil, err
	}
	if len(locks) == 0 {
		return nil, lock.Errorf(lock.ENOTFOUND, "pool %q has no members", pool)
	}
	members := make([]lock.Lock, len(locks))
	for i, l := range locks {
		members[i] = *l
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	return members, nil
}

// AcquireFromPool takes a hold on one free member of pool — the one free
// longest, so use spreads evenly — and returns it. With wait > 0 it waits in
// line (first come, first served with every waiter for its members: of
// this pool, of another pool a member is in, or for a member by name)
// until a member frees up. Each attempt takes one member in one atomic change that checks
// it is still a free member, so two requests never get the same member and
// a member being removed is never handed out.
func (s *Service) AcquireFromPool(ctx context.Context, pool string, r lock.Request, wait time.Duration) (lock.Lock, error) {
	r.TTL = lock.ClampTTL(r.TTL, s.cfg.DefaultTTL, s.cfg.MaxTTL)
	r.MaxTTL = s.cfg.MaxTTL
	if err := lock.ValidateName("pool name", pool); err != nil {
		return lock.Lock{}, err
	}
	if err := r.Validate(pool); err != nil {
		return lock.Lock{}, err
	}
	return s.waitFor(ctx, poolQueue(pool), r, wait, func(w *waiter) (lock.Lock, lock.Hold, error) {
		l, err := s.tryPool(ctx, pool, r, w)
		return l, lock.Hold{}, err // a member is taken only when free: no hold before
	})
}

func (s *Service) tryPool(ctx context.Context, pool string, r lock.Request, w *waiter) (lock.Lock, error) {
	// Fair among the pool's waiters: anyone ahead in the pool's queue goes
	// first.
	ahead, err := s.queues.ahead(ctx, poolQueue(pool), w)
	if err != nil {
		return lock.Lock{}, err
	}
	members, err := s.poolMembers(ctx, pool)
	if err != nil {
		return lock.Lock{}, err
	}
	if len(ahead) > 0 {
		return lock.Lock{}, lock.Errorf(lock.ECONFLICT, "pool %q: %d earlier waiter(s) come first", pool, len(ahead))
	}
	free := lock.FreeLongest(members, s.cfg.Now())
	if c, ok := s.store.(lock.Clock); ok && len(free) == 0 && len(members) > 0 {
		// None free by this server's clock: by the store's, which
		// decides leases, some may be (this replica's clock behind the
		// database's).
		if now, err := c.Now(ctx); err == nil {
			free = lock.FreeLongest(members, now)
		}
	}
	var wanted error // the last free member refused for an earlier waiter
	for _, m := range free {
		l, first, err := s.claimMember(ctx, pool, m.Name, r, w)
		if err == nil {
			return l, nil
		}
		if lock.ErrorCode(err) != lock.ECONFLICT {
			return lock.Lock{}, err
		}
		if first {
			wanted = err
		}
		// Taken, removed, or wanted by an earlier waiter: try the next.
	}
	if wanted != nil {
		return lock.Lock{}, lock.Errorf(lock.ECONFLICT, "pool %q has no member free for this request (%d members; %s)", pool, len(members), lock.ErrorMessage(wanted))
	}
	return lock.Lock{}, lock.Errorf(lock.ECONFLICT, "pool %q has no free member (%d members, all held)", pool, len(members))
}

// claimMember takes the named member for w (nil: a request that does not
// wait, behind every waiter) if, at the moment of the change, it is still
// in the pool and free, and nobody who came before w waits for it: by name,
// or through another pool it is in. (Those of this pool are behind w:
// tryPool checked.)
func (s *Service) claimMember(ctx context.Context, pool, name string, r lock.Request, w *waiter) (l lock.Lock, wantedFirst bool, err error) {
	l, err = s.update(ctx, name, w, func(l *lock.Lock, env lock.Env) ([]lock.Event, error) {
		wantedFirst = false
		events := lock.Expire(l, env.Now)
		if !l.InPool(pool) || !l.Free() {
			return events, lock.Errorf(lock.ECONFLICT, "%q is no longer free in pool %q", name, pool)
		}
		s.queues.deferTo(w, append(poolQueues(l.Pools, pool), name)...)
		if ahead := before(env.Queue, w); len(ahead) > 0 {
			wantedFirst = true
			return events, lock.Errorf(lock.ECONFLICT, "%q is free but %d earlier waiter(s) for it by name come first", name, len(ahead))
		}
		n, err := s.queues.poolsAhead(ctx, l.Pools, pool, w)
		if err != nil {
			return events, err
		}
		if n > 0 {
			wantedFirst = true
			return events, lock.Errorf(lock.ECONFLICT, "%q is free but %d earlier waiter(s) of its other pool(s) come first", name, n)
		}
		s.queues.undefer(w)
		more, err := lock.Acquire(l, r, env)
		return append(events, more...), err
	})
	return l, wantedFirst, err
}
