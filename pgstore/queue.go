package pgstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// staleAfter is how many missed heartbeats make a waiter's row dead.
const staleAfter = 5

// Join implements lock.WaitQueue: a place kept for the same key and holder
// (on any replica) is taken back, else a new row goes at the end.
func (s *Store) Join(ctx context.Context, name string, w lock.Waiter) (lock.Ticket, error) {
	// Not cut short by the request: a client that leaves as its row is
	// committed would otherwise leave the row behind, unknown to anyone,
	// ahead of every later waiter until it went stale (a review saw a
	// lock refused to all for 10 s after waiters hung up at once).
	qctx, cancel := s.bounded(context.WithoutCancel(ctx))
	defer cancel()
	// Until the ticket is live (see the field). Nothing is written yet:
	// a request that ends, or whose bound runs out, while the heartbeat
	// retries failed Leaves (which it does when the database has just
	// failed, each statement bounded by QueryTimeout) gives up waiting.
	if err := s.retryingLeaves.rlock(ctx, qctx); err != nil {
		return 0, dbError(ctx, err)
	}
	defer s.retryingLeaves.runlock()
	who := joiner{name, w.Key, w.Holder}
	s.mu.Lock()
	s.joining[who]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.joining[who]--; s.joining[who] == 0 {
			delete(s.joining, who)
		}
		s.mu.Unlock()
	}()
	var id int64
	err := s.pool.QueryRow(qctx, `WITH kept AS (
			UPDATE locker_waiters SET kept_until = NULL, heartbeat = clock_timestamp(), replica = $4
			WHERE id = (SELECT id FROM locker_waiters
				WHERE name = $1 AND key = $2 AND holder = $3 AND kept_until > clock_timestamp()
				ORDER BY id LIMIT 1)
			AND kept_until > clock_timestamp()
			RETURNING id
		), fresh AS (
			INSERT INTO locker_waiters (name, key, holder, replica)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM kept)
			RETURNING id
		)
		SELECT id FROM kept UNION ALL SELECT id FROM fresh`,
		name, w.Key, w.Holder, s.opts.Replica).Scan(&id)
	if err != nil && sessionEnded(err) {
		// The database ended the session (terminated, shut down): most
		// often while idle in the pool, before the statement was sent.
		// Its row, if it was written, is there for good now (see
		// sessionEnded): join again on a new connection, taking that
		// row back if there is one, so that it does not stand in line,
		// unrenewed, ahead of later waiters.
		s.pool.Reset()
		id, err = s.joinAgain(qctx, name, w, who)
	}
	if err != nil {
		return 0, dbError(ctx, err)
	}
	if ctx.Err() != nil {
		// Gone meanwhile: its place goes with it.
		s.Leave(context.WithoutCancel(ctx), name, lock.Ticket(id), 0)
		return 0, ctx.Err()
	}
	s.mu.Lock()
	s.live[lock.Ticket(id)] = struct{}{}
	s.mu.Unlock()
	return lock.Ticket(id), nil
}

// leaveGate is a lock of the kind of sync.RWMutex for retryingLeaves
// (see there) whose readers, Joins, give up waiting when their context
// ends: the writer, the heartbeat's retry of failed Leaves, holds it for
// up to two statements, each bounded by QueryTimeout, and waits for the
// Joins under way, each bounded likewise. One writer at a time. As with
// sync.RWMutex, a writer waiting keeps new readers out, so that a stream
// of Joins cannot put the retry off for ever. The zero value is unlocked.
type leaveGate struct {
	mu      sync.Mutex
	readers int
	// writer is closed when the writer unlocks; nil while there is none.
	writer chan struct{}
	// drained is closed, for the writer waiting, when the last reader
	// leaves.
	drained chan struct{}
}

// rlock takes the gate for reading, unless a or b ends first: then it
// returns the error of the one that ended.
func (g *leaveGate) rlock(a, b context.Context) error {
	for {
		g.mu.Lock()
		w := g.writer
		if w == nil {
			g.readers++
			g.mu.Unlock()
			return nil
		}
		g.mu.Unlock()
		select {
		case <-w:
		case <-a.Done():
			return a.Err()
		case <-b.Done():
			return b.Err()
		}
	}
}

