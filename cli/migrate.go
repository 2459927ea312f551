package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/pgstore"
)

const migrateHelp = `Usage: locker migrate --from STORE --to STORE [--force] [--ignore-servers]
       locker migrate --from STORE --to FILE --original [--ignore-servers]

Copies every lock from one store to another, so that a team can move from the
file store to PostgreSQL (for several replicas; see docs/ha.md) or back without
releasing anything. A STORE is a PostgreSQL database, as in
LOCKER_DATABASE_URL: a URL (postgres://...) or a connection string of
keyword=value pairs ('host=db user=locker dbname=concourse'); or else the
path of a data file, as in LOCKER_CONFIG (write ./host=x for a file whose
name starts like a connection string). Passwords are never printed, but a
command line is visible to other users (ps): leave the password out of it and
set PGPASSWORD (or use ~/.pgpass), which is used when the URL has none.

Each lock keeps its key, its holders with their counts, acquisition times and
leases, its fence token, its pools and metadata, and its recent history.
Fence tokens go on from above the source's fence counter (at least the highest
token copied; higher when a damaged record's token was dropped, or salvage
skipped some), so a token handed out after the move is always greater than
any handed out before it. Requests
waiting for a lock are not copied.

The source is only read: a data file and the files beside it are left
exactly as they were (the way back), and no server starts on it during the
copy. Stop every Locker server that uses either store first, so that nothing
changes during the copy: a data file in use by a running server is refused,
and so is a database that Locker servers are connected to (each server of
the same schema holds an advisory lock that says so, however its
connections are named; connections named as servers of that schema, or as
the URL names them, count too; servers of a Locker that does neither yet
are not seen). A source
database whose schema has no Locker tables is refused (is search_path
right?), not copied as an empty store. Then start the
servers on the target. A copy that takes more than a few seconds says on
stderr how far it got. Run it with the servers' LOCKER_HISTORY when they keep
more than the default 100 events per lock, or the oldest are not copied
(into a file, at most 2048, what the file store keeps). Run as root (sudo),
it gives the files it makes to the owner of the data file, or of its
directory for a new one, so that a server run as that user opens them.

Flags:
  --from STORE   where the locks are now
  --to STORE     where they go; it must hold no locks yet
  --force        copy even if the target already holds locks: a lock of the
                 same name is replaced (its history appended to; each is
                 listed, with its holders, who lose their holds, also by a
                 copy that stops half way); the target's other locks,
                 which the source does not have, are kept as they are,
                 held ones still held (a holder may be at work), and
                 listed, held ones with their holders. A lock that is there as the source has it (copied
                 by a run that stopped half way) is left as it is, so running
                 the copy again with --force finishes it. Until a copy has
                 written its last lock, the target is marked unfinished
                 (a table locker_migrating, a file <file>.migrating), and
                 servers refuse to start on it
  --original     write FILE in the original locker's format instead, to go
                 back to it: each lock keeps its key and its holders' counts;
                 fence tokens, pools, metadata and history are left out, and
                 so are leases (the holds they would have ended last until
                 released; they are listed). FILE must not exist yet. A
                 source in the original locker's format is read as it is
  --ignore-servers
                 copy even though Locker servers are connected to the source
                 or target database (they are listed): for connections that
                 are not this installation's servers, as a pooler's (PgBouncer)
                 left open after the servers stopped, or other programs' that
                 share the URL's application_name
  -h, --help     show this help
`

