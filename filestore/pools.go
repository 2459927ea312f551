package filestore

import (
	"context"
	"slices"

	"github.com/cloudfoundry-community/locker/lock"
)

// poolIndex finds a pool's members without reading every lock: pool name
// → member name → the member's entry. It holds committed memberships only
// (the commit loop keeps it, under s.mu).
type poolIndex map[string]map[string]*entry

// reindex moves the lock named name from the pools it was a member of
// (before) to those it is a member of now (after).
func (x poolIndex) reindex(name string, e *entry, before, after []string) {
	if slices.Equal(before, after) {
		return // nearly every change: its memberships stay as they were
	}
	// Linear in the pools, however many one lock is in (a lock may be in
	// thousands; this runs under the store's lock).
	stays := make(map[string]bool, len(after))
	for _, p := range after {
		stays[p] = true
	}
	for _, p := range before {
		if !stays[p] {
			delete(x[p], name)
			if len(x[p]) == 0 {
				delete(x, p)
			}
		}
	}
	was := make(map[string]bool, len(before))
	for _, p := range before {
		was[p] = true
	}
	for _, p := range after {
		if was[p] {
			continue
		}
		if x[p] == nil {
			x[p] = map[string]*entry{}
		}
		x[p][name] = e
	}
}

// indexPools builds the index of every lock's memberships.
func indexPools(locks map[string]*entry) poolIndex {
	x := poolIndex{}
	for name, e := range locks {
		if e.lock != nil {
			x.reindex(name, e, nil, e.lock.Pools)
		}
	}
	return x
}

// ListPool implements lock.Store: the pool's members from the index, as
// List gives them (committed values, replaced on change, never changed).
func (s *Store) ListPool(ctx context.Context, pool string) ([]*lock.Lock, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	members := s.pools[pool]
	out := make([]*lock.Lock, 0, len(members))
	for _, e := range members {
		out = append(out, e.lock)
	}
	return out, nil
}
