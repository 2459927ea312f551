-- One Locker change as pgstore makes it (pgstore/store.go): read the lock,
-- the clock and its wait queue; write the lock over the version read, with
-- one history event, checking the write's deadline before and after it
-- (writeBy). Each client on a lock of its own.
SELECT v.n, coalesce(l.key, ''), coalesce(l.holds, '{}'), coalesce(l.fence, 0), l.since, l.free_since,
	coalesce(l.pools, '{}'), l.metadata, coalesce(l.version, -1) AS version, clock_timestamp(),
	CASE WHEN coalesce(l.key, '') = '' THEN nextval('locker_pgbench.locker_fence') END
	FROM (SELECT 'bench-' || (:client_id + 1) AS n) v LEFT JOIN locker_pgbench.locker_locks l ON l.name = v.n \gset
SELECT id, key, holder FROM locker_pgbench.locker_waiters
	WHERE name = 'bench-' || (:client_id + 1) AND heartbeat > clock_timestamp() - '10s'::interval ORDER BY id;
WITH t AS MATERIALIZED (
	SELECT clock_timestamp() < clock_timestamp() + '8s'::interval AS in_time
), u AS (
	UPDATE locker_pgbench.locker_locks l SET key = 'k', holds = '{"k": {"count": 1, "acquired": "2026-11-26T00:00:00Z"}}',
		updated_at = clock_timestamp() FROM t WHERE t.in_time AND name = 'bench-' || (:client_id + 1) AND version = :version RETURNING l.version
), h AS (
	INSERT INTO locker_pgbench.locker_history (name, event)
	SELECT 'bench-' || (:client_id + 1), '{"type": "acquired", "lock": "x", "key": "k", "holder": "k", "count": 1, "fence": 1, "time": "2026-11-26T00:00:00Z"}' FROM u
	RETURNING id
), c AS (
	SELECT CAST(CASE WHEN clock_timestamp() < clock_timestamp() + '8s'::interval THEN '0' ELSE 'late' END AS int) AS n
	FROM (SELECT count(*) FROM h) written
)
SELECT (SELECT version FROM u), (SELECT n FROM c);
