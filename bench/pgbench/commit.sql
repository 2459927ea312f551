-- The database's ceiling: one single-row UPDATE per transaction, each
-- client on a row of its own (run with -c 8: clients 0..7).
UPDATE locker_pgbench.locker_locks SET fence = fence + 1 WHERE name = 'bench-' || (:client_id + 1);