func (g *leaveGate) runlock() {
	g.mu.Lock()
	if g.readers--; g.readers == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
	g.mu.Unlock()
}

// lock takes the gate for writing, once the readers in it have left.
func (g *leaveGate) lock() {
	g.mu.Lock()
	g.writer = make(chan struct{})
	var drained chan struct{}
	if g.readers > 0 {
		drained = make(chan struct{})
		g.drained = drained
	}
	g.mu.Unlock()
	if drained != nil {
		<-drained
	}
}

func (g *leaveGate) unlock() {
	g.mu.Lock()
	close(g.writer)
	g.writer = nil
	g.mu.Unlock()
}

// joiner is a key and holder joining a lock's queue.
type joiner struct{ name, key, holder string }

// joinAgain is Join after its statement's session was ended: the row that
// statement may have made, or taken back, is this replica's, of the same
// lock, key and holder, waiting (not kept), and neither a live waiter's
// nor one left: it is taken, else a kept place, else a new row. Only while
// no other Join of the same key and holder is under way on this replica,
// whose row it could be.
func (s *Store) joinAgain(qctx context.Context, name string, w lock.Waiter, who joiner) (int64, error) {
	s.mu.Lock()
	alone := s.joining[who] == 1
	taken := make([]int64, 0, len(s.live)+len(s.left))
	for t := range s.live {
		taken = append(taken, int64(t))
	}
	taken = append(taken, s.left...)
	s.mu.Unlock()
	var id int64
	err := s.pool.QueryRow(qctx, `WITH mine AS (
			UPDATE locker_waiters SET heartbeat = clock_timestamp()
			WHERE id = (SELECT id FROM locker_waiters
				WHERE $5 AND name = $1 AND key = $2 AND holder = $3 AND replica = $4
				AND kept_until IS NULL AND heartbeat > clock_timestamp() - $6::interval
				AND NOT (id = ANY($7))
				ORDER BY id LIMIT 1)
			RETURNING id
		), kept AS (
			UPDATE locker_waiters SET kept_until = NULL, heartbeat = clock_timestamp(), replica = $4
			WHERE NOT EXISTS (SELECT 1 FROM mine) AND id = (SELECT id FROM locker_waiters
				WHERE name = $1 AND key = $2 AND holder = $3 AND kept_until > clock_timestamp()
				ORDER BY id LIMIT 1)
			AND kept_until > clock_timestamp()
			RETURNING id
		), fresh AS (
			INSERT INTO locker_waiters (name, key, holder, replica)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM mine) AND NOT EXISTS (SELECT 1 FROM kept)
			RETURNING id
		)
		SELECT id FROM mine UNION ALL SELECT id FROM kept UNION ALL SELECT id FROM fresh`,
		name, w.Key, w.Holder, s.opts.Replica, alone, s.staleAfter(), taken).Scan(&id)
	return id, err
}

