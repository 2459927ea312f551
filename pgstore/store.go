// Package pgstore keeps locks in PostgreSQL, so that any number of Locker
// replicas can serve the same locks (LOCKER_DATABASE_URL).
//
// Each change is written only over the version of the lock it read
// (compare-and-set on a version column), so replicas never interleave
// changes to one lock. Time comes from the database's clock and fence tokens
// from a database sequence, so leases and tokens agree across replicas.
// Committed changes are announced with NOTIFY; every replica LISTENs and
// passes the others' changes, in order, to its service, which wakes its
// waiters and feeds its event stream. Waiters are queued in a table, so
// fair (FIFO) order holds across replicas; each replica keeps its waiters'
// rows alive with a heartbeat, and rows of a replica that died are ignored.
package pgstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudfoundry-community/locker/lock"
)

// defaultMaxConns is the connection pool's size unless the URL sets
// pool_max_conns.
const defaultMaxConns = 16

// Options tune a Store. The zero value is the production default.
type Options struct {
	// HistoryLimit is how many recent events each lock keeps (default 100).
	HistoryLimit int
	// Replica names this server in the wait queue (default host-pid-random).
	Replica string
	// Heartbeat is how often this replica marks its waiters alive (default
	// 2s); a waiter not marked for five heartbeats is ignored.
	Heartbeat time.Duration
	// PresenceCheck is how often this replica looks whether the other
	// replicas with waiters in the queue still hold their presence
	// (replicaLock, queue.go), while any have waiters (default 1s): the
	// waiters of one that no longer does are passed over.
	PresenceCheck time.Duration
	// QueryTimeout bounds each read and each wait-queue statement
	// (default 10s; a change's write has writeTimeout): without it, a
	// statement on a pooled connection whose network is cut waits for as
	// long as TCP does, minutes, and so does its request.
	QueryTimeout time.Duration
	// ListenCheck is how long the LISTEN connection may be silent before
	// it is asked a round trip (default 15s); one that does not answer
	// within QueryTimeout is made again (notify.go).
	ListenCheck time.Duration
	// StartWait is how long Open waits for a database that is not up yet
	// (refused, unreachable, starting up); 0: for as long as Open's
	// context lasts. Preparing the database once it answers has its own
	// setupTimeout, however long the wait took.
	StartWait time.Duration
	// ApplicationName names every connection in pg_stat_activity
	// (application_name), over the URL's. Default: a server's name,
	// "locker server <schema>", unless the URL (or PGAPPNAME) names them.
	ApplicationName string
	// MustBeMade refuses a schema that has no Locker tables instead of
	// making them (locker migrate's source: a mistyped search_path is not
	// an empty store).
	MustBeMade bool
	// Tool marks a store that is not a Locker server (locker migrate's):
	// it does not hold its schema's presence lock (presence), so that
	// Servers does not count it, nor another tool's.
	Tool bool
	// Migrating opens a store marked as the target of an unfinished
	// locker migrate (migrating.go), which Open otherwise refuses: the
	// copy itself, finishing it.
	Migrating bool
	Logger    *slog.Logger
}

// setupTimeout bounds what Open does once the database answers: the
// schema's migration (which waits for another replica's), and LISTEN.
const setupTimeout = 30 * time.Second

// Store is the PostgreSQL store. It implements lock.Store and lock.WaitQueue.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	// own ends every NOTIFY payload of this replica's (ownSuffix).
	own string
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
	// joining counts the Joins under way, by lock, key and holder
	// (joinAgain).
	joining map[joiner]int
	// left is waiters' rows whose delete failed: retried by the heartbeat.
	left []int64
	// retryingLeaves keeps the heartbeat's retry of the failed Leaves in
	// left (write) from crossing a Join (read) on this replica: a Join
	// that takes a kept place back holds it from its statement until its
	// ticket is live, so the retry's snapshot of live either holds that
	// ticket or its delete is made while the row is still a kept place
	// (which it never deletes). Without it, a place taken back between
	// the snapshot and the delete was deleted, and its waiter lost its
	// place in line (TestAKeptPlaceTakenBackIsNotDeletedByTheHeartbeat,
	// one CI run in a few). Joins give up waiting for it when their
	// context ends (leaveGate).
	retryingLeaves leaveGate
	// seen is the other replicas with live waiters that were found
	// holding their presence (replicaLock), gone those of them found no
	// longer holding it and not renewing their waiters since, whose
	// waiters are passed over (never nil: queries take it as an array),
	// and lost when, by the database's clock, each of those found without
	// it was first found so. Set by watchReplicas.
	seen map[string]bool
	gone []string
	lost map[string]time.Time
	// pending is notifications not yet sent; kick wakes the notifier.
	pending []string
	kick    chan struct{}

	order *order
	// listening is true while the LISTEN connection is up: changes made
	// by other replicas reach the watcher.
	listening atomic.Bool

	// nameBySchema is set when this store names its connections as a
	// server of its schema (nameConn); urlName is the application_name
	// the URL gives, if any.
	nameBySchema bool
	urlName      string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// serverName starts the application_name of a Locker server's
// connections; the schema follows it.
const serverName = "locker server "

// nameConn names a connection as a server of its schema. The schema
// (search_path's first, as each statement finds it) is known only once
// connected.
const nameConn = `SELECT set_config('application_name', $1 || coalesce(current_schema(), ''), false)`

// presenceKey and presenceLock make a server's presence independent of how
// its connections are named: each server holds, on its LISTEN connection
// for as long as it runs (taken again whenever that connection is made
// again), a shared session-level advisory lock keyed by its schema, and
// Servers lists the sessions holding it (pg_locks, which any role may
// read). Shared: servers do not wait for each other. The two-int form
// (presenceKey, "lock" in ASCII, and hashtext of the server name of the
// schema): its key space is apart from the one-bigint form that
// migrateLockID is in, so that the two cannot collide. Two schemas whose
// hashes collide would only see each other's servers (locker migrate
// would refuse, not copy). Computed by the database from current_schema()
// on both sides, as the server name is.
const (
	presenceKey  = 0x6c6f636b
	presenceLock = `SELECT pg_try_advisory_lock_shared($1, hashtext($2 || coalesce(current_schema(), '')))`
)

