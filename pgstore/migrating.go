package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A copy by locker migrate into a database marks it unfinished, in the
// table locker_migrating of the store's schema, until every lock is
// written: a copy stopped half way (killed, the database lost) leaves a
// store with only part of the locks, and replicas started on it would grant
// locks the source's holders still hold. Open refuses such a store unless
// Options.Migrating. Older Lockers do not know the table, and ignore it.

// MarkMigrating marks the store as the target of a copy that has not
// finished; note says which (its source and start). marked is false, with
// no error, when the database user may not create the table (one that may
// only read and write Locker's tables, docs/ha.md): the copy goes on
// unmarked, as copies did before the mark.
func (s *Store) MarkMigrating(ctx context.Context, note string) (marked bool, err error) {
	_, err = s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS locker_migrating (note text NOT NULL)`)
	if denied(err) {
		return false, nil
	}
	if err == nil {
		_, err = s.pool.Exec(ctx, `INSERT INTO locker_migrating (note) VALUES ($1)`, note)
	}
	return err == nil, err
}

// UnmarkMigrating removes the mark, once every lock is written.
func (s *Store) UnmarkMigrating(ctx context.Context) error {
	if _, ok, err := migrating(ctx, s.pool); err != nil || !ok {
		return err
	}
	_, err := s.pool.Exec(ctx, `DROP TABLE locker_migrating`)
	if denied(err) {
		return fmt.Errorf("%w: DROP TABLE locker_migrating as its owner (who made it by a copy before), or servers refuse to start", err)
	}
	return err
}

// Migrating says whether the store is marked as the target of an
// unfinished copy, and the mark's note (the first copy's, when several
// were started).
func (s *Store) Migrating(ctx context.Context) (note string, ok bool, err error) {
	return migrating(ctx, s.pool)
}

func migrating(ctx context.Context, pool *pgxpool.Pool) (note string, ok bool, err error) {
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname = 'locker_migrating')`).Scan(&ok)
	if err != nil || !ok {
		return "", false, err
	}
	err = pool.QueryRow(ctx, `SELECT note FROM locker_migrating ORDER BY ctid LIMIT 1`).Scan(&note)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = nil
	case denied(err):
		// Made by another database user (the owner, copying): it is
		// there, which is what counts.
		note, err = "its note is not readable by this database user", nil
	}
	return note, true, err
}

// denied reports whether err is PostgreSQL's refusal for want of a
// privilege (42501).
func denied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}

// unfinishedCopy is Open's refusal of a store marked by MarkMigrating.
func unfinishedCopy(schema, note string) error {
	return fmt.Errorf("schema %q holds only part of the locks of an unfinished locker migrate into it (%s; marked by its table locker_migrating): replicas started on it would grant locks that their holders in the source still hold. Run that locker migrate again with --force to finish the copy, or, to use the store as it is, DROP TABLE locker_migrating in that schema", schema, note)
}
