package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations, in order: migrations[i] takes the schema from version i to
// i+1. Never edit one that has shipped; add a new one.
var migrations = []string{
	// 1: locks, their history, the fence sequence, the shared wait queue.
	`CREATE TABLE locker_locks (
		name       text PRIMARY KEY,
		key        text NOT NULL DEFAULT '',
		holds      jsonb NOT NULL DEFAULT '{}',
		fence      bigint NOT NULL DEFAULT 0,
		since      timestamptz,
		updated_at timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE locker_history (
		id    bigserial PRIMARY KEY,
		name  text NOT NULL,
		event jsonb NOT NULL
	);
	CREATE INDEX locker_history_name_id ON locker_history (name, id);
	CREATE SEQUENCE locker_fence;
	CREATE TABLE locker_waiters (
		id        bigserial PRIMARY KEY,
		name      text NOT NULL,
		key       text NOT NULL,
		holder    text NOT NULL,
		replica   text NOT NULL,
		heartbeat timestamptz NOT NULL DEFAULT clock_timestamp()
	);
	CREATE INDEX locker_waiters_name_id ON locker_waiters (name, id);
	CREATE INDEX locker_waiters_replica ON locker_waiters (replica);`,
	// 2: pools: membership, metadata, and when a member became free.
	`ALTER TABLE locker_locks
		ADD COLUMN free_since timestamptz,
		ADD COLUMN pools text[] NOT NULL DEFAULT '{}',
		ADD COLUMN metadata jsonb;
	CREATE INDEX locker_locks_pools ON locker_locks USING gin (pools);`,
	// 3: a version per lock row, bumped by every update whoever makes it
	// (a trigger, so that replicas of an older locker, which lock the row
	// instead, bump it too): changes are written only over the version
	// they read.
	`ALTER TABLE locker_locks ADD COLUMN version bigint NOT NULL DEFAULT 0;
	CREATE FUNCTION locker_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		NEW.version := OLD.version + 1;
		RETURN NEW;
	END $$;
	CREATE TRIGGER locker_locks_version BEFORE UPDATE ON locker_locks
		FOR EACH ROW EXECUTE FUNCTION locker_bump_version();`,
	// 4: a waiter whose wait ran out keeps its place until kept_until for
	// the same key and holder asking again; meanwhile it is not live.
	`ALTER TABLE locker_waiters ADD COLUMN IF NOT EXISTS kept_until timestamptz;`,
	// 5: when a waiter took its place in line, for the metrics' oldest
	// wait across replicas. A kept place taken back keeps it. Rows of
	// older replicas get it from the default; rows there are now get
	// the migration's time.
	`ALTER TABLE locker_waiters ADD COLUMN IF NOT EXISTS joined timestamptz NOT NULL DEFAULT clock_timestamp();`,
	// 6: each lock row's lifetime, a number given as it is made, above
	// that of every row of its name before it (order.go): a lock
	// forgotten and made again is a new row, whose versions start again
	// at 1, and replicas pass a lock's events on in order of lifetime,
	// then version. From locker_history's id sequence, which every role
	// that writes may already use (a sequence of its own would need a
	// grant at the upgrade), also for the rows of older replicas. Rows
	// there now get 1, below every number given after: the sequence is
	// moved past it first.
	`ALTER TABLE locker_locks ADD COLUMN IF NOT EXISTS lifetime bigint NOT NULL DEFAULT 1;
	SELECT nextval('locker_history_id_seq');
	ALTER TABLE locker_locks ALTER COLUMN lifetime SET DEFAULT nextval('locker_history_id_seq');`,
}

// migrateLockID is the advisory lock that serialises migrations when
// several replicas start at once ("locker" in ASCII).
const migrateLockID = 0x6c6f636b6572