// Open connects to the database at url, migrates the schema, and starts
// listening for changes.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 100
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 2 * time.Second
	}
	if opts.ListenCheck <= 0 {
		opts.ListenCheck = 15 * time.Second
	}
	if opts.PresenceCheck <= 0 {
		opts.PresenceCheck = time.Second
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 10 * time.Second
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
	if !utf8.ValidString(opts.Replica) {
		// Payloads and the wait queue carry it as text: invalid bytes would
		// be changed on the way, and two names could become one.
		return nil, fmt.Errorf("pgstore: replica name %q is not valid UTF-8", opts.Replica)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err // the caller names the URL's setting
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4 on 2 cores) keeps concurrent requests waiting
		// for a connection while others wait on the database's disk.
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	// Connections are named in pg_stat_activity, so that operators, and
	// locker migrate, can tell a server's from others: as a server of its
	// schema, unless the URL (or PGAPPNAME) names them. That name is the
	// operator's, to monitor by, and is kept (as libpq keeps it over a
	// program's fallback_application_name).
	urlName, urlNamed := cfg.ConnConfig.RuntimeParams["application_name"]
	nameBySchema := false
	switch {
	case opts.ApplicationName != "":
		cfg.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	case !urlNamed:
		cfg.ConnConfig.RuntimeParams["application_name"] = strings.TrimSpace(serverName)
		nameBySchema = true
	}
	// Set after connecting, not as start-up parameters, which PgBouncer
	// refuses.
	setTimeout := !urlSets(cfg.ConnConfig, "statement_timeout")
	setLockWait := !urlSets(cfg.ConnConfig, "lock_timeout")
	setIsolation := !urlSets(cfg.ConnConfig, "default_transaction_isolation")
	setCheck := !urlSets(cfg.ConnConfig, "client_connection_check_interval")
	setDurable := !urlSets(cfg.ConnConfig, "synchronous_commit")
	var sets []string // in one round trip
	if setTimeout {
		sets = append(sets, fmt.Sprintf("SET statement_timeout = %d", statementTimeout().Milliseconds()))
	}
	if setLockWait {
		sets = append(sets, "SET lock_timeout = 0")
	}
	if setIsolation {
		sets = append(sets, "SET default_transaction_isolation = 'read committed'")
	}
	if setDurable {
		sets = append(sets, durableCommits)
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if nameBySchema {
			if _, err := conn.Exec(ctx, nameConn, serverName); err != nil {
				return err
			}
		}
		if len(sets) > 0 {
			if _, err := conn.Exec(ctx, strings.Join(sets, "; ")); err != nil {
				return err
			}
		}
		if setCheck {
			// Best effort: PostgreSQL before 14, and platforms
			// without the kernel's help, refuse it; the write's
			// deadline still bounds such a write.
			conn.Exec(ctx, fmt.Sprintf("SET client_connection_check_interval = %d", clientCheckInterval.Milliseconds()))
		}
		return nil
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
	wctx := ctx
	if opts.StartWait > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, opts.StartWait)
		defer cancel()
	}
	if err := waitForDatabase(wctx, pool, opts.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	ctx, cancelSetup := context.WithTimeout(ctx, setupTimeout)
	defer cancelSetup()
	if err := migrate(ctx, pool, opts.MustBeMade); err != nil {
		pool.Close()
		return nil, fmt.Errorf("preparing the database: %w", err)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("preparing the database: %w", err)
	}
	if note, ok, err := migrating(ctx, pool); err != nil || (ok && !opts.Migrating) {
		pool.Close()
		if err != nil {
			return nil, fmt.Errorf("preparing the database: %w", err)
		}
		return nil, unfinishedCopy(schema, note)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &Store{pool: pool, opts: opts, cancel: cancel, channel: channelFor(schema), live: map[lock.Ticket]struct{}{}, joining: map[joiner]int{}, seen: map[string]bool{}, gone: []string{}, lost: map[string]time.Time{}, kick: make(chan struct{}, 1), own: ownSuffix(opts.Replica), nameBySchema: nameBySchema, urlName: urlName}
	s.order = newOrder(s.emit)
	s.wg.Add(4)
	listening := make(chan struct{})
	go s.listen(lctx, cfg.ConnConfig, listening)
	go s.heartbeat(lctx)
	go s.notify(lctx)
	go s.watchReplicas(lctx)
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

// waitForDatabase makes the first connection, trying again while the
// database is not up yet (refused, unreachable, starting up, out of
// connections) until ctx ends: replicas and their database may start in
// any order. Other failures (credentials, no such database, TLS) are
// returned at once: waiting would not mend them.
func waitForDatabase(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	pause := 250 * time.Millisecond
	var last error // the last attempt's own error, not the deadline's
	for attempt := 1; ; attempt++ {
		err := pool.Ping(ctx)
		switch {
		case err == nil:
			if attempt > 1 {
				log.Info("the database answers", "attempts", attempt)
			}
			return nil
		case ctx.Err() != nil && attempt > 1:
			return gaveUp(ctx, attempt, last)
		case ctx.Err() != nil || !notUpYet(err):
			return err
		}
		last = err
		log.Warn("waiting for the database", "err", err, "attempt", attempt)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return gaveUp(ctx, attempt, last)
		}
		pause = min(2*pause, 4*time.Second)
	}
}

// gaveUp is waitForDatabase's error once ctx ended: its time ran out, or
// the server was told to stop meanwhile.
func gaveUp(ctx context.Context, attempts int, last error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("stopped while waiting for the database (tried %d times): %v", attempts, last)
	}
	return fmt.Errorf("the database did not come up in time (tried %d times): %v", attempts, last)
}

// notUpYet reports whether err, from a first connection, says the
// database is not there yet rather than that it refused us.
func notUpYet(err error) bool {
	var (
		certErr   *tls.CertificateVerificationError
		alert     tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	if errors.As(err, &certErr) || errors.As(err, &alert) || errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return false // TLS refused: waiting will not mend it
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Connection exceptions and shutting down or starting up (57P03),
		// as connectionLost; and too many connections.
		return pe.Code == "53300" || connectionLost(err)
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError // refused, unreachable
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &dnsErr) || errors.As(err, &opErr) || connectionLost(err)
}