// runMigrate copies every lock from one store to another.
func runMigrate(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	fs := commandFlags("locker migrate")
	from := fs.String("from", "", "source store")
	to := fs.String("to", "", "target store")
	force := fs.Bool("force", false, "copy over locks already in the target")
	original := fs.Bool("original", false, "write the original locker's format")
	ignoreServers := fs.Bool("ignore-servers", false, "copy even though Locker servers are connected to a database")
	if done, err := parseFlags(fs, args, migrateHelp, stdout); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: locker migrate takes no arguments besides its flags (got %q); see locker migrate --help", errUsage, fs.Args())
	case *from == "" || *to == "":
		return fmt.Errorf("%w: locker migrate needs --from and --to, e.g. locker migrate --from /var/lib/locker/locks.yml --to postgres://locker@db/locker", errUsage)
	case *from == *to:
		return fmt.Errorf("%w: --from and --to are the same store (%s)", errUsage, redactStore(*from))
	case sameDataFile(*from, *to):
		return fmt.Errorf("%w: --from and --to are the same store: %s and %s are the same file", errUsage, *from, *to)
	case sameDatabase(ctx, *from, *to):
		return fmt.Errorf("%w: --from and --to are the same store: %s and %s reach the same database and schema", errUsage, redactStore(*from), redactStore(*to))
	case *original && isDatabase(*to):
		return fmt.Errorf("%w: --original writes a file for the original locker: --to names that file, not a database", errUsage)
	case *original && *force:
		return fmt.Errorf("%w: --original never writes over a file: name a new one, and drop --force", errUsage)
	}
	if err := targetDirectory(*to); err != nil {
		return err
	}
	mc := &migration{ignoreServers: *ignoreServers, stderr: stderr}
	if *original {
		return mc.exportOriginal(ctx, *from, *to, stdout)
	}
	// The stores keep as many events per lock as the server does: a
	// source with more than the default would lose the oldest.
	history := 0
	if v := env("LOCKER_HISTORY"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			history = n
		} else {
			return fmt.Errorf("%w: LOCKER_HISTORY=%q is not a positive number", errUsage, v)
		}
		if history > filestore.MaxHistoryLimit && !isDatabase(*to) {
			return fmt.Errorf("%w: %s to copy into a file (each lock's newest events are copied)", errUsage, historyTooLong(history))
		}
	}
	res, err := mc.migrateLocks(ctx, *from, *to, *force, history)
	if err != nil {
		// A copy stopped half way has replaced some already, whose
		// holders lost their holds: run again, it finds them as the
		// source has them, and does not list them.
		printReplaced(stdout, res.replaced)
		return err
	}
	if res.original {
		fmt.Fprintf(stdout, "%s is in the original locker's format: read as it is, not converted (the original locker can still use it)", *from)
		if res.maxFence > 0 {
			fmt.Fprintf(stdout, "; its held locks get fence tokens 1 to %d, in name order", res.maxFence)
		}
		fmt.Fprintln(stdout)
		if len(res.leftOut) > 0 {
			fmt.Fprintf(stdout, "left out %s not valid lock names now (too long, or with control characters): %s\n", count(len(res.leftOut), "free lock whose name is", "free locks whose names are"), strings.Join(quoteAll(res.leftOut), ", "))
		}
	}
	fmt.Fprintf(stdout, "copied %s (%d held) and %s from %s to %s",
		count(res.locks, "lock", "locks"), res.held, count(res.events, "history event", "history events"), redactStore(*from), redactStore(*to))
	if res.maxFence > 0 {
		fmt.Fprintf(stdout, "; fence tokens go on above %d", res.maxFence)
	}
	fmt.Fprintln(stdout)
	printReplaced(stdout, res.replaced)
	printKept(stdout, res.kept)
	if res.already > 0 {
		fmt.Fprintf(stdout, "left %s already in the target as %s in the source (copied by an earlier run)\n", count(res.already, "lock", "locks"), plural(res.already, "it is", "they are"))
	}
	if res.skipped > 0 {
		fmt.Fprintf(stdout, "skipped %s never changed since imported (no history): a free lock is the same as a new one\n", count(res.skipped, "free lock", "free locks"))
	}
	return nil
}

