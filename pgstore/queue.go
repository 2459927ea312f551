package pgstore

import (
	"context"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// staleAfter is how many missed heartbeats make a waiter's row dead.
const staleAfter = 5

// Join implements lock.WaitQueue.
func (s *Store) Join(ctx context.Context, name string, w lock.Waiter) (lock.Ticket, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO locker_waiters (name, key, holder, replica) VALUES ($1, $2, $3, $4) RETURNING id`,
		name, w.Key, w.Holder, s.opts.Replica).Scan(&id)
	if err != nil {
		return 0, dbError(ctx, err)
	}
	s.mu.Lock()
	s.live[lock.Ticket(id)] = struct{}{}
	s.mu.Unlock()
	return lock.Ticket(id), nil
}

// Leave implements lock.WaitQueue.
func (s *Store) Leave(ctx context.Context, name string, t lock.Ticket) error {
	// No longer kept alive, even if the delete fails.
	s.mu.Lock()
	delete(s.live, t)
	s.mu.Unlock()
	_, err := s.pool.Exec(ctx, `DELETE FROM locker_waiters WHERE id = $1`, int64(t))
	if err != nil {
		// The heartbeat deletes it when the database answers again.
		s.mu.Lock()
		s.left = append(s.left, int64(t))
		s.mu.Unlock()
		return dbError(ctx, err)
	}
	// Those behind it may be first now, on any replica.
	s.announce(notification(message{Name: name}))
	return nil
}

// Ahead implements lock.WaitQueue.
func (s *Store) Ahead(ctx context.Context, name string, t lock.Ticket) ([]lock.Waiter, error) {
	limit := int64(t)
	if t == 0 {
		limit = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT key, holder FROM locker_waiters
		WHERE name = $1 AND id < $2 AND heartbeat > clock_timestamp() - $3::interval ORDER BY id`,
		name, limit, s.staleAfter())
	if err != nil {
		return nil, dbError(ctx, err)
	}
	defer rows.Close()
	var out []lock.Waiter
	for rows.Next() {
		var w lock.Waiter
		if err := rows.Scan(&w.Key, &w.Holder); err != nil {
			return nil, dbError(ctx, err)
		}
		out = append(out, w)
	}
	return out, dbError2(ctx, rows.Err())
}

// Counts implements lock.WaitQueue.
func (s *Store) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, count(*) FROM locker_waiters
		WHERE heartbeat > clock_timestamp() - $1::interval GROUP BY name`, s.staleAfter())
	if err != nil {
		return nil, dbError(ctx, err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, dbError(ctx, err)
		}
		m[name] = n
	}
	return m, dbError2(ctx, rows.Err())
}

func (s *Store) staleAfter() string {
	return (staleAfter * s.opts.Heartbeat).String()
}

func dbError2(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	return dbError(ctx, err)
}

// heartbeat keeps this replica's waiters alive and clears rows left by
// replicas that died.
func (s *Store) heartbeat(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		s.mu.Lock()
		live := make([]int64, 0, len(s.live))
		for t := range s.live {
			live = append(live, int64(t))
		}
		left := s.left
		s.left = nil
		s.mu.Unlock()
		s.pool.Exec(ctx, `UPDATE locker_waiters SET heartbeat = clock_timestamp() WHERE replica = $1 AND id = ANY($2)`, s.opts.Replica, live)
		if len(left) > 0 {
			if _, err := s.pool.Exec(ctx, `DELETE FROM locker_waiters WHERE id = ANY($1)`, left); err != nil {
				s.mu.Lock()
				s.left = append(s.left, left...)
				s.mu.Unlock()
			}
		}
		s.pool.Exec(ctx, `DELETE FROM locker_waiters WHERE heartbeat < clock_timestamp() - $1::interval`, (4 * staleAfter * s.opts.Heartbeat).String())
	}
}