// Close stops listening, drops this replica's waiters and closes the pool.
// Places kept for clients that may ask again (on another replica) stay
// until their time runs out.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.pool.Exec(ctx, `DELETE FROM locker_waiters WHERE replica = $1 AND kept_until IS NULL`, s.opts.Replica)
	s.pool.Close()
	return nil
}

// Watch implements lock.Store.
func (s *Store) Watch(fn func(string, []lock.Event)) {
	s.mu.Lock()
	s.watch = fn
	s.mu.Unlock()
}

// readForChange reads what a change needs in one statement: the lock (a
// free lock when the name is new, version -1), the database's clock, and a
// fence token when the lock is free and may be taken (tokens skipped when it
// is not are harmless: they only have to grow).
const readForChange = `SELECT v.n, coalesce(l.key, ''), coalesce(l.holds, '{}'), coalesce(l.fence, 0), l.since,
	l.free_since, coalesce(l.pools, '{}'), l.metadata, coalesce(l.version, -1), clock_timestamp(),
	CASE WHEN coalesce(l.key, '') = '' THEN nextval('locker_fence') END, coalesce(l.xmin::text, '')
	FROM (SELECT $1::text AS n) v LEFT JOIN locker_locks l ON l.name = v.n`

// readQueue reads the lock's live waiters, oldest first, but for those of
// replicas whose session is gone ($3, watchReplicas).
const readQueue = `SELECT id, key, holder FROM locker_waiters
	WHERE name = $1 AND heartbeat > clock_timestamp() - $2::interval AND kept_until IS NULL
	AND NOT (replica = ANY($3)) ORDER BY id`

// writeLock writes a changed lock only over the version it was read at
// ($10), and only before $12 by the database's clock
// (t: see writeBy), and appends its events ($11) to the history, in one
// statement; u returns the row's new version, or no row when another change
// came first or it came too late, and h the ids of the events in the
// history. It is the start of writeChange and writeTrimming. It moves the
// version on itself, as the trigger does (to the same number): where the
// trigger does not fire (session_replication_role = replica as the
// database's or a role's default, the trigger disabled), a write over a
// stale read would otherwise succeed, and two replicas grant one lock.
//
// A lock read at a version (not -1) is written by UPDATE only, never
// inserted: a lock forgotten meanwhile (its row deleted) must not come back
// with a state decided on the one it had, a hold renewed, say. Only a lock
// read as new is inserted (writeNew), and ON CONFLICT then finds any row
// made since, whose version is never -1.
//
// The row must also be the very row version read: its xmin ($13, the
// transaction that wrote it) as well as its version. A lock forgotten and
// made again under its name starts again at version 1, so a version alone
// can match a row that is not the one read (read at 1, released, forgotten,
// taken anew at 1): the write would put a state decided on the old lock
// over the new holder's (a lost hold, the fence going back). Two writes
// are two transactions, with two xids, which do not repeat while a read
// can still be written (writeBy bounds that to seconds).
const writeLock = writeLockStart + `
	UPDATE locker_locks AS l SET key = $2::text, holds = $3::jsonb, fence = $4::bigint, since = $5::timestamptz,
		updated_at = $6::timestamptz, free_since = $7::timestamptz, pools = $8::text[], metadata = $9::jsonb,
		version = l.version + 1
	FROM t WHERE t.in_time AND l.name = $1::text AND l.version = $10::bigint AND l.xmin = $13::text::xid
	RETURNING l.version, l.lifetime` + writeLockEnd

// writeNewLock is writeLock for a lock read as new ($10 is -1): it inserts
// the row, unless another change made it meanwhile (whose version is never
// -1).
//
// The new row's lifetime (order.go) is drawn from the sequence as the
// insert starts, before it finds the name free; so first (t) it takes
// newLockKey's transaction-level advisory lock for the name, which every
// insert of a new lock takes, until its commit. A row made under the name
// before this one is then made and committed (its own number drawn) before
// this insert draws its number, or after this one is committed (and then
// finds it, unless it was forgotten meanwhile): without the lock, a row
// made and forgotten by other replicas between this insert's draw and its
// look for the name would number above the new one, whose events then
// went out of order (TestNewLifetimeAboveTheForgottenOnes). Writes over a
// row, and forgets, take no such lock: only a new lock is slowed, by an
// insert of its name (or, rarely, of a name whose hash is the same) in
// progress.
const writeNewLock = `WITH t AS MATERIALIZED (
	SELECT clock_timestamp() < $12::timestamptz AS in_time
	FROM (SELECT pg_advisory_xact_lock(` + newLockKey + `, hashtext($1::text || coalesce(current_schema(), '')))) named
), u AS (
	INSERT INTO locker_locks AS l (name, key, holds, fence, since, updated_at, free_since, pools, metadata, version)
	SELECT $1::text, $2::text, $3::jsonb, $4::bigint, $5::timestamptz, $6::timestamptz, $7::timestamptz, $8::text[], $9::jsonb, 1
	FROM t WHERE t.in_time
	ON CONFLICT (name) DO UPDATE SET key = excluded.key, holds = excluded.holds, fence = excluded.fence,
		since = excluded.since, updated_at = excluded.updated_at, free_since = excluded.free_since,
		pools = excluded.pools, metadata = excluded.metadata, version = l.version + 1
	WHERE l.version = $10
	RETURNING l.version, l.lifetime` + writeLockEnd

// newLockKey is the first key of the advisory lock each insert of a new
// lock takes on its name (writeNewLock): the two-int form, as presenceKey
// is, with a key of its own ("new " in ASCII), and the second the hash of
// the name and the schema (schemas in one database do not wait for each
// other's new locks, but for the rare collision).
const newLockKey = "1852143392"

// writeLockStart is the start of writeLock; writeLockEnd is what writeLock
// and writeNewLock share.
const (
	writeLockStart = `WITH t AS MATERIALIZED (
	SELECT clock_timestamp() < $12::timestamptz AS in_time
), u AS (`
	writeLockEnd = `
), h AS (
	INSERT INTO locker_history (name, event) SELECT $1, e FROM u, unnest($11::jsonb[]) AS e
	RETURNING id
), c AS (
	SELECT CAST(CASE WHEN clock_timestamp() < $12::timestamptz THEN '0' ELSE '` + lateMark + `' END AS int) AS n
	FROM (SELECT count(*) FROM h) written
)`
)

