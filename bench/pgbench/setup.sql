-- Reference tables for the PostgreSQL figures in docs/benchmarks.md: the
-- same shape as Locker's (pgstore/schema.go), in a schema of their own.
-- psql -h 127.0.0.1 -U postgres test -f bench/pgbench/setup.sql
DROP SCHEMA IF EXISTS locker_pgbench CASCADE;
CREATE SCHEMA locker_pgbench;
SET search_path = locker_pgbench;
CREATE TABLE locker_locks (
	name text PRIMARY KEY, key text NOT NULL DEFAULT '', holds jsonb NOT NULL DEFAULT '{}',
	fence bigint NOT NULL DEFAULT 0, since timestamptz, updated_at timestamptz NOT NULL DEFAULT now(),
	free_since timestamptz, pools text[] NOT NULL DEFAULT '{}', metadata jsonb, version bigint NOT NULL DEFAULT 0);
CREATE INDEX ON locker_locks USING gin (pools);
CREATE TABLE locker_history (id bigserial PRIMARY KEY, name text NOT NULL, event jsonb NOT NULL);
CREATE INDEX ON locker_history (name, id);
CREATE SEQUENCE locker_fence;
CREATE TABLE locker_waiters (id bigserial PRIMARY KEY, name text NOT NULL, key text NOT NULL,
	holder text NOT NULL, replica text NOT NULL, heartbeat timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON locker_waiters (name, id);
CREATE FUNCTION locker_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$;
CREATE TRIGGER locker_locks_version BEFORE UPDATE ON locker_locks
	FOR EACH ROW EXECUTE FUNCTION locker_bump_version();
INSERT INTO locker_locks (name) SELECT 'bench-' || g FROM generate_series(1, 64) g;
