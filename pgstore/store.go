// Package pgstore keeps locks in PostgreSQL, so that any number of Locker
// replicas can serve the same locks (LOCKER_DATABASE_URL).
//
// Each change is one transaction holding the lock's row (SELECT … FOR
// UPDATE), so replicas never interleave changes to one lock. Time comes from
// the database's clock and fence tokens from a database sequence, so leases
// and tokens agree across replicas. Committed changes are announced with
// NOTIFY; every replica LISTENs and passes them to its service, which wakes
// its waiters and feeds its event stream. Waiters are queued in a table, so
// fair (FIFO) order holds across replicas; each replica keeps its waiters'
// rows alive with a heartbeat, and rows of a replica that died are ignored.
package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudfoundry-community/locker/lock"
)

// Options tune a Store. The zero value is the production default.
type Options struct {
	// HistoryLimit is how many recent events each lock keeps (default 100).
	HistoryLimit int
	// Replica names this server in the wait queue (default host-pid-random).
	Replica string
	// Heartbeat is how often this replica marks its waiters alive (default
	// 2s); a waiter not marked for five heartbeats is ignored.
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// Store is the PostgreSQL store. It implements lock.Store and lock.WaitQueue.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	// channel is the NOTIFY channel changes are announced on: one per
	// schema, so that separate Locker installations in one database do not
	// hear each other.
	channel string

	mu    sync.Mutex
	watch func(string, []lock.Event)
	// live is this replica's waiters that have not left: only their rows
	// are kept alive. A row whose Leave failed (the database was down) or
	// whose Join failed after the insert committed goes stale instead of
	// blocking its lock for as long as this replica runs.
	live map[lock.Ticket]struct{}
	// left is waiters' rows whose delete failed: retried by the heartbeat.
	left []int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open connects to the database at url, migrates the schema, and starts
// listening for changes.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 100
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Replica == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		opts.Replica = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("LOCKER_DATABASE_URL: %v", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Fail fast when the database is down: requests answer 503 at once
		// instead of hanging.
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("preparing the database: %w", err)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &Store{pool: pool, opts: opts, cancel: cancel, channel: pgx.Identifier{"locker_" + schema}.Sanitize(), live: map[lock.Ticket]struct{}{}}
	s.wg.Add(2)
	listening := make(chan struct{})
	go s.listen(lctx, cfg.ConnConfig, listening)
	go s.heartbeat(lctx)
	// Changes committed before this replica listens would never reach it:
	// wait for LISTEN before serving.
	select {
	case <-listening:
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("listening for changes: %w", ctx.Err())
	}
	return s, nil
}

// Close stops listening, drops this replica's waiters and closes the pool.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.pool.Exec(ctx, `DELETE FROM locker_waiters WHERE replica = $1`, s.opts.Replica)
	s.pool.Close()
	return nil
}

// Watch implements lock.Store.
func (s *Store) Watch(fn func(string, []lock.Event)) {
	s.mu.Lock()
	s.watch = fn
	s.mu.Unlock()
}

var errNoChange = errors.New("no change")

// Update implements lock.Store: one transaction holding the lock's row.
func (s *Store) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	var out lock.Lock
	var events []lock.Event
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Make sure the row exists so it can be locked; rolled back with
		// the rest when nothing changes.
		if _, err := tx.Exec(ctx, `INSERT INTO locker_locks (name) VALUES ($1) ON CONFLICT DO NOTHING`, name); err != nil {
			return err
		}
		l, err := scanLock(tx.QueryRow(ctx, `SELECT name, key, holds, fence, since, free_since, pools, metadata FROM locker_locks WHERE name = $1 FOR UPDATE`, name))
		if err != nil {
			return err
		}
		var now time.Time
		if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
			return err
		}
		var fenceErr error
		env := lock.Env{Now: now.UTC(), NextFence: func() uint64 {
			var f int64
			if err := tx.QueryRow(ctx, `SELECT nextval('locker_fence')`).Scan(&f); err != nil {
				fenceErr = err
			}
			return uint64(f)
		}}
		events = m(&l, env)
		out = l
		if fenceErr != nil {
			return fenceErr
		}
		if len(events) == 0 {
			return errNoChange
		}
		holds, err := json.Marshal(l.Holds)
		if err != nil {
			return err
		}
		var since *time.Time
		if !l.Since.IsZero() {
			since = &l.Since
		}
		batch := &pgx.Batch{}
		var freeSince *time.Time
		if !l.FreeSince.IsZero() {
			freeSince = &l.FreeSince
		}
		pools := l.Pools
		if pools == nil {
			pools = []string{}
		}
		var metadata []byte
		if l.Metadata != nil {
			metadata = l.Metadata
		}
		batch.Queue(`UPDATE locker_locks SET key = $2, holds = $3, fence = $4, since = $5, updated_at = $6,
			free_since = $7, pools = $8, metadata = $9 WHERE name = $1`,
			name, l.Key, holds, int64(l.Fence), since, now, freeSince, pools, metadata)
		evJSON := make([][]byte, len(events))
		for i := range events {
			evJSON[i], _ = json.Marshal(events[i])
		}
		batch.Queue(`INSERT INTO locker_history (name, event) SELECT $1, e FROM unnest($2::jsonb[]) AS e`, name, evJSON)
		// Keep the history bounded: trim now and then, not on every change
		// (reads take only the newest HistoryLimit anyway).
		if l.Fence%8 == 0 || len(events) > 1 {
			batch.Queue(`DELETE FROM locker_history WHERE name = $1 AND id < (
				SELECT min(id) FROM (SELECT id FROM locker_history WHERE name = $1 ORDER BY id DESC LIMIT $2) newest)`,
				name, s.opts.HistoryLimit)
		}
		batch.Queue(`SELECT pg_notify($1, $2)`, s.channelName(), notification(name, events))
		return tx.SendBatch(ctx, batch).Close()
	})
	switch {
	case errors.Is(err, errNoChange):
		return out, nil, nil
	case err != nil:
		return lock.Lock{}, nil, dbError(ctx, err)
	}
	return out, events, nil
}