// lateMark ends a write that waited in the database (on a row lock, a
// table lock) until past its deadline: c, run once the write is done (it
// counts h's rows, which come after u's), casts it to a number, an error
// that undoes the whole statement. SQL has no other way to raise one.
const lateMark = "locker: the write came too late"

// writeChange writes a change (writeLock) and returns the lock's new version
// (NULL when nothing was written), the history id of its first event,
// whether the write came in time, the late mark's check, and the row's
// lifetime (schema version 6: numbered as the row is made; order.go).
//
// It and writeTrimming are two statements, not one with a parameter saying
// whether to trim, because PostgreSQL plans a prepared statement once only
// when no parameter changes its plan: one whose DELETE ran or not by a
// parameter was planned again for every change, which cost the database
// more CPU than the write itself (TestWritesArePlannedOnce).
const writeChange = writeLock + writeResult

// writeResult ends writeChange and writeNew.
const writeResult = `
SELECT (SELECT version FROM u), (SELECT min(id) FROM h), (SELECT in_time FROM t), (SELECT n FROM c),
	(SELECT lifetime FROM u)`

// writeNew is writeChange for a lock read as new (version -1). A new lock
// has no history to trim.
const writeNew = writeNewLock + writeResult

// forgetLock deletes a forgotten lock (lock.Forgets) with its history, only
// at the version (and row: xmin $4, see writeLock) it was read at ($2), and
// only before $3 by the database's clock, as writeLock writes. One
// statement, so one transaction: the row and its history go together or
// not at all. It answers as writeChange does, so that tryUpdate reads both
// alike: the version after the deleted row's, for the order of the lock's
// changes (see order.deliver; NULL when another change came first or it
// came too late), no history id (the history is gone, and the events go
// inline), whether it came in time, the late mark's check, and the
// deleted row's lifetime: its forgotten ends that lifetime (order.go).
const forgetLock = `WITH t AS MATERIALIZED (
	SELECT clock_timestamp() < $3::timestamptz AS in_time
), u AS (
	DELETE FROM locker_locks AS l USING t WHERE t.in_time AND l.name = $1::text AND l.version = $2::bigint
		AND l.xmin = $4::text::xid
	RETURNING l.version, l.lifetime
), h AS (
	DELETE FROM locker_history WHERE name = $1::text AND EXISTS (SELECT 1 FROM u)
	RETURNING id
), c AS (
	SELECT CAST(CASE WHEN clock_timestamp() < $3::timestamptz THEN '0' ELSE '` + lateMark + `' END AS int) AS n
	FROM (SELECT count(*) FROM h) deleted
)
SELECT (SELECT version + 1 FROM u), NULL::bigint, (SELECT in_time FROM t), (SELECT n FROM c),
	(SELECT lifetime FROM u)`

// writeTrimming is writeChange that also trims the lock's history to the
// newest $14 events as of before this change (the statement does not see
// its own insert), so up to $14 plus this change's events remain.
const writeTrimming = writeLock + `, d AS (
	DELETE FROM locker_history WHERE name = $1 AND EXISTS (SELECT 1 FROM u) AND id < (
		SELECT min(id) FROM (SELECT id FROM locker_history WHERE name = $1 ORDER BY id DESC LIMIT $14) newest)
)
SELECT (SELECT version FROM u), (SELECT min(id) FROM h), (SELECT in_time FROM t), (SELECT n FROM c),
	(SELECT lifetime FROM u)`

// beforeWrite, set by tests only, runs as a change's write is about to be
// sent: a write held up on its way to the database.
var beforeWrite func()

// writeTimeout bounds a change's write, which does not end with its
// request. A variable for tests.
var writeTimeout = 10 * time.Second

// clientCheckInterval is the client_connection_check_interval each pooled
// connection gets (unless the URL sets one; PostgreSQL 14 and later): how
// often the database checks, while a statement runs, that this replica is
// still connected. A replica that dies (kill -9, a crash) while its write
// waits in the database (on a row lock, say) closes its connections, and
// the database then ends the write within this time instead of carrying
// it out once the wait is over: its client, whose request failed, reads
// the lock back (as it is told to) and finds nothing, so the write must
// not commit afterwards, a hold nobody knows of.
const clientCheckInterval = 250 * time.Millisecond

// durableCommits turns synchronous_commit on for a connection where the
// database, its role or the server set it off, and leaves every other
// value (on, local, remote_write, remote_apply: each waits at least for
// the local disk) as it is. With it off PostgreSQL acknowledges a commit
// before its WAL is flushed, and a crash of the database loses the last
// commits: a hold answered with 200 would be forgotten, free for another
// key, and the fence sequence could go back. A synchronous_commit in the
// URL is the operator's and is kept.
const durableCommits = `SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'`

// A lock_timeout (the database's, a role's) is turned off for each pooled
// connection unless the URL sets one: a change whose lock's row another
// change holds for a moment (its commit being flushed) waits for it, as
// does a NOTIFY for the database's notification queue, bounded by the
// statement_timeout above; a short lock_timeout made ordinary contention
// answer 503 and announcements fail.

// A default_transaction_isolation (the database's, a role's) is set back
// to read committed on each pooled connection unless the URL sets one: a
// change is written only over the version it read, and one whose row
// another change updated while it waited for it must find that version
// gone (0 rows: read again, decide again), as READ COMMITTED re-checks the
// row after the wait; repeatable read and serializable fail such a write
// (40001), which answered 503 under ordinary contention.

// urlSets reports whether the connection string sets the run-time
// parameter name, directly or in options.
func urlSets(cfg *pgx.ConnConfig, name string) bool {
	_, set := cfg.RuntimeParams[name]
	return set || strings.Contains(cfg.RuntimeParams["options"], name)
}

// statementTimeout is the statement_timeout each pooled connection gets
// (unless the URL sets one): under writeTimeout, so that the database ends
// a write still waiting in it (on a row lock someone holds, say) before
// the replica gives up on it. Otherwise a write the replica answered 503
// for, its connection cut, could still commit afterwards, and a client
// that read the lock back meanwhile (as the 503 says to) would have found
// nothing: a lock held by nobody who knows it.
func statementTimeout() time.Duration { return writeTimeout * 4 / 5 }