// madeQuery reports whether this store's schema has a locker_schema table.
const madeQuery = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = current_schema() AND c.relname = 'locker_schema')`

// migrate brings the schema to the latest version. Replicas starting
// together take turns on an advisory lock; each migration runs in its own
// transaction with the version bump.
func migrate(ctx context.Context, pool *pgxpool.Pool, mustBeMade bool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// A migration (and the wait for another replica's) may take longer
	// than the connection's statement_timeout allows a statement, or a
	// lock_timeout (the database's, a role's, the URL's) allows a wait
	// for a lock: replicas that start together would refuse to start
	// rather than wait for the first one's migration. ctx bounds both.
	var was, wasLock string
	if err := conn.QueryRow(ctx, `SELECT current_setting('statement_timeout'), current_setting('lock_timeout')`).Scan(&was, &wasLock); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0; SET lock_timeout = 0`); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)`, was, wasLock)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockID)
	// Created only when missing: once the schema is made, a database user
	// that may read and write Locker's tables, and create nothing, starts
	// (CREATE TABLE IF NOT EXISTS needs the right to create all the same).
	// Looked for in this store's schema only (current_schema(), the first
	// on search_path that exists, where CREATE TABLE makes it, and which
	// names the connections and the channel), not along the whole path
	// as to_regclass('locker_schema') would: another installation
	// further on it (in public, say) is not this one's.
	var (
		schema *string
		path   string
		user   string
	)
	if err := conn.QueryRow(ctx, `SELECT current_schema(), current_setting('search_path'), current_user`).Scan(&schema, &path, &user); err != nil {
		return err
	}
	if schema == nil {
		// PostgreSQL would say "no schema has been selected to create in".
		return fmt.Errorf("search_path %q names no schema that exists and that database user %q may use (USAGE): create the schema first and grant USAGE on it; a schema name with capitals, dots or other characters must be double-quoted in search_path (search_path=%%22Locker%%22 in a URL for the schema \"Locker\"), or PostgreSQL folds it to lower case", path, user)
	}
	var made bool
	if err := conn.QueryRow(ctx, madeQuery).Scan(&made); err != nil {
		return err
	}
	if !made && mustBeMade {
		var schema string
		conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema)
		return fmt.Errorf("there are no Locker tables in schema %q (no table locker_schema): is search_path (or the database) right?", schema)
	}
	if !made {
		if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS locker_schema (version int NOT NULL)`); err != nil {
			return mayNotMake(ctx, conn.Conn(), 0, err)
		}
	}
	var version int
	err = conn.QueryRow(ctx, `SELECT version FROM locker_schema`).Scan(&version)
	switch {
	case err == pgx.ErrNoRows:
		if _, err := conn.Exec(ctx, `INSERT INTO locker_schema (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("the database schema is version %d, newer than this locker knows (%d): upgrade locker", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE locker_schema SET version = $1`, v+1)
			return err
		})
		if err != nil {
			if v > 0 {
				return mayNotMake(ctx, conn.Conn(), v, fmt.Errorf("migrating the schema to version %d: %w", v+1, err))
			}
			return mayNotMake(ctx, conn.Conn(), 0, err)
		}
	}
	return nil
}

// mayNotMake explains err, a migration's from version (0: making the
// schema), when it is PostgreSQL's refusal of a database user's rights
// (42501): replicas may run as a user that may only read and write
// Locker's tables (docs/ha.md), and such a user can neither make the
// schema nor upgrade it. Other errors are returned as they are.
func mayNotMake(ctx context.Context, conn *pgx.Conn, version int, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		return err
	}
	var user, schema, owner string
	// Best effort: the owner of Locker's tables, when they are made.
	conn.QueryRow(ctx, `SELECT current_user, coalesce(current_schema(), ''),
		coalesce((SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relname = 'locker_locks'), '')`).Scan(&user, &schema, &owner)
	if version == 0 {
		return fmt.Errorf("database user %q may not create Locker's tables in schema %q (%w): start Locker once as a user that may (the schema's owner, say), which makes them, then the replicas as %q with the grants docs/ha.md lists; or GRANT CREATE ON SCHEMA %s TO %s",
			user, schema, err, user, pgx.Identifier{schema}.Sanitize(), pgx.Identifier{user}.Sanitize())
	}
	who := "the owner of Locker's tables"
	if owner != "" {
		who = fmt.Sprintf("the owner of Locker's tables, %q", owner)
	}
	return fmt.Errorf("schema %q is at version %d, and this Locker needs version %d, which database user %q may not make (%w): start this version once as %s (LOCKER_DATABASE_URL with that user: it upgrades the schema as it starts, and may be stopped again), then the replicas as %q; grant %q again what docs/ha.md lists, for what the upgrade made",
		schema, version, len(migrations), user, err, who, user, user)
}
