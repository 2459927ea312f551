package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
)

const salvageHelp = `Usage: locker salvage [FILE]

The way out when the file store refuses to start because part of its log is
damaged with valid records after it ("damaged record at byte N ... with valid
records after it", "... at the end of a segment that later ones follow", "log
header is damaged", "log segment ... holds N records, but this segment's header
says M were written to it"): a byte overwritten on disk, zeros that a power cut
during a write left before whole records, or a segment cut short. Stop the
server first (a store in use is refused). FILE is the server's data file
(default: $LOCKER_CONFIG).

It reads the store as a start does, but skips each damaged part of a log
segment, up to the next whole record, and goes on from there:
  - the skipped bytes are copied beside their segment
    (<segment>.dropped-<time>-at-<byte>), and the names of the locks still
    legible in them are listed, with their state now;
  - a record holds a lock's whole state after a change, so a skipped record
    loses that change only (none, if a later record of the lock is whole);
    records after zeros that a crash left were never acknowledged, and come
    back;
  - the records a segment that later ones follow has lost (the next segment's
    header counts them) are reported; those that are left are kept;
  - the fence counter is raised to the one the segments' headers keep, if
    higher, and then by the number of bytes skipped, so that every token
    handed out from now on is above any the lost records held;
  - a fresh snapshot is written, continuing in a new log segment, and the old
    segments are kept aside as <file>.log.N.before-salvage-<time> (never
    deleted; a start no longer reads them).
Then start the server, and check the listed locks with locker status.

When nothing is damaged it says so and changes nothing. Damage in FILE itself
(the snapshot) and missing log segments are out of its reach: restore the
store from a backup. See docs/storage.md.

Run it as the user the server runs as, or as root (sudo): the files root
makes are given to the data file's owner, so that the server, run as that user,
opens them. Give it the server's LOCKER_HISTORY when it keeps more than the
default 100 events per lock.

Flags:
  -h, --help   show this help

Exit status: 0 salvaged, or nothing to salvage; 1 failed; 2 usage.
`

// runSalvage skips the damaged records of a file store's log, offline.
func runSalvage(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	fs := commandFlags("locker salvage")
	if done, err := parseFlags(fs, args, salvageHelp, stdout); done || err != nil {
		return err
	}
	file := fs.Arg(0)
	switch {
	case fs.NArg() > 1:
		return fmt.Errorf("%w: locker salvage takes one data file (got %q); see locker salvage --help", errUsage, fs.Args())
	case file == "" && env("LOCKER_CONFIG") != "":
		file = env("LOCKER_CONFIG")
	case file == "" && env("LOCKER_DATABASE_URL") != "":
		return fmt.Errorf("%w: locker salvage is for the file store (LOCKER_CONFIG); LOCKER_DATABASE_URL names a PostgreSQL store, which keeps no log of its own", errUsage)
	case file == "":
		return fmt.Errorf("%w: locker salvage needs the data file: locker salvage FILE, or LOCKER_CONFIG set as for the server", errUsage)
	}
	history := 0
	if v := env("LOCKER_HISTORY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: LOCKER_HISTORY=%q is not a positive number", errUsage, v)
		}
		if n > filestore.MaxHistoryLimit {
			return fmt.Errorf("%w: %s", errUsage, historyTooLong(n))
		}
		history = n
	}
	rep, err := filestore.Salvage(file, filestore.Options{HistoryLimit: history})
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("salvage: %v: stop the server first; locker salvage works on the files alone", err)
	}
	if err != nil {
		return fmt.Errorf("salvage: %v", err)
	}
	writeSalvageReport(stdout, rep)
	return nil
}

func writeSalvageReport(w io.Writer, rep *filestore.SalvageReport) {
	if !rep.Damaged {
		fmt.Fprintf(w, "%s: nothing damaged that a start refuses (%d locks, fence counter %d): nothing to salvage, no file changed. Start the server as it is.\n", rep.Path, rep.Locks, rep.FenceAfter)
		return
	}
	fmt.Fprintf(w, "salvaged %s: skipped %d damaged part(s) of the log, %d bytes in all\n\n", rep.Path, len(rep.Skipped), rep.SkippedBytes)
	for _, k := range rep.Skipped {
		if k.Size == 0 {
			fmt.Fprintf(w, "  %s, byte %d: records missing (%s)\n", k.Segment, k.Offset, k.Why)
			continue
		}
		fmt.Fprintf(w, "  %s, byte %d: %d bytes skipped (%s)\n", k.Segment, k.Offset, k.Size, k.Why)
		if k.Kept != "" {
			fmt.Fprintf(w, "    kept in %s\n", k.Kept)
		} else {
			fmt.Fprintf(w, "    all zeros: nothing to keep\n")
		}
		if len(k.LockNames) > 0 {
			fmt.Fprintf(w, "    lock names legible in them: %s\n", strings.Join(quoteAll(k.LockNames), ", "))
		}
	}
	fmt.Fprintf(w, "\nfence counter: %d in the records kept and the segments' headers", rep.FenceBefore)
	if rep.LegibleFence > rep.FenceBefore {
		fmt.Fprintf(w, ", %d legible in the skipped bytes", rep.LegibleFence)
	}
	fmt.Fprintf(w, "; raised by the %d bytes skipped to %d, so every token handed out from now on is above any handed out before\n", rep.SkippedBytes, rep.FenceAfter)
	fmt.Fprintf(w, "new snapshot: %s (%d locks), continuing in %s\n", rep.Path, rep.Locks, rep.Segment)
	fmt.Fprintln(w, "old log segments, kept aside (a start no longer reads them; delete them once nothing is missing):")
	for _, a := range rep.Aside {
		fmt.Fprintf(w, "  %s -> %s\n", a[0], a[1])
	}
	fmt.Fprintln(w)
	if len(rep.LockNames) > 0 {
		fmt.Fprintln(w, "locks named in the skipped bytes: each may have lost its last change, or, after zeros a crash left, have one back that was never acknowledged. Now:")
		for _, n := range rep.LockNames {
			fmt.Fprintf(w, "  %q: %s\n", n, salvagedState(rep.Now[n], rep.Forgotten[n]))
		}
	} else {
		fmt.Fprintln(w, "no lock name is legible in the skipped bytes: compare locker list with what should be held.")
	}
	fmt.Fprintf(w, `
next:
  1. start the server on %s
  2. check each lock listed above with locker status NAME, with the people or
     jobs that use it: release it, or take it again, as needed
`, rep.Path)
}

// salvagedState describes a lock as salvage left it (nil: absent;
// forgotten: absent because a record kept forgot it).
func salvagedState(l *lock.Lock, forgotten bool) string {
	switch {
	case l == nil && forgotten:
		return "not in the store: forgotten (locker forget) in a record kept after the skipped bytes; taken again, it starts anew"
	case l == nil:
		return "not in the store (every record of it was skipped)"
	case l.Free():
		return "free"
	}
	holders := make([]string, 0, len(l.Holds))
	for h, hold := range l.Holds.All() {
		s := fmt.Sprintf("'%s'", shown(h))
		if hold.Count > 1 {
			s += fmt.Sprintf(" (x%d)", hold.Count)
		}
		holders = append(holders, s)
	}
	return fmt.Sprintf("held by %s (key '%s', fence %d)", strings.Join(holders, ", "), shown(l.Key), l.Fence)
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}