// Update implements lock.Store. A change takes two round trips and holds no
// row lock between them: one reads the lock, its wait queue (Env.Queue) and
// the database's clock; the other writes the result only over the version
// read, with its history, in one statement. When another replica changed
// the lock in between, the lock is read again and m applied again. NOTIFY
// is sent after the commit, not in the change's transaction: a NOTIFY holds
// a database-wide lock through its transaction's commit, so every change
// would wait for every other's disk flush.
func (s *Store) Update(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, error) {
	reread, rewritten := false, false
	late := 0
	for attempt := 0; ; attempt++ {
		l, events, version, first, lifetime, err := s.tryUpdate(ctx, name, m)
		var (
			rf readFailed
			nw notWritten
		)
		switch {
		case errors.Is(err, errLate) && late < 2 && ctx.Err() == nil:
			// Decided on a read that has aged (writeBy): read and
			// decide again.
			late++
			continue
		case errors.Is(err, errLate):
			var le lateError
			if errors.As(err, &le) && le.lease > 0 {
				// Half the lease it grants bound the write: a lease
				// shorter than the database's round trips can never be
				// granted, and "try again" alone would be retried for
				// nothing.
				return lock.Lock{}, nil, &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the change was not made: its write reached the lock database after half of the %s lease it grants, three times; ask for a longer ttl (a lease this short cannot outlast the database's round trips), or try again if the database is slow", le.lease)}
			}
			return lock.Lock{}, nil, &lock.Error{Code: lock.EUNAVAILABLE, Message: "the lock database is too slow: the change's write reached it too late, three times, and was not made; try again"}
		case err != nil && errors.As(err, &rf) && !reread && ctx.Err() == nil && connectionLost(err):
			// A dead pooled connection: nothing was written; drop
			// them and read again on a new one.
			reread = true
			s.pool.Reset()
			continue
		case err != nil && errors.As(err, &nw) && !rewritten && ctx.Err() == nil:
			// The write's session was ended before it was made:
			// nothing was written; read and decide again (once: the
			// pool was reset, and a second such end is an outage).
			rewritten = true
			continue
		case err != nil:
			derr := dbError(ctx, err)
			var (
				le *lock.Error
				pe *pgconn.PgError
			)
			switch {
			case !errors.As(derr, &le):
			case errors.As(err, &rf) || errors.As(err, &nw):
				// Nothing was written: the change was not made.
				derr = unavailable(ctx, err, "the change was not made; try again")
			case errors.As(err, &pe) && cmp.Or(pe.SeverityUnlocalized, pe.Severity) == "ERROR" && !connectionLost(err):
				// The database's own error for the write (its
				// statement_timeout, say), one statement in a
				// transaction of its own: rolled back. (A FATAL one,
				// a connection ended, can come after the commit.)
				// Its text, which can name tables and files, is for
				// the log.
				le.Message = fmt.Sprintf("the lock database refused the change (%v); it was not made; try again", pe)
				le.Summary = "the lock database refused the change; it was not made; try again"
				le.MaybeMade = false
			default:
				// Past the read: the write may have committed.
				le.Unsure = true
			}
			return lock.Lock{}, nil, derr
		case version < 0:
			// Another change came first: read it, try again. Back off
			// (randomly) when it keeps happening, so that replicas taking
			// turns on one lock do not keep colliding.
			if attempt >= 2 {
				select {
				case <-time.After(time.Duration(mrand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))):
				case <-ctx.Done():
					return lock.Lock{}, nil, ctx.Err()
				}
			}
			continue
		case len(events) > 0:
			s.publish(name, lifetime, version, first, events)
		}
		return l, events, nil
	}
}