// Leave implements lock.WaitQueue.
func (s *Store) Leave(ctx context.Context, name string, t lock.Ticket, keep time.Duration) error {
	qctx, cancel := s.bounded(ctx)
	defer cancel()
	// No longer kept alive, even if the delete fails.
	s.mu.Lock()
	delete(s.live, t)
	s.mu.Unlock()
	leave := func() error {
		var err error
		if keep > 0 {
			_, err = s.pool.Exec(qctx, `UPDATE locker_waiters SET kept_until = clock_timestamp() + $2::interval WHERE id = $1`, int64(t), keep.String())
		} else {
			_, err = s.pool.Exec(qctx, `DELETE FROM locker_waiters WHERE id = $1`, int64(t))
		}
		return err
	}
	err := leave()
	if err != nil && sessionEnded(err) && qctx.Err() == nil {
		// A session the database ended (terminated, shut down): again
		// on a new connection. Both statements can be made twice.
		s.pool.Reset()
		err = leave()
	}
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

// Ahead implements lock.WaitQueue: live waiters, but for those of replicas
// whose session is gone (watchReplicas).
func (s *Store) Ahead(ctx context.Context, name string, t lock.Ticket) ([]lock.Waiter, error) {
	limit := int64(t)
	if t == 0 {
		limit = 1<<63 - 1
	}
	out, err := reread(s, ctx, func(qctx context.Context) ([]lock.Waiter, error) {
		rows, err := s.pool.Query(qctx, `SELECT key, holder FROM locker_waiters
		WHERE name = $1 AND id < $2 AND heartbeat > clock_timestamp() - $3::interval AND kept_until IS NULL
		AND NOT (replica = ANY($4)) ORDER BY id`,
			name, limit, s.staleAfter(), s.goneReplicas())
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []lock.Waiter
		for rows.Next() {
			var w lock.Waiter
			if err := rows.Scan(&w.Key, &w.Holder); err != nil {
				return nil, err
			}
			out = append(out, w)
		}
		return out, rows.Err()
	})
	if err != nil {
		return nil, readError(ctx, err)
	}
	return out, nil
}

// Counts implements lock.WaitQueue.
func (s *Store) Counts(ctx context.Context) (map[string]int, error) {
	m, err := reread(s, ctx, func(qctx context.Context) (map[string]int, error) {
		rows, err := s.pool.Query(qctx, `SELECT name, count(*) FROM locker_waiters
		WHERE heartbeat > clock_timestamp() - $1::interval AND kept_until IS NULL
		AND NOT (replica = ANY($2)) GROUP BY name`, s.staleAfter(), s.goneReplicas())
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var name string
			var n int
			if err := rows.Scan(&name, &n); err != nil {
				return nil, err
			}
			m[name] = n
		}
		return m, rows.Err()
	})
	if err != nil {
		return nil, readError(ctx, err)
	}
	return m, nil
}

// Waiting implements lock.WaitAges: the live waiters of every replica, in
// one query, and how long the first of them to join has waited by the
// database's clock (the one that set joined, so replicas' clocks do not
// enter into it).
func (s *Store) Waiting(ctx context.Context) (int, time.Duration, error) {
	type result struct {
		n       int
		longest time.Duration
	}
	r, err := reread(s, ctx, func(qctx context.Context) (result, error) {
		var r result
		var us int64
		err := s.pool.QueryRow(qctx, `SELECT count(*),
			COALESCE(EXTRACT(epoch FROM clock_timestamp() - min(joined)) * 1000000, 0)::bigint
			FROM locker_waiters WHERE heartbeat > clock_timestamp() - $1::interval AND kept_until IS NULL
			AND NOT (replica = ANY($2))`,
			s.staleAfter(), s.goneReplicas()).Scan(&r.n, &us)
		r.longest = max(time.Duration(us)*time.Microsecond, 0)
		return r, err
	})
	if err != nil {
		return 0, 0, readError(ctx, err)
	}
	return r.n, r.longest, nil
}

// replicaKey and replicaLock are each replica's presence of its own, for
// the wait queue: a replica holds, on its LISTEN connection (as it holds
// the schema's presenceLock), a shared advisory lock keyed by its schema
// and its name, taken again whenever that connection is made again. Its
// waiters' rows stay first in line for as long as their heartbeat is fresh
// (staleAfter, 10s by default), though a replica that died (killed, its
// machine gone) left them there at once; but a session that ends, its
// client gone, gives its advisory locks up at once, and the other replicas
// look for the lock in pg_locks (watchReplicas) and pass over the waiters
// of a replica that no longer holds it. Only of one that was found holding
// it before (seen): older replicas take no such lock, and their waiters go
// stale by their heartbeat only. The two-int form with a key of its own
// ("wait" in ASCII), apart from presenceKey's and newLockKey's; two names
// whose hashes collide only keep a gone replica's waiters in line until
// their heartbeat goes stale, as before. Shared, and only looked for,
// never taken by another replica: no replica waits for it.
const (
	replicaKey  = 0x77616974
	replicaLock = `SELECT pg_try_advisory_lock_shared($1, hashtext(coalesce(current_schema(), '') || ' ' || $2))`
)