// printReplaced lists the target's locks that a copy with --force replaced,
// with their holders, who lost their holds.
func printReplaced(stdout io.Writer, replaced []*lock.Lock) {
	if len(replaced) == 0 {
		return
	}
	sort.Slice(replaced, func(i, j int) bool { return replaced[i].Name < replaced[j].Name })
	fmt.Fprintf(stdout, "replaced %s the target had:", count(len(replaced), "lock", "locks"))
	for i, l := range replaced {
		if i > 0 {
			fmt.Fprint(stdout, ";")
		}
		fmt.Fprintf(stdout, " %q, %s", l.Name, salvagedState(l, false))
	}
	fmt.Fprintln(stdout)
}

// printKept lists the target's locks that a copy with --force kept as they
// were, the source not having them (or having them only free and never
// used): the held ones with their holders, who keep their holds, whether
// at work or stale; the free ones counted.
func printKept(stdout io.Writer, kept []*lock.Lock) {
	if len(kept) == 0 {
		return
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	var held []string
	for _, l := range kept {
		if !l.Free() {
			held = append(held, fmt.Sprintf("%q, %s", l.Name, salvagedState(l, false)))
		}
	}
	fmt.Fprintf(stdout, "kept %s the target had that the source does not, as %s: %d free", count(len(kept), "lock", "locks"), plural(len(kept), "it was", "they were"), len(kept)-len(held))
	if len(held) == 0 {
		fmt.Fprintln(stdout)
		return
	}
	fmt.Fprintf(stdout, ", and %d held: %s. Their holders keep their holds: release a stale one with locker unlock NAME --force once a server runs on the target\n", len(held), strings.Join(held, "; "))
}

// exportOriginal writes the locks of the store from to the file to in the
// original locker's format.
func (mc *migration) exportOriginal(ctx context.Context, from, to string, stdout io.Writer) error {
	var (
		locks   []*lock.Lock
		leftOut []string
	)
	if !isDatabase(from) {
		// Read, not opened as a server opens it: a source in the original
		// locker's format would be converted in place, and the original
		// locker could no longer read it.
		c, err := readFileSource(from, 0)
		if err != nil {
			return err
		}
		defer c.Close() // no server starts on it meanwhile
		locks, leftOut = c.Locks, c.Skipped
	} else {
		src, err := mc.openStore(ctx, from, "source", 0, 0)
		if err != nil {
			return err
		}
		defer src.Close()
		if locks, err = src.List(ctx); err != nil {
			return fmt.Errorf("reading the locks of %s: %w", redactStore(from), err)
		}
	}
	res, err := filestore.WriteOriginal(to, locks, time.Now())
	if err != nil {
		return fmt.Errorf("writing %s: %w", to, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d held) from %s to %s in the original locker's format; fence tokens, pools, metadata and history are not in it\n",
		count(res.Locks, "lock", "locks"), res.Held, redactStore(from), to)
	fmt.Fprintf(stdout, "note: Locker started on that file again numbers fence tokens from 1: services that check tokens must forget the ones they have seen\n")
	if res.Expired > 0 {
		fmt.Fprintf(stdout, "left out %s\n", count(res.Expired, "hold whose lease had run out", "holds whose leases had run out"))
	}
	if len(leftOut) > 0 {
		fmt.Fprintf(stdout, "left out %s not valid lock names now (too long, or with control characters): %s\n", count(len(leftOut), "free lock whose name is", "free locks whose names are"), strings.Join(quoteAll(leftOut), ", "))
	}
	if n := len(res.Leases); n > 0 {
		fmt.Fprintf(stdout, "%s, which the original locker does not end: %s until released:\n", count(n, "hold had a lease", "holds had a lease"), plural(n, "it lasts", "they last"))
		for _, h := range res.Leases {
			fmt.Fprintf(stdout, "  %q held by %q\n", h[0], h[1])
		}
	}
	return nil
}

// count is "1 lock", "2 locks": n and one or many.
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

// plural is one for 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

type migrateResult struct {
	locks, held, events, skipped int
	already                      int          // in the target as in the source (--force)
	original                     bool         // the source is the original locker's file
	leftOut                      []string     // its free locks with names no longer valid
	replaced                     []*lock.Lock // the target's locks written over (--force)
	kept                         []*lock.Lock // the target's locks the source does not have (--force)
	maxFence                     uint64
}

// migrateLocks does the copy: it reads the source's locks, refuses a target
// that holds locks (unless force), reads the locks' histories, raises the
// target's fence counter above every copied token, then writes each lock's
// state and history.
func (mc *migration) migrateLocks(ctx context.Context, from, to string, force bool, history int) (res migrateResult, err error) {
	if !force && !isDatabase(to) {
		// Opening a file in the original locker's format converts it:
		// one with locks is refused before, and left as it is, so that
		// the original locker can still read it.
		if names := originalLockerLocks(to); len(names) > 0 {
			return res, fmt.Errorf("%w (it is in the original locker's format, and is left as it is)", targetNotEmpty(to, names))
		}
	}
	var (
		src   lock.Store          // a database's
		file  *filestore.Contents // a data file's
		locks []*lock.Lock
	)
	if !isDatabase(from) {
		// Read, not opened as a server opens it: that may compact it
		// (cutting its history to this run's limit), cut off a torn
		// record, start a segment, or convert the original locker's file
		// in place. The source is the way back: it is left exactly as
		// it was, for the original locker too, and locked until the copy
		// ends, so that no server starts on it meanwhile.
		if file, err = readFileSource(from, history); err != nil {
			return res, err
		}
		defer file.Close()
		// Its counter, which can be above every token its locks show (a
		// token in a record dropped by a start or by salvage, or legible
		// in a torn one).
		locks, res.maxFence = file.Locks, file.Fence
		res.original, res.leftOut = file.Original, file.Skipped
	}
	if file == nil {
		if src, err = mc.openStore(ctx, from, "source", history, 0); err != nil {
			return res, err
		}
		defer src.Close()
		if locks, err = src.List(ctx); err != nil {
			return res, fmt.Errorf("reading the locks of %s: %w", redactStore(from), err)
		}
		// The source's counter, which can be above every token its
		// locks show: a token in a record that a start or salvage
		// dropped, whose holder may still be at work, is counted there
		// and nowhere else.
		if res.maxFence, err = fenceCounter(ctx, src); err != nil {
			return res, fmt.Errorf("reading the fence counter of %s: %w", redactStore(from), err)
		}
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].Name < locks[j].Name })
	dst, err := mc.openStore(ctx, to, "target", history, 0)
	if err != nil {
		return res, err
	}
	closed := false
	defer func() {
		if !closed {
			dst.Close()
		}
	}()
	existing, err := dst.List(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the locks of %s: %w", redactStore(to), err)
	}
	if len(existing) > 0 && !force {
		names := make([]string, 0, len(existing))
		for _, l := range existing {
			names = append(names, l.Name)
		}
		err := targetNotEmpty(to, names)
		if note, ok, _ := migratingNote(ctx, dst, to); ok {
			err = fmt.Errorf("%w. It is the target of a locker migrate that did not finish (%s): run it again with --force to finish the copy", err, note)
		}
		return res, err
	}
	// The histories are read once the target is known to take them:
	// 100,000 locks from a database take a while.
	histories := make([][]lock.Event, len(locks))
	reading := mc.progress("read %s of %s locks", len(locks))
	var mu sync.Mutex // res, while several locks are read or written at once
	err = forEach(len(locks), &mu, reading.done, func(i int) error {
		l := locks[i]
		switch {
		case res.original:
		case file != nil:
			histories[i] = file.History[l.Name]
		default:
			h, err := src.History(ctx, l.Name)
			if err != nil {
				return fmt.Errorf("reading the history of lock %q in %s: %w", l.Name, redactStore(from), err)
			}
			histories[i] = h
		}
		mu.Lock()
		defer mu.Unlock()
		res.maxFence = max(res.maxFence, l.Fence)
		for _, ev := range histories[i] {
			res.maxFence = max(res.maxFence, ev.Fence)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// Marked unfinished until the last lock is written: a copy stopped
	// half way leaves a store that no server starts on.
	note := fmt.Sprintf("from %s, started %s", redactStore(from), time.Now().UTC().Format(time.RFC3339))
	if err := mc.markMigrating(ctx, dst, to, note); err != nil {
		return res, fmt.Errorf("marking %s as the target of an unfinished copy: %w", redactStore(to), err)
	}
	allWritten := false
	defer func() {
		if err != nil && !allWritten {
			err = fmt.Errorf("%w\nThe target %s is left with part of the locks, marked so that no Locker server starts on it: run the same locker migrate again with --force to finish the copy", err, redactStore(to))
		}
	}()
	// Raise the counter first: should the copy stop half way, no token
	// the source issued is above it. A file store's is raised as it is
	// opened (and kept in a new log segment's header): it is opened
	// again, now that it is known to be one to write to.
	if fs, ok := dst.(*filestore.Store); ok && res.maxFence > fs.Fence() {
		closed = true
		if err := dst.Close(); err != nil {
			return res, fmt.Errorf("closing %s: %w", redactStore(to), err)
		}
		if dst, err = mc.openStore(ctx, to, "target", history, res.maxFence); err != nil {
			return res, err
		}
		closed = false
	} else if isDatabase(to) && res.maxFence > 0 {
		if err := raisePGFence(ctx, to, res.maxFence); err != nil {
			return res, fmt.Errorf("raising the fence counter of %s: %w", redactStore(to), err)
		}
	}
	there := make(map[string]*lock.Lock, len(existing))
	for _, l := range existing {
		there[l.Name] = l
	}
	copying := mc.progress("copied %s of %s locks", len(locks))
	copyOne := func(i int) error {
		l := locks[i]
		events := migrateEvents(*l, histories[i])
		if len(events) == 0 {
			// A free lock with no history and no pool (imported from
			// the original locker's file and never used since) has
			// nothing to copy: a store writes nothing without events.
			// The target's lock of that name, if any, is kept as it is,
			// and listed as the target's own.
			mu.Lock()
			res.skipped++
			if cur := there[l.Name]; cur != nil {
				res.kept = append(res.kept, cur)
			}
			mu.Unlock()
			return nil
		}
		if cur := there[l.Name]; cur != nil {
			// Copied already, by a run stopped half way: written
			// again, its history would be there twice.
			h, err := dst.History(ctx, l.Name)
			if err != nil {
				return fmt.Errorf("reading the history of lock %q in %s: %w", l.Name, redactStore(to), err)
			}
			if copiedAlready(l, cur, events, h, len(histories[i]) == 0) {
				mu.Lock()
				res.already++
				mu.Unlock()
				return nil
			}
			mu.Lock()
			res.replaced = append(res.replaced, cur)
			mu.Unlock()
		}
		state := l.Clone()
		_, written, err := dst.Update(ctx, l.Name, func(cur *lock.Lock, env lock.Env) []lock.Event {
			*cur = state
			return events
		})
		if err == nil && len(written) != len(events) {
			err = errors.New("the store did not write it")
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			return fmt.Errorf("writing lock %q to %s (%d of %d locks copied): %w", l.Name, redactStore(to), res.locks, len(locks), err)
		}
		res.locks++
		res.events += len(histories[i])
		if !l.Free() {
			res.held++
		}
		return migrateProgress(res.locks)
	}
	if err := forEach(len(locks), &mu, copying.done, copyOne); err != nil {
		return res, err
	}
	allWritten = true
	// The target's locks that the source does not have are kept as they
	// are: a hold among them may be at work (two stores merged), and
	// dropped it would be handed to a second holder. They are listed.
	inSource := make(map[string]bool, len(locks))
	for _, l := range locks {
		inSource[l.Name] = true
	}
	for _, l := range existing {
		if !inSource[l.Name] {
			res.kept = append(res.kept, l)
		}
	}
	// Every lock is written: the mark goes, a database's now (each
	// write is committed), a file's once closing made everything durable.
	if pg, ok := dst.(*pgstore.Store); ok {
		if err := pg.UnmarkMigrating(ctx); err != nil {
			return res, fmt.Errorf("every lock is copied into %s, but the mark of an unfinished copy is left: %w", redactStore(to), err)
		}
	}
	// The file store's counter is the highest token it has seen, found
	// again when it is next opened; closing makes everything durable.
	closed = true
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("closing %s: %w", redactStore(to), err)
	}
	if !isDatabase(to) {
		if err := filestore.UnmarkMigrating(to); err != nil {
			return res, fmt.Errorf("every lock is copied into %s, but its mark of an unfinished copy is left (remove it: servers refuse to start while it is there): %w", to, err)
		}
	}
	return res, nil
}

// markMigrating marks the target store dst as that of an unfinished copy.
// A database user that may not create the mark's table copies unmarked,
// warned.
func (mc *migration) markMigrating(ctx context.Context, dst lock.Store, to, note string) error {
	switch s := dst.(type) {
	case *filestore.Store:
		return s.MarkMigrating(note)
	case *pgstore.Store:
		marked, err := s.MarkMigrating(ctx, note)
		if err == nil && !marked {
			fmt.Fprintf(mc.stderr, "warning: the database user may not create tables in the target's schema, so %s is not marked as the target of an unfinished copy (table locker_migrating) while it is copied: should the copy stop half way, servers would start on it; run it again with --force before starting them. Run locker migrate as the schema's owner to have it marked\n", redactStore(to))
		}
		return err
	}
	return nil
}

// migratingNote is the note of an unfinished copy into the target dst, if
// it is marked as the target of one.
func migratingNote(ctx context.Context, dst lock.Store, to string) (string, bool, error) {
	switch s := dst.(type) {
	case *filestore.Store:
		note, ok := filestore.Migrating(to)
		return note, ok, nil
	case *pgstore.Store:
		return s.Migrating(ctx)
	}
	return "", false, nil
}

// targetNotEmpty refuses a target that holds the locks named.
func targetNotEmpty(to string, names []string) error {
	sort.Strings(names)
	quoted := make([]string, 0, 3)
	for _, n := range names[:min(3, len(names))] {
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	more := ""
	if len(names) > len(quoted) {
		more = ", ..."
	}
	return fmt.Errorf("the target %s already holds %s (%s%s): refusing to mix them with the source's. Migrate into an empty store, or pass --force to copy over them (locks of the same name are replaced; those that are there as in the source, copied by a run that stopped half way, are left as they are)",
		redactStore(to), count(len(names), "lock", "locks"), strings.Join(quoted, ", "), more)
}

// originalLockerLocks returns the names of the locks in the data file at
// path if it is in the original locker's format (a JSON object of locks by
// name, which filestore.Open converts in place), read without changing it;
// nil for any other file, or none (which filestore.Open then reports on).
func originalLockerLocks(path string) []string {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if b = bytes.TrimLeft(b, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return nil // a Locker snapshot starts with its magic
	}
	var locks map[string]json.RawMessage
	if err := json.Unmarshal(b, &locks); err != nil {
		return nil
	}
	names := make([]string, 0, len(locks))
	for name := range locks {
		names = append(names, name)
	}
	return names
}

// migrateProgress is told how many locks have been written after each
// one; an error stops the copy there (tests stop one half way with it).
var migrateProgress = func(copied int) error { return nil }

// migrateWorkers is how many locks locker migrate reads or writes at once
// (1 in tests that stop it after a given number).
var migrateWorkers = 8

// forEach calls fn for 0 to n-1, migrateWorkers calls at once: each is a
// read or a write of one lock, and the stores serve concurrent ones
// together (the file store shares its fsyncs among them, PostgreSQL its
// WAL flushes and round trips), as they do a server's requests. After
// each call, done is told how many have returned, under mu. Once a call
// fails, no other starts (those under way finish); the first error is
// returned.
func forEach(n int, mu *sync.Mutex, done func(int), fn func(i int) error) error {
	var (
		next, finished int
		failed         error
		wg             sync.WaitGroup
	)
	for range min(max(1, migrateWorkers), max(1, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if failed != nil || next == n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := fn(i)
				mu.Lock()
				finished++
				done(finished)
				if err != nil && failed == nil {
					failed = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// copiedAlready reports whether the target's lock dst is the source's lock
// src as an earlier copy wrote it: the same key, token, holds and pools, and
// a history ending with the newest of the events the copy writes. Events
// made from the lock's state (made: it has no history, as in the original
// locker's file) are compared without their time, which is when the file
// was read, another at each run.
func copiedAlready(src, dst *lock.Lock, events, history []lock.Event, made bool) bool {
	if src.Key != dst.Key || src.Fence != dst.Fence || len(src.Holds) != len(dst.Holds) || !slices.Equal(src.Pools, dst.Pools) {
		return false
	}
	for holder, h := range src.Holds.All() {
		if d, ok := dst.Holds.Lookup(holder); !ok || d.Count != h.Count || !d.Expires.Equal(h.Expires) {
			return false
		}
	}
	n := min(len(events), len(history))
	if n == 0 {
		return false
	}
	for i, e := range events[len(events)-n:] {
		h := history[len(history)-n+i]
		if e.Type != h.Type || e.Lock != h.Lock || e.Key != h.Key || e.Holder != h.Holder || e.Count != h.Count || e.Fence != h.Fence ||
			(!made && !e.Time.Equal(h.Time)) || !e.Expires.Equal(h.Expires) || e.By != h.By || e.Pool != h.Pool || !slices.Equal(e.Pools, h.Pools) {
			return false
		}
	}
	return true
}

// fenceCounter is a store's fence counter: the last token it handed out.
func fenceCounter(ctx context.Context, s lock.Store) (uint64, error) {
	switch s := s.(type) {
	case *filestore.Store:
		return s.Fence(), nil
	case *pgstore.Store:
		return s.Fence(ctx)
	}
	return 0, nil
}

// migrateEvents returns what is written with a copied lock: its history as it
// is, or — for a lock without one (imported from the original locker's file)
// — one event per holder and per pool that records its hold or membership.
func migrateEvents(l lock.Lock, history []lock.Event) []lock.Event {
	if len(history) > 0 {
		return slices.Clone(history)
	}
	var events []lock.Event
	for _, pool := range l.Pools {
		events = append(events, lock.Event{Type: lock.Added, Lock: l.Name, Key: l.Key, Fence: l.Fence, Time: l.FreeSince, Pool: pool})
	}
	for holder, h := range l.Holds.All() {
		t := h.Acquired
		if t.IsZero() {
			t = l.Since
		}
		events = append(events, lock.Event{Type: lock.Acquired, Lock: l.Name, Key: l.Key, Holder: holder, Count: h.Count, Fence: l.Fence, Time: t, Expires: h.Expires})
	}
	return events
}

// targetDirectory refuses a target file whose directory is not there (or
// not a directory) before the source is read: reading 100,000 locks takes
// a while, from a distant database minutes.
func targetDirectory(to string) error {
	if isDatabase(to) {
		return nil
	}
	dir := filepath.Dir(to)
	info, err := os.Stat(dir)
	if err == nil && !info.IsDir() {
		err = errors.New("not a directory")
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err != nil {
		return fmt.Errorf("the target %s: its directory %s: %v (nothing was read or written)", to, dir, err)
	}
	return nil
}

// sameDataFile reports whether two paths name the same existing data file,
// however written (x/../x/data.yml, a symlink, a hard link): opened as
// source, it would be refused as target as "in use by a running Locker
// server", which it is not.
func sameDataFile(a, b string) bool {
	if isDatabase(a) || isDatabase(b) {
		return false
	}
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}

// sameDatabase reports whether two PostgreSQL URLs or connection strings,
// however written (127.0.0.1 or localhost, other parameters), reach the
// same schema of the same database of the same running server: copied onto
// itself with --force, every lock's history would be doubled, and a running
// replica's changes since the read undone. False when either cannot be reached (the
// migration then says why).
func sameDatabase(ctx context.Context, a, b string) bool {
	if !isDatabase(a) || !isDatabase(b) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ids [2]string
	for i, u := range []string{a, b} {
		pool, err := migratePool(ctx, u)
		if err != nil {
			return false
		}
		// The server's start time tells two servers apart (with the
		// database and schema, the store).
		err = pool.QueryRow(ctx, `SELECT pg_postmaster_start_time()::text || ' ' || current_database() || ' ' || coalesce(current_schema(), '')`).Scan(&ids[i])
		pool.Close()
		if err != nil {
			return false
		}
	}
	return ids[0] == ids[1]
}

// openStore opens a store named by a PostgreSQL URL or connection
// string, or a file path, keeping history events per lock (0: the default);
// a file store's fence counter is raised to at least minFence. A database
// that Locker servers are connected to is refused (checkServers).
func (mc *migration) openStore(ctx context.Context, spec, role string, history int, minFence uint64) (lock.Store, error) {
	if isDatabase(spec) {
		s, err := pgstore.Open(ctx, spec, pgstore.Options{HistoryLimit: history, StartWait: startWait, ApplicationName: migrateAppName, Tool: true, MustBeMade: role == "source", Migrating: role == "target"})
		if err != nil {
			return nil, fmt.Errorf("the %s database %s: %s", role, redactStore(spec), databaseError(spec, err))
		}
		if err := mc.checkServers(ctx, s, spec, role); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	s, err := filestore.Open(spec, filestore.Options{HistoryLimit: history, MinFence: minFence, Migrating: role == "target"})
	if err != nil {
		return nil, fileStoreError(spec, role, err)
	}
	return s, nil
}

// readFileSource reads the source data file at path, keeping history
// events per lock (0: the default), without changing any of its files
// (filestore.Read): it is what the operator goes back to. It stays locked,
// as an open store is, until the contents are closed.
func readFileSource(path string, history int) (*filestore.Contents, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("the source %s: %v (a source is a data file, as in LOCKER_CONFIG, or a database: a postgres:// URL or a connection string such as host=db dbname=locker)", path, err)
	}
	c, err := filestore.Read(path, filestore.Options{HistoryLimit: history})
	if err != nil {
		return nil, fileStoreError(path, "source", err)
	}
	return c, nil
}

// fileStoreError is err, from opening or reading the data file at path,
// the copy's source or target (role), as migrate reports it.
func fileStoreError(path, role string, err error) error {
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("the %s %s is in use by a running Locker server: stop it first, so that no lock changes during the copy (%v)", role, path, err)
	}
	return fmt.Errorf("the %s %s: %v", role, path, err)
}

// raisePGFence makes the database's fence sequence hand out only tokens
// above fence (and above any it handed out before).
func raisePGFence(ctx context.Context, dbURL string, fence uint64) error {
	// A pool, as the server's: it takes the same URL, pool_max_conns and
	// the like included, which a single connection sends to the server.
	conn, err := migratePool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Exec(ctx, `SELECT setval('locker_fence', GREATEST($1::bigint,
		(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM locker_fence)))`, int64(fence))
	return err
}