// tryUpdate makes one attempt. version is the lock's version after the
// change, 0 when there was nothing to write, -1 when another change came
// first; first is the history id of the change's first event, and
// lifetime the row's lifetime (schema version 6, order.go).
func (s *Store) tryUpdate(ctx context.Context, name string, m lock.Mutation) (lock.Lock, []lock.Event, int64, int64, int64, error) {
	qctx, cancel := s.bounded(ctx)
	defer cancel()
	read := &pgx.Batch{}
	read.Queue(readForChange, name)
	read.Queue(readQueue, name, s.staleAfter(), s.goneReplicas())
	br := s.pool.SendBatch(qctx, read)
	var version int64
	var now time.Time
	var fence *int64
	var xmin string // the row read (see writeLock); "" for a new lock
	l, err := scanLock(br.QueryRow(), &version, &now, &fence, &xmin)
	var queue []lock.Queued
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			for rows.Next() {
				var q lock.Queued
				var id int64
				if err = rows.Scan(&id, &q.Key, &q.Holder); err != nil {
					break
				}
				q.Ticket = lock.Ticket(id)
				queue = append(queue, q)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return lock.Lock{}, nil, 0, 0, 0, readFailed{err}
	}
	var fenceErr error
	env := lock.Env{Now: now.UTC(), Queue: queue, Found: version >= 0, NextFence: func() uint64 {
		if fence != nil {
			f := *fence
			fence = nil
			return uint64(f)
		}
		var f int64
		if err := s.pool.QueryRow(qctx, `SELECT nextval('locker_fence')`).Scan(&f); err != nil {
			fenceErr = err
		}
		return uint64(f)
	}}
	before := l.Clone()
	events := m(&l, env)
	if fenceErr != nil {
		return lock.Lock{}, nil, 0, 0, 0, readFailed{fenceErr}
	}
	if len(events) == 0 {
		return l, nil, 0, 0, 0, nil
	}
	holds, err := json.Marshal(l.Holds)
	if err != nil {
		return lock.Lock{}, nil, 0, 0, 0, err
	}
	var since, freeSince *time.Time
	if !l.Since.IsZero() {
		since = &l.Since
	}
	if !l.FreeSince.IsZero() {
		freeSince = &l.FreeSince
	}
	pools := l.Pools
	if pools == nil {
		pools = []string{}
	}
	evJSON := make([][]byte, len(events))
	for i := range events {
		evJSON[i], _ = json.Marshal(events[i])
	}
	// Keep the history bounded: trim now and then, not on every change
	// (reads take only the newest HistoryLimit anyway).
	trim := (version+1)%8 == 0 || len(events) > 1
	// The write is not abandoned when the request's context ends (its
	// client went away): a write cut off in flight may or may not have
	// been committed, and then nobody would announce it. Finished, it is
	// announced, and the service gives back a hold its caller no longer
	// wants.
	//
	// The connection is taken first: writeTimeout counts from when the
	// write is sent, as the database's statement_timeout does from when it
	// arrives, so that the database always gives up on it first (time
	// spent waiting for a connection, all of them busy, would come off the
	// replica's share only). Nothing is written while it waits.
	actx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(actx)
	if err != nil {
		return lock.Lock{}, nil, 0, 0, 0, readFailed{err}
	}
	defer conn.Release()
	if beforeWrite != nil {
		beforeWrite()
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	by, lease := writeBy(before, l, now)
	write, args := writeChange, []any{name, l.Key, holds, int64(l.Fence), since, now, freeSince, pools, []byte(l.Metadata), version, evJSON, by}
	switch {
	case lock.Forgets(events) && version < 0:
		// No row to delete (lock.Forget refuses a lock the store does
		// not hold): nothing to write, rather than a delete that finds
		// nothing and is tried again for ever.
		return l, nil, 0, 0, 0, nil
	case lock.Forgets(events):
		write, args = forgetLock, []any{name, version, by, xmin}
	case version < 0:
		write = writeNew
	case trim:
		write, args = writeTrimming, append(args, xmin, s.opts.HistoryLimit)
	default:
		args = append(args, xmin)
	}
	var (
		after    *int64 // NULL: not written
		first    *int64 // the min of no ids is NULL: a forget writes no history
		inTime   bool
		zero     int
		lifetime *int64 // the row's (order.go), NULL when not written
	)
	err = conn.QueryRow(wctx, write, args...).Scan(&after, &first, &inTime, &zero, &lifetime)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, lateMark) {
		return lock.Lock{}, nil, 0, 0, 0, lateError{lease} // undone
	}
	if err == nil && after == nil {
		if !inTime {
			return lock.Lock{}, nil, 0, 0, 0, lateError{lease}
		}
		return lock.Lock{}, nil, -1, 0, 0, nil // another change came first
	}
	if err != nil && sessionEnded(err) && s.unwritten(ctx, name, version) {
		// The database ended the session (it was terminated, or
		// shut down) before the write was made, and it never will be:
		// read and decide again.
		return lock.Lock{}, nil, 0, 0, 0, notWritten{err}
	}
	if err != nil {
		// The connection failed with the write in flight: it may have
		// been committed. Its events are unknown, but waiters everywhere
		// are told to look at the lock again.
		s.emit(name, nil)
		s.announce(notification(message{Name: name}))
		return lock.Lock{}, nil, 0, 0, 0, err
	}
	var f int64
	if first != nil {
		f = *first
	}
	return l, events, *after, f, *lifetime, nil
}

// notWritten is the error of a change's write that the database did not
// make and never will (sessionEnded, unwritten): safe to read and decide
// again.
type notWritten struct{ error }

func (e notWritten) Unwrap() error { return e.error }

// sessionEnded reports whether err says that the database itself ended the
// session (a FATAL operator intervention: pg_terminate_backend, a shutdown,
// a crash's restart), or that nothing was sent. A session the database ended has no
// statement left running: its transaction committed before it ended
// (interrupts are held off while a commit is made, so a commit is made
// whole, and visible, before the session can end), or is rolled back and
// never will commit. So, unlike a connection cut in the network, whose
// backend may still be running the write and commit it later, what the
// database holds after a session ended tells the write's outcome for good.
// Most often the session was ended while idle in the pool, before the write
// was sent: its FATAL message was waiting on the connection.
func sessionEnded(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// PostgreSQL's own operator interventions (57P: terminated,
		// shut down, crash, idle_session_timeout) only: a pooler
		// (PgBouncer) sends FATAL errors of its own (08P01) when its
		// link to the database fails, whose backend may go on.
		sev := cmp.Or(pe.SeverityUnlocalized, pe.Severity)
		return (sev == "FATAL" || sev == "PANIC") && strings.HasPrefix(pe.Code, "57P")
	}
	return pgconn.SafeToRetry(err)
}

// unwritten reports whether the lock is still at the version a change
// read (-1: no row), read back on a new connection after its write's
// session ended (sessionEnded): every write bumps the version, so the
// change was not made, and, its session gone, never will be. False when
// the lock changed (this change, or another's: which cannot be told) or
// cannot be read.
func (s *Store) unwritten(ctx context.Context, name string, version int64) bool {
	s.pool.Reset() // the other pooled connections were likely ended too
	now, err := reread(s, context.WithoutCancel(ctx), func(qctx context.Context) (int64, error) {
		var v int64
		err := s.pool.QueryRow(qctx, `SELECT coalesce((SELECT version FROM locker_locks WHERE name = $1), -1)`, name).Scan(&v)
		return v, err
	})
	return err == nil && now == version
}

// errLate: a change's write reached the database too late (writeBy), and
// was not made.
var errLate = errors.New("the change's write reached the lock database too late, and was not made")

// lateError is errLate with the lease whose half set the write's deadline
// (writeBy), 0 when none did.
type lateError struct{ lease time.Duration }

func (lateError) Error() string { return errLate.Error() }
func (lateError) Unwrap() error { return errLate }

// writeBy is the time, by the database's clock (now is its time when the
// lock was read), after which a change's write is not made, but read and
// decided again (Update):
//
//   - the statement timeout after the read. The replica gives up on the
//     write no sooner than writeTimeout after sending it, which is after
//     the read; a write that reaches the database later than that (held
//     up in the network, say) must not commit, or a client that read the
//     lock back after the 503 (as it says to) and found nothing would be
//     wrong, and the hold nobody's.
//   - halfway through the lease of every hold this change grants or
//     renews: one written later would be answered with little or none of
//     its lease left, a lock that may be another's by the time its holder
//     knows it has it.
//   - the end of every other hold's lease: past it, the lock as read is
//     stale (the hold has run out).
//
// lease is the lease granted or renewed whose half is the deadline, 0 when
// the deadline is another.
func writeBy(before, after lock.Lock, now time.Time) (by time.Time, lease time.Duration) {
	by = now.Add(statementTimeout())
	for holder, h := range after.Holds.All() {
		if h.Expires.IsZero() {
			continue
		}
		end, granted := h.Expires, time.Duration(0)
		if old, ok := before.Holds.Lookup(holder); !ok || !old.Expires.Equal(h.Expires) {
			granted = h.Expires.Sub(now)
			end = now.Add(granted / 2)
		}
		if end.Before(by) {
			by, lease = end, granted
		}
	}
	return by, lease
}