// channelName is the channel as pg_notify takes it: unquoted.
func (s *Store) channelName() string {
	return s.channel[1 : len(s.channel)-1]
}

// scanLock reads a lock row; a name never seen is a free lock.
func scanLock(row pgx.Row) (lock.Lock, error) {
	var l lock.Lock
	var holds []byte
	var fence int64
	var since, freeSince *time.Time
	var metadata []byte
	if err := row.Scan(&l.Name, &l.Key, &holds, &fence, &since, &freeSince, &l.Pools, &metadata); err != nil {
		return l, err
	}
	if freeSince != nil {
		l.FreeSince = freeSince.UTC()
	}
	if len(l.Pools) == 0 {
		l.Pools = nil
	}
	if metadata != nil {
		l.Metadata = metadata
	}
	l.Fence = uint64(fence)
	if since != nil {
		l.Since = since.UTC()
	}
	if len(holds) > 0 {
		if err := json.Unmarshal(holds, &l.Holds); err != nil {
			return l, fmt.Errorf("lock %q: damaged holds in the database: %w", l.Name, err)
		}
	}
	if len(l.Holds) == 0 {
		l.Holds = nil
	}
	return l, nil
}

// dbError turns a database failure into a domain error: the database being
// unreachable is a 503 for the client, never a hang or a 500.
func dbError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var le *lock.Error
	if errors.As(err, &le) {
		return err
	}
	return &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the lock database is unavailable (%v); try again (a change in flight may or may not have been made: check the lock)", err)}
}

// Get implements lock.Store.
func (s *Store) Get(ctx context.Context, name string) (lock.Lock, bool, error) {
	l, err := scanLock(s.pool.QueryRow(ctx, `SELECT name, key, holds, fence, since, free_since, pools, metadata FROM locker_locks WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return lock.Lock{}, false, nil
	}
	if err != nil {
		return lock.Lock{}, false, dbError(ctx, err)
	}
	return l, true, nil
}

// List implements lock.Store.
func (s *Store) List(ctx context.Context) ([]lock.Lock, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, key, holds, fence, since, free_since, pools, metadata FROM locker_locks`)
	if err != nil {
		return nil, dbError(ctx, err)
	}
	defer rows.Close()
	var out []lock.Lock
	for rows.Next() {
		l, err := scanLock(rows)
		if err != nil {
			return nil, dbError(ctx, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(ctx, err)
	}
	return out, nil
}

// History implements lock.Store.
func (s *Store) History(ctx context.Context, name string) ([]lock.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT event FROM (
		SELECT id, event FROM locker_history WHERE name = $1 ORDER BY id DESC LIMIT $2) newest ORDER BY id`, name, s.opts.HistoryLimit)
	if err != nil {
		return nil, dbError(ctx, err)
	}
	defer rows.Close()
	var out []lock.Event
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, dbError(ctx, err)
		}
		var ev lock.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return nil, dbError(ctx, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(ctx, err)
	}
	return out, nil
}

// Ready implements lock.Store: the database answers.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the lock database is unreachable: %v", err)}
	}
	return nil
}