// readReplicas lists the other replicas ($1 is this one) that have live
// waiters, with the names of the locks they wait for, whether their
// replicaLock is held (by any session of this database), when they last
// renewed one of those waiters (their heartbeat, or a Join) and the
// database's time now. pg_locks is read once, and not at all when there
// are none (a CTE is read only when used).
const readReplicas = `WITH w AS (
		SELECT replica, array_agg(DISTINCT name) AS names, max(heartbeat) AS beat FROM locker_waiters
		WHERE replica <> $1 AND kept_until IS NULL AND heartbeat > clock_timestamp() - $3::interval
		GROUP BY replica
	), held AS MATERIALIZED (
		SELECT l.objid FROM pg_catalog.pg_locks l
		WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
		AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
		AND l.classid = $2::int4::oid
	)
	SELECT w.replica, w.names,
		hashtext(coalesce(current_schema(), '') || ' ' || w.replica)::oid IN (SELECT objid FROM held),
		w.beat, clock_timestamp()
	FROM w`

// watchLogEvery is how often, at most, a replica whose look for gone
// replicas (watchReplicas) fails logs that it still fails (a variable for
// tests): the first failure is logged at once, and every look (each
// PresenceCheck, 1s by default) would fill the log for as long as the
// database does not answer it.
var watchLogEvery = time.Minute

// watchReplicas finds, every PresenceCheck, the other replicas with live
// waiters whose session holding their replicaLock is gone (see there), so
// that the queue passes their waiters over, and wakes the waiters of the
// locks they waited for. pg_locks is read only while other replicas have
// waiters; a change reads only the list of gone replicas, kept here.
//
// A replica whose LISTEN connection is lost while its process lives (the
// database ended that session, the network to it failed) takes its lock
// again when it connects again, which may take long (its connections
// refused meanwhile: the database out of connections, a firewall). It
// still serves its waiters, by their poll, and renews their rows: its
// waiters are passed over only until a renewal later than the moment it
// was found without its lock (lost), at most about one of its heartbeats,
// and then keep their places, counted, as any live waiter's, until it
// holds its lock again or stops renewing them (they go stale). Passed over
// for as long as it did not listen, they were starved by every waiter of
// a healthy replica behind them (TestReplicasNotListeningReplicaWaiterIs-
// NotStarved): those take a freed lock at once, notified, where theirs
// find it only at their poll. Kept in line, a lock freed for one of them
// stays free until its poll, at most the poll interval: it is never handed
// to it (a waiter takes a lock itself), so never held by one that cannot
// learn of it. A replica that died renews nothing: it stays passed over.
// Only the order of waiters is at stake: every grant is still decided by
// the lock rules on the lock's row, written over the version read.
func (s *Store) watchReplicas(ctx context.Context) {
	defer s.wg.Done()
	if s.opts.Tool {
		return
	}
	t := time.NewTicker(s.opts.PresenceCheck)
	defer t.Stop()
	// A failing look is logged when the first fails, then at most once
	// every watchLogEvery with the failures since (unlogged), and once
	// more when a look works again, with how long they failed: while
	// they fail, a replica that dies is not seen to (its waiters hold
	// their locks' queues until their heartbeat goes stale), and the
	// operator should know.
	var (
		failures, unlogged  int
		downSince, loggedAt time.Time
	)
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		type found struct {
			names     []string
			held      bool
			beat, now time.Time
		}
		all := map[string]found{}
		qctx, cancel := s.bounded(ctx)
		rows, err := s.pool.Query(qctx, readReplicas, s.opts.Replica, int32(replicaKey), s.staleAfter())
		if err == nil {
			for rows.Next() {
				var r string
				var f found
				if err = rows.Scan(&r, &f.names, &f.held, &f.beat, &f.now); err != nil {
					break
				}
				all[r] = f
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return // closing
			}
			// The replicas passed over stay as they were, until the
			// database answers.
			now := time.Now()
			if failures == 0 {
				downSince = now
			}
			failures++
			unlogged++
			switch {
			case failures == 1:
				s.opts.Logger.Warn("looking for gone replicas failed; retrying", "err", err, "every", s.opts.PresenceCheck)
				unlogged, loggedAt = 0, now
			case now.Sub(loggedAt) >= watchLogEvery:
				s.opts.Logger.Warn("looking for gone replicas still fails; retrying", "err", err,
					"failures_since_last_message", unlogged, "down_for", now.Sub(downSince).Round(time.Millisecond))
				unlogged, loggedAt = 0, now
			}
			continue
		}
		if failures > 0 {
			s.opts.Logger.Info("looking for gone replicas works again", "down_for", time.Since(downSince).Round(time.Millisecond), "failed_looks", failures)
			failures, unlogged = 0, 0
		}
		gone := []string{}
		var wake, renewing []string
		s.mu.Lock()
		was := s.gone
		for r := range s.seen {
			if _, ok := all[r]; !ok {
				delete(s.seen, r) // no live waiters now
				delete(s.lost, r)
			}
		}
		for r, f := range all {
			switch {
			case f.held:
				s.seen[r] = true
				delete(s.lost, r)
			case s.seen[r]:
				lost, ok := s.lost[r]
				if !ok {
					lost = f.now
					s.lost[r] = lost
				}
				if f.beat.After(lost) {
					// It lives, without its lock (its LISTEN
					// connection down): see above.
					if slices.Contains(was, r) {
						renewing = append(renewing, r)
					}
					continue
				}
				gone = append(gone, r)
				if !slices.Contains(was, r) {
					wake = append(wake, f.names...)
				}
			}
		}
		s.gone = gone
		s.mu.Unlock()
		for _, r := range was {
			switch _, waits := all[r]; {
			case slices.Contains(gone, r):
			case slices.Contains(renewing, r):
				s.opts.Logger.Info("replica without its presence still renews its waiters: they keep their places", "replica", r)
			case waits: // seen still, and so found holding it
				s.opts.Logger.Info("replica holds its presence again: its waiters keep their places", "replica", r)
			default:
				// Its waiters left, or went stale (a replica that
				// died): it did not come back.
				s.opts.Logger.Info("replica that was gone has no waiters in the queue any more", "replica", r)
			}
		}
		for _, r := range gone {
			if !slices.Contains(was, r) {
				s.opts.Logger.Warn("replica's database session is gone: its waiters are passed over", "replica", r)
			}
		}
		for _, name := range wake {
			s.announce(notification(message{Name: name}))
		}
	}
}