// channelFor is the NOTIFY channel of a schema: locker_<schema>, or, when
// that is longer than PostgreSQL's 63-byte names (LISTEN would cut it,
// and pg_notify refuse it) or holds a quote, locker_ and a hash of the
// schema's name.
func channelFor(schema string) string {
	name := "locker_" + schema
	if len(name) > 63 || strings.ContainsRune(name, '"') {
		sum := sha256.Sum256([]byte(schema))
		name = "locker_" + hex.EncodeToString(sum[:16])
	}
	return name
}

// channelName is the channel as pg_notify takes it: unquoted.
func (s *Store) channelName() string { return s.channel }

// scanLock reads a lock row; a name never seen is a free lock.
// Columns after the lock's are scanned into extra.
func scanLock(row pgx.Row, extra ...any) (lock.Lock, error) {
	var l lock.Lock
	var holds []byte
	var fence int64
	var since, freeSince *time.Time
	var metadata []byte
	if err := row.Scan(append([]any{&l.Name, &l.Key, &holds, &fence, &since, &freeSince, &l.Pools, &metadata}, extra...)...); err != nil {
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
// unreachable is a 503 for the client, never a hang or a 500. A change in
// flight may or may not have been made.
func dbError(ctx context.Context, err error) error {
	derr := unavailable(ctx, err, "try again (a change in flight may or may not have been made: check the lock)")
	if le, ok := derr.(*lock.Error); ok && !errors.As(err, new(*lock.Error)) {
		le.MaybeMade = true
	}
	return derr
}

// unavailable is the domain error for a database failure, then saying
// what became of the change and what to do. Its Summary, what the client
// reads, leaves out the driver's error, which names the database's
// address, user and name: the message, with it, goes to the log.
func unavailable(ctx context.Context, err error, then string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var le *lock.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The driver's error in the message too, and so in the log:
		// the API logs a failure with its request only when the
		// message says more than the summary.
		return &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the lock database did not answer in time (%v); %s", err, then), Summary: "the lock database did not answer in time; " + then}
	}
	return &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the lock database is unavailable (%v); %s", err, then), Summary: "the lock database is unavailable; " + then}
}

// bounded is ctx with QueryTimeout for a statement.
func (s *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.QueryTimeout)
}

// Now implements lock.Clock: the database's clock, which decides leases.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	now, err := reread(s, ctx, func(qctx context.Context) (time.Time, error) {
		var now time.Time
		err := s.pool.QueryRow(qctx, `SELECT clock_timestamp()`).Scan(&now)
		return now, err
	})
	if err != nil {
		return time.Time{}, readError(ctx, err)
	}
	return now.UTC(), nil
}