// goneReplicas returns the replicas whose waiters are passed over
// (watchReplicas); never nil.
func (s *Store) goneReplicas() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

func (s *Store) staleAfter() string {
	return (staleAfter * s.opts.Heartbeat).String()
}

// beforeLeaveRetry, set by tests only, runs as the heartbeat is about to
// retry failed Leaves, after its snapshot of the live waiters.
var beforeLeaveRetry func()

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
		retry := len(s.left) > 0
		s.mu.Unlock()
		if retry {
			// No Join on this replica between the snapshot of live and
			// the delete below (see retryingLeaves).
			s.retryingLeaves.lock()
		}
		s.mu.Lock()
		live := make([]int64, 0, len(s.live))
		for t := range s.live {
			live = append(live, int64(t))
		}
		var left []int64
		if retry { // failed since the look above: the next beat retries them
			left, s.left = s.left, nil
		}
		s.mu.Unlock()
		qctx, cancel := s.bounded(ctx)
		s.pool.Exec(qctx, `UPDATE locker_waiters SET heartbeat = clock_timestamp() WHERE replica = $1 AND id = ANY($2)`, s.opts.Replica, live)
		if len(left) > 0 && beforeLeaveRetry != nil {
			beforeLeaveRetry()
		}
		if len(left) > 0 {
			// Only rows that are still this replica's waiting ones: a
			// Leave that kept its place may have been made after all
			// (its answer lost), and the place taken back since by the
			// same key and holder asking again, on another replica or
			// on this one (a live waiter again); a place kept stays
			// until its time runs out.
			if _, err := s.pool.Exec(qctx, `DELETE FROM locker_waiters WHERE id = ANY($1)
				AND replica = $2 AND kept_until IS NULL AND NOT (id = ANY($3))`, left, s.opts.Replica, live); err != nil {
				s.mu.Lock()
				s.left = append(s.left, left...)
				s.mu.Unlock()
			}
		}
		if retry {
			s.retryingLeaves.unlock()
		}
		s.pool.Exec(qctx, `DELETE FROM locker_waiters WHERE heartbeat < clock_timestamp() - $1::interval OR kept_until < clock_timestamp()`, (4 * staleAfter * s.opts.Heartbeat).String())
		cancel()
	}
}