// Fence is the fence counter: the last token the database's sequence
// handed out (0: none yet). locker migrate carries it to the target, since
// it can be above every token the locks show.
func (s *Store) Fence(ctx context.Context) (uint64, error) {
	f, err := reread(s, ctx, func(qctx context.Context) (int64, error) {
		var f int64
		err := s.pool.QueryRow(qctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM locker_fence`).Scan(&f)
		return f, err
	})
	if err != nil {
		return 0, readError(ctx, err)
	}
	return uint64(f), nil
}

// Get implements lock.Store.
func (s *Store) Get(ctx context.Context, name string) (lock.Lock, bool, error) {
	var found bool
	l, err := reread(s, ctx, func(qctx context.Context) (lock.Lock, error) {
		l, err := scanLock(s.pool.QueryRow(qctx, `SELECT name, key, holds, fence, since, free_since, pools, metadata FROM locker_locks WHERE name = $1`, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return lock.Lock{}, nil
		}
		found = err == nil
		return l, err
	})
	if err != nil {
		return lock.Lock{}, false, readError(ctx, err)
	}
	return l, found, nil
}

// List implements lock.Store.
func (s *Store) List(ctx context.Context) ([]*lock.Lock, error) {
	// Every lock, with its metadata: with 100,000 locks of large metadata
	// that takes seconds, so it gets six times the bound of a statement.
	return s.queryLocks(ctx, 6*s.opts.QueryTimeout, true, `SELECT name, key, holds, fence, since, free_since, pools, metadata FROM locker_locks`)
}

// ListPool implements lock.Store: the pool's members, found through the
// index on pools (schema 2).
func (s *Store) ListPool(ctx context.Context, pool string) ([]*lock.Lock, error) {
	return s.queryLocks(ctx, s.opts.QueryTimeout, false, `SELECT name, key, holds, fence, since, free_since, pools, metadata FROM locker_locks WHERE pools @> ARRAY[$1::text]`, pool)
}

// queryLocks reads the locks a query selects, within the time given; long
// when that may be more than the connection's statement_timeout allows
// (which the URL may set to anything).
func (s *Store) queryLocks(ctx context.Context, within time.Duration, long bool, query string, args ...any) ([]*lock.Lock, error) {
	out, err := rereadWithin(s, ctx, within, func(qctx context.Context) ([]*lock.Lock, error) {
		var q interface {
			Query(context.Context, string, ...any) (pgx.Rows, error)
		} = s.pool
		if long {
			// In a transaction that allows the statement this long.
			tx, err := s.pool.Begin(qctx)
			if err != nil {
				return nil, err
			}
			defer func() { // read only: ended either way, within bounds
				rctx, cancel := context.WithTimeout(context.WithoutCancel(qctx), s.opts.QueryTimeout)
				defer cancel()
				tx.Rollback(rctx)
			}()
			if _, err := tx.Exec(qctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", within.Milliseconds())); err != nil {
				return nil, err
			}
			q = tx
		}
		rows, err := q.Query(qctx, query, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []*lock.Lock
		for rows.Next() {
			l, err := scanLock(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, &l)
		}
		return out, rows.Err()
	})
	if err != nil {
		return nil, readError(ctx, err)
	}
	return out, nil
}

// History implements lock.Store.
func (s *Store) History(ctx context.Context, name string) ([]lock.Event, error) {
	out, err := reread(s, ctx, func(qctx context.Context) ([]lock.Event, error) {
		rows, err := s.pool.Query(qctx, `SELECT event FROM (
			SELECT id, event FROM locker_history WHERE name = $1 ORDER BY id DESC LIMIT $2) newest ORDER BY id`, name, s.opts.HistoryLimit)
		if err != nil {
			return nil, err
		}
		return scanEvents(rows)
	})
	if err != nil {
		return nil, readError(ctx, err)
	}
	return out, nil
}

// readError is dbError for a read, which changed nothing.
func readError(ctx context.Context, err error) error {
	return unavailable(ctx, err, "try again")
}

// reread runs read, with QueryTimeout, and once more if its connection
// turned out dead (the database restarted, or its sessions were
// terminated): the pool still holds such connections, idle, until it next
// checks them, and a read is safe to repeat. The pool's connections are
// dropped first, so that the second try gets a new one.
func reread[T any](s *Store, ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	return rereadWithin(s, ctx, s.opts.QueryTimeout, read)
}

// rereadWithin is reread with a bound of its own.
func rereadWithin[T any](s *Store, ctx context.Context, bound time.Duration, read func(context.Context) (T, error)) (T, error) {
	for try := 0; ; try++ {
		qctx, cancel := context.WithTimeout(ctx, bound)
		v, err := read(qctx)
		cancel()
		if err == nil || try > 0 || ctx.Err() != nil || !connectionLost(err) {
			return v, err
		}
		s.pool.Reset()
	}
}

// connectionLost reports whether err says the connection, rather than the
// statement, failed: a network error, or PostgreSQL's connection
// exceptions (08) and operator interventions (57P: shutdown, a terminated
// session). Not a deadline: that would be waited for twice.
func connectionLost(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// readFailed is an error of a change's read, before anything was written:
// safe to try again.
type readFailed struct{ error }

func (e readFailed) Unwrap() error { return e.error }

// scanEvents reads rows of one column, an event, and closes them.
func scanEvents(rows pgx.Rows) ([]lock.Event, error) {
	defer rows.Close()
	var out []lock.Event
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var ev lock.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Reporting implements lock.Reporter: an error while the LISTEN connection
// is down.
func (s *Store) Reporting() error {
	if !s.listening.Load() {
		return lock.Errorf(lock.EUNAVAILABLE, "this server cannot hear of changes now (its database connection for notifications is down): try again")
	}
	return nil
}

// Ready implements lock.Store: the database answers, and takes changes.
// One that answers read-only (a standby that a failover left the
// replicas' address pointing at, or default_transaction_read_only)
// refuses every change: not ready either, saying so.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var standby, readOnly bool
	err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'`).Scan(&standby, &readOnly)
	if err == nil && (standby || readOnly) {
		why := "default_transaction_read_only"
		if standby {
			why = "a standby in recovery"
		}
		msg := "the lock database is read-only (" + why + "): it takes no changes"
		return &lock.Error{Code: lock.EUNAVAILABLE, Message: msg, Summary: msg}
	}
	if err != nil {
		if st := s.pool.Stat(); st.AcquiredConns() >= st.MaxConns() {
			// No connection to ping with: the database may be
			// reachable, and slow or locked.
			busy := fmt.Sprintf("all %d of this server's connections to the lock database are busy (a slow or locked database?)", st.MaxConns())
			return &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("%s: %v", busy, err), Summary: busy}
		}
		// The driver's error names the database, its user and address:
		// for the log, not the open /readyz.
		return &lock.Error{Code: lock.EUNAVAILABLE, Message: fmt.Sprintf("the lock database is unreachable: %v", err), Summary: "the lock database is unreachable"}
	}
	return nil
}

// Session is a connection of a Locker server, as pg_stat_activity shows it.
type Session struct {
	Name string // its application_name
	// Addr is its client's address: "local" for a Unix socket, "" when
	// this role may not see it (only superusers, members of
	// pg_read_all_stats and of the session's role may).
	Addr string
}

// Servers returns the connections of Locker servers to this store's
// database and schema (locker migrate refuses to copy while there are
// any), each once: those holding the schema's presence lock (each
// server's LISTEN connection, however it is named), those named as
// servers of its schema, and those named as its URL names connections
// (which servers started with the same URL are). Any role sees other
// sessions' names and locks. A store that is not a tool counts its own
// connections too, but for the one that asks: call it on a store with
// Options.Tool and Options.ApplicationName. Servers of a Locker version
// that neither names its connections nor holds the lock are not seen.
func (s *Store) Servers(ctx context.Context) ([]Session, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	var out []Session
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The name a server of this schema gives its connections, as
		// PostgreSQL keeps it (cut to 63 bytes, characters other than
		// printable ASCII as '?'): set for this transaction only.
		var name string
		if err := tx.QueryRow(ctx, `SELECT set_config('application_name', $1 || coalesce(current_schema(), ''), true)`, serverName).Scan(&name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT application_name, host(client_addr), client_port
			FROM pg_catalog.pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
				AND (application_name = $1 OR ($2 <> '' AND application_name = $2)
					OR pid IN (SELECT l.pid FROM pg_catalog.pg_locks l
						WHERE l.locktype = 'advisory' AND l.objsubid = 2
							AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
							AND l.classid = $3::int4::oid
							AND l.objid = hashtext($4 || coalesce(current_schema(), ''))::oid))
			ORDER BY client_addr, pid`, name, s.urlName, int32(presenceKey), serverName)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				sess Session
				addr *string
				port *int32
			)
			if err := rows.Scan(&sess.Name, &addr, &port); err != nil {
				return err
			}
			switch {
			case addr != nil:
				sess.Addr = *addr
			case port != nil && *port == -1:
				sess.Addr = "local"
			}
			out = append(out, sess)
		}
		return rows.Err()
	})
	return out, err
}
