package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/shellquote"
	"github.com/cloudfoundry-community/locker/lock"
)

// importKey is the key import-pool-repo holds claimed members with.
const importKey = "imported-from-pool-repo"

const importPoolHelp = `Usage: locker import-pool-repo DIR [--key KEY] [--prefix-pool] [--dry-run]

Moves the pools of a Concourse pool-resource git repository into Locker.
DIR is a checkout of the repository (git clone it first); its layout is
pool-resource's:

  POOL/unclaimed/NAME   a free lock NAME of pool POOL
  POOL/claimed/NAME     a claimed (held) one

Every lock becomes a member NAME of pool POOL, with the file's content as
its metadata: the JSON it holds, or, when it is not JSON, a JSON string of
its text. Claimed ones are locked with key '` + importKey + `'
(--key), before they join the pool (a pipeline waiting on it is not handed
one the repository's claimant holds), so that they stay claimed: release
one with

  locker unlock NAME --key ` + importKey + `

(or, from a pipeline, the resource's release with that key). Dotfiles, .git
and .gitkeep are skipped.

Running it again is safe: members already present get the repository's
metadata; a member claimed already stays claimed once (it is not locked
twice); a member held with the import key that the repository now has
unclaimed is released (only the claim read: one taken again since, by
another import at the same time, is left). Members held under other keys
are left as they are. A member an import claimed that was released in
Locker since is left free while the repository still has that claim: in a
git checkout, it is claimed again only if the claim's commit is not older
than the release (a job still on pool-resource claimed it again); outside
one the claim cannot be dated, and it is left free (the output says how to
claim it). A claim that ran out (a lease the server gives every hold:
LOCKER_DEFAULT_TTL, LOCKER_MAX_TTL; the output says when it ends) is
claimed again. A lock whose claim or release fails is counted as FAILED
only.

  --key KEY       key (and holder) for the claimed locks
                  (default ` + importKey + `)
  --prefix-pool   name members POOL/NAME instead of NAME. Lock names are
                  server-wide in Locker, while pool-resource's are per pool:
                  a NAME found in two pools is refused without this flag
  --dry-run       say what would be done, and change nothing
`

// repoLock is one lock file of a pool-resource repository.
type repoLock struct {
	pool, name, member string // member is the lock name in Locker
	claimed            bool
	metadata           json.RawMessage
	path               string
}

func runImportPoolRepo(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("import-pool-repo", importPoolHelp, env, stdout, stderr)
	key := c.fs.String("key", importKey, "")
	prefix := c.fs.Bool("prefix-pool", false, "")
	dryRun := c.fs.Bool("dry-run", false, "")
	pos, _, err := c.parse(args, false)
	if err != nil {
		return c.usage(err)
	}
	if len(pos) != 1 {
		return c.usage(fmt.Errorf("give the directory of a pool-resource repository checkout (got %d arguments)", len(pos)))
	}
	if *key == "" {
		return c.usage(errors.New("--key must not be empty"))
	}
	locks, warnings, err := readPoolRepo(pos[0], *prefix)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "locker import-pool-repo: warning: %s\n", shown(w))
	}
	if err != nil {
		fmt.Fprintf(stderr, "locker import-pool-repo: %s\n", shown(err.Error()))
		return ExitError{Code: exitError}
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	out := &stickyWriter{w: stdout}
	im := &importer{c: c, cl: cl, key: *key, dryRun: *dryRun, out: out}
	if err := im.run(ctx, locks); err != nil {
		return err
	}
	// The report is the result (of --dry-run, the whole of it): one that
	// could not be written fails the command.
	if *dryRun {
		return c.wrote(out.err, "the dry run changed nothing")
	}
	return c.wrote(out.err, "the import was done")
}

// stickyWriter is w, keeping the first error a write to it returned.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// readPoolRepo reads the locks of a pool-resource repository checkout: every
// directory with a claimed/ or unclaimed/ subdirectory is a pool, named by
// its path from dir.
func readPoolRepo(dir string, prefix bool) (locks []repoLock, warnings []string, err error) {
	// pr/ (as tab completion writes it), ./ and pr are the same directory:
	// the paths walked are compared with it.
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the repository: %v", cleanPathError(err))
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("%s is not a directory: give a checkout of the pool-resource repository", dir)
	}
	seen := map[string]int{} // pool\x00name -> index in locks
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() || (d.Name() != "claimed" && d.Name() != "unclaimed") || path == dir {
			return nil
		}
		poolDir := filepath.Dir(path)
		if poolDir == dir {
			warnings = append(warnings, fmt.Sprintf("%s: a %s directory at the top of the repository, not in a pool's; skipped", path, d.Name()))
			return fs.SkipDir
		}
		rel, err := filepath.Rel(dir, poolDir)
		if err != nil {
			return err
		}
		pool := filepath.ToSlash(rel)
		claimed := d.Name() == "claimed"
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue // .gitkeep and the like
			}
			file := filepath.Join(path, name)
			if e.IsDir() {
				warnings = append(warnings, fmt.Sprintf("%s: a directory among the lock files; skipped", file))
				continue
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			l := repoLock{pool: pool, name: name, member: name, claimed: claimed, metadata: metadataFromText(b), path: file}
			if prefix {
				l.member = pool + "/" + name
			}
			if i, dup := seen[pool+"\x00"+name]; dup {
				// Both claimed and unclaimed: a claim wins, as it is safer.
				warnings = append(warnings, fmt.Sprintf("pool %s: %s is both claimed and unclaimed; importing it as claimed", pool, name))
				if claimed {
					locks[i] = l
				}
				continue
			}
			seen[pool+"\x00"+name] = len(locks)
			locks = append(locks, l)
		}
		return fs.SkipDir
	})
	if err != nil {
		return nil, warnings, fmt.Errorf("reading the repository: %v", cleanPathError(err))
	}
	if len(locks) == 0 {
		return nil, warnings, fmt.Errorf("no pool-resource locks in %s: expected files POOL/claimed/NAME or POOL/unclaimed/NAME", dir)
	}
	// One lock name in two pools is one lock in Locker.
	pools := map[string][]string{}
	for _, l := range locks {
		pools[l.member] = append(pools[l.member], l.pool)
	}
	var clashes []string
	for member, ps := range pools {
		if len(ps) > 1 {
			sort.Strings(ps)
			clashes = append(clashes, fmt.Sprintf("'%s' (pools '%s')", member, strings.Join(ps, "', '")))
		}
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return nil, warnings, fmt.Errorf("lock names are server-wide in Locker, and these are in more than one pool: %s; nothing was imported. Use --prefix-pool to name members POOL/NAME, or rename them", strings.Join(clashes, ", "))
	}
	sort.Slice(locks, func(i, j int) bool {
		if locks[i].pool != locks[j].pool {
			return locks[i].pool < locks[j].pool
		}
		return locks[i].name < locks[j].name
	})
	return locks, warnings, nil
}

func cleanPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// importer adds a repository's locks to the server.
type importer struct {
	c      *clientCmd
	cl     *client.Client
	key    string
	dryRun bool
	out    io.Writer

	added, updated, unchanged, claimed, released, failed int
}

func (im *importer) run(ctx context.Context, locks []repoLock) error {
	// What the server has already.
	before := map[string]map[string]client.Lock{}
	pools, err := im.cl.Pools(ctx)
	if err != nil {
		return im.c.fail(err)
	}
	for _, p := range pools {
		before[p.Name] = map[string]client.Lock{}
		for _, m := range p.Members {
			before[p.Name][m.Name] = m
		}
	}
	verb := ""
	if im.dryRun {
		verb = "would be "
		fmt.Fprintln(im.out, "dry run: nothing is changed")
	}
	pool := ""
	poolNames := 0
	for _, l := range locks {
		if l.pool != pool {
			pool = l.pool
			poolNames++
			fmt.Fprintf(im.out, "pool '%s':\n", shown(pool))
		}
		if err := ctx.Err(); err != nil {
			return im.c.fail(err)
		}
		line, err := im.one(ctx, l, before[l.pool])
		if err != nil {
			// Counted as failed only, whatever was done before the
			// step that failed (its line says what).
			im.failed++
			msg, _ := explain(err)
			var se *stepError
			if errors.As(err, &se) {
				fmt.Fprintf(im.out, "  %s: %s; %s FAILED: %s\n", shown(l.member), shown(se.done), se.step, msg)
			} else {
				fmt.Fprintf(im.out, "  %s: FAILED: %s\n", shown(l.member), msg)
			}
			continue
		}
		fmt.Fprintf(im.out, "  %s: %s\n", shown(l.member), shown(line))
	}
	// Members the server has that the repository does not: left alone.
	inRepo := map[string]bool{}
	for _, l := range locks {
		inRepo[l.pool+"\x00"+l.member] = true
	}
	// Listed by pool, names quoted: POOL/NAME would read as a member
	// named so, as --prefix-pool names them.
	var extra []string
	nExtra := 0
	for p, members := range before {
		var names []string
		for m := range members {
			if !inRepo[p+"\x00"+m] && poolIn(locks, p) {
				names = append(names, fmt.Sprintf("'%s'", shown(m)))
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			nExtra += len(names)
			extra = append(extra, fmt.Sprintf("pool '%s': %s", shown(p), strings.Join(names, ", ")))
		}
	}
	sort.Strings(extra)

	fmt.Fprintf(im.out, "%d pool(s), %d lock(s): %d %sadded, %d %supdated, %d unchanged; %d %sclaimed and %d %sreleased with key '%s'",
		poolNames, len(locks), im.added, verb, im.updated, verb, im.unchanged, im.claimed, verb, im.released, verb, im.key)
	if im.failed > 0 {
		fmt.Fprintf(im.out, "; %d FAILED", im.failed)
	}
	fmt.Fprintln(im.out)
	if len(extra) > 0 {
		fmt.Fprintf(im.out, "left alone: %d member(s) on the server that the repository does not have: %s\n", nExtra, strings.Join(extra, "; "))
	}
	if n := countClaimed(locks); n > 0 && !im.dryRun {
		fmt.Fprintf(im.out, "claimed locks are held with key '%s'; release one with: %s\n", im.key, shellquote.Locker([]string{"unlock"}, []string{"NAME"}, "--key", im.key))
	}
	if im.failed > 0 {
		return ExitError{Code: exitError}
	}
	return nil
}

func poolIn(locks []repoLock, pool string) bool {
	for _, l := range locks {
		if l.pool == pool {
			return true
		}
	}
	return false
}

func countClaimed(locks []repoLock) int {
	n := 0
	for _, l := range locks {
		if l.claimed {
			n++
		}
	}
	return n
}

// stepError is a step of importing a lock (its claim or release) that
// failed once done (the lock added, its metadata updated) was done.
type stepError struct {
	step, done string
	err        error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// one imports one lock and says what it did. A lock is counted once: as
// added, updated or unchanged once every step of it is done; when one
// fails, only as failed (by the caller).
func (im *importer) one(ctx context.Context, l repoLock, existing map[string]client.Lock) (string, error) {
	var parts []string
	prev, wasMember := existing[l.member]
	var counter *int // counted once every step is done
	switch {
	case !wasMember:
		counter = &im.added
		parts = append(parts, im.verb("added"))
	case sameJSON(prev.Metadata, l.metadata):
		counter = &im.unchanged
		parts = append(parts, "already a member")
	default:
		counter = &im.updated
		parts = append(parts, im.verb("metadata updated"))
	}
	state := "unclaimed"
	if l.claimed {
		state = "claimed"
	}
	parts[0] += " (" + state + " in the repository)"

	var cur, claim *client.Lock
	claimedFirst := false
	if im.dryRun {
		// What the server would refuse is no "would be added".
		if err := lock.ValidateName("pool name", l.pool); err != nil {
			return "", err
		}
		if len(l.metadata) > 0 && counter != &im.unchanged {
			if err := lock.ValidateMetadata(l.metadata); err != nil {
				return "", err
			}
		}
		if wasMember {
			cur = &prev
		} else {
			g, err := im.cl.Get(ctx, l.member)
			switch {
			case err == nil:
				cur = g
			case errors.Is(err, client.ErrNotFound):
				cur = &client.Lock{Name: l.member, State: "free"}
			default:
				return "", err
			}
		}
	} else {
		var err error
		if l.claimed && !wasMember {
			// Claimed before it joins the pool: added free, it would be
			// handed at once to a pipeline waiting on the pool (one moved
			// to Locker already), while the repository's claimant holds
			// it too.
			if claim, err = im.claimFirst(ctx, l.member); err != nil {
				return "", err
			}
			claimedFirst = claim != nil
		}
		if !wasMember || !sameJSON(prev.Metadata, l.metadata) {
			cur, err = im.cl.AddMember(ctx, l.pool, l.member, l.metadata)
		} else {
			cur = &prev
		}
		if err != nil {
			if claimedFirst {
				// Not a member after all: the claim goes, or it would
				// be held outside the pool, where nobody looks for it.
				if _, uerr := im.cl.UnlockFence(ctx, l.member, im.key, im.key, claim.Fence); uerr != nil && !errors.Is(uerr, client.ErrFenceNotChecked) {
					msg, _ := explain(err)
					umsg, _ := explain(uerr)
					return "", fmt.Errorf("%s; and its claim, taken before it was to join the pool, could not be released: it is held with key '%s' outside the pool (%s)", msg, im.key, umsg)
				}
			}
			return "", err
		}
	}
	failed := func(step string, err error) (string, error) {
		return "", &stepError{step: step, done: strings.Join(parts, "; "), err: err}
	}

	ours := !cur.Free() && cur.Key == im.key && len(cur.LockedBy) == 1 && cur.LockedBy[im.key] > 0
	switch {
	case claimedFirst:
		im.claimed++
		parts = append(parts, "claimed with key '"+im.key+"'"+leaseNote(claim))
	case l.claimed && cur.Free():
		if wasMember {
			left, err := im.releasedSinceImported(ctx, l, cur)
			if err != nil {
				return failed("claim", err)
			}
			if left != "" {
				*counter++
				parts = append(parts, im.verb("left free")+": "+left)
				return strings.Join(parts, "; "), nil
			}
		}
		if !im.dryRun {
			var err error
			if claim, err = im.cl.Lock(ctx, l.member, client.LockOptions{Key: im.key, Holder: im.key}); err != nil {
				if errors.Is(err, client.ErrLocked) {
					*counter++
					msg, _ := explain(err)
					return strings.Join(parts, "; ") + "; not claimed: " + msg, nil
				}
				return failed("claim", err)
			}
		}
		im.claimed++
		parts = append(parts, im.verb("claimed")+" with key '"+im.key+"'"+leaseNote(claim))
	case l.claimed && ours:
		parts = append(parts, "claimed already")
	case l.claimed:
		parts = append(parts, fmt.Sprintf("held on the server by %s (key '%s'): left as it is", holderList(cur), cur.Key))
	case ours:
		// Unclaimed in the repository since an earlier import: free it.
		if !im.dryRun {
			// By the fence it was read with: the import key is every
			// import's, and a claim taken afresh under it since (another
			// import running meanwhile) is not this one to release. A
			// server without the check releases by key and holder.
			for n := cur.LockedBy[im.key]; n > 0; n-- {
				_, err := im.cl.UnlockFence(ctx, l.member, im.key, im.key, cur.Fence)
				var ae *client.APIError
				switch {
				case err == nil, errors.Is(err, client.ErrFenceNotChecked):
				case cur.Fence != 0 && errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil && !ae.Lock.Free():
					*counter++
					return strings.Join(parts, "; ") + fmt.Sprintf("; not released: claimed again since it was read (fence %d now: %s): left as it is", ae.Lock.Fence, heldBy(ae.Lock)), nil
				default:
					return failed("release", err)
				}
			}
		}
		im.released++
		parts = append(parts, im.verb("released")+" (claimed by an earlier import)")
	case !cur.Free():
		parts = append(parts, fmt.Sprintf("held on the server by %s (key '%s'): left as it is", holderList(cur), cur.Key))
	}
	*counter++
	return strings.Join(parts, "; "), nil
}

// releasedSinceImported says why a member that the repository has claimed
// and the server has free is left free: when an import claimed it before
// and it was released in Locker since (by hand, or by a job moved to
// Locker: docs/pools.md's step 3), while the repository, no longer written
// to by that pipeline, still has the claim that import took. Claimed again,
// it would be held by nobody at work, and nobody would release it. "" when
// it is to be claimed: no import claimed it (the server's history shows no
// hold of the import key), or the repository's claim, dated by its git
// commit, is not older than the time it was freed (a job still on
// pool-resource claimed it again since). A checkout whose claim cannot be
// dated (not a git checkout, the file not committed as it is) leaves it
// free, saying how to claim it.
func (im *importer) releasedSinceImported(ctx context.Context, l repoLock, cur *client.Lock) (string, error) {
	h, err := im.cl.History(ctx, l.member)
	if errors.Is(err, client.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// The import's last claim, and what ended it: given back (by hand,
	// by a job, forced), or run out (a lease the server gave it), which
	// nobody gave back, and is claimed again as one never claimed.
	last := -1
	for i, e := range h {
		if string(e.Type) == string(lock.Acquired) && e.Key == im.key {
			last = i
		}
	}
	if last < 0 {
		return "", nil
	}
	for _, e := range h[last+1:] {
		if string(e.Type) == string(lock.Expired) {
			return "", nil
		}
		if string(e.Type) == string(lock.Forced) || (string(e.Type) == string(lock.Released) && e.Key == im.key && e.Count == 0) {
			break
		}
	}
	// When it became free: a server that does not say is read from the
	// history, whose last event is then what freed it.
	freed := cur.FreeSince
	if freed.IsZero() && len(h) > 0 {
		freed = h[len(h)-1].Time
	}
	claimed, undated := claimCommitTime(ctx, l.path)
	// A commit's time has whole seconds: one in the second the lock was
	// freed may be after it, and is taken as the newer.
	if undated == "" && !freed.IsZero() && !freed.Truncate(time.Second).After(claimed) {
		return "", nil
	}
	why := "the repository does not date its claim (" + undated + ")"
	if undated == "" {
		why = "the repository's claim is older (committed " + claimed.UTC().Format(time.RFC3339) + ")"
	}
	since := "free"
	if !freed.IsZero() {
		since = "free since " + freed.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("released on the server since an import claimed it (%s); %s: if the repository's claimant holds it now, claim it with: %s",
		since, why, shellquote.Locker([]string{"lock"}, []string{l.member}, "--key", im.key)), nil
}

// claimCommitTime is when the lock file at path was committed where it is,
// in the git checkout it is in; or why that is not known.
func claimCommitTime(ctx context.Context, path string) (time.Time, string) {
	git := func(args ...string) (string, string) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", filepath.Dir(path)}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		switch {
		case errors.Is(err, exec.ErrNotFound):
			return "", "git is not installed"
		case err != nil && strings.Contains(stderr.String(), "not a git repository"):
			return "", "not a git checkout"
		case err != nil:
			msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
			if msg == "" {
				msg = err.Error()
			}
			return "", "git: " + msg
		}
		return strings.TrimSpace(string(out)), ""
	}
	name := filepath.Base(path)
	changed, why := git("status", "--porcelain", "--", name)
	switch {
	case why != "":
		return time.Time{}, why
	case changed != "":
		return time.Time{}, "the file is changed in the checkout since its last commit"
	}
	out, why := git("log", "-1", "--format=%ct", "--", name)
	if why != "" {
		return time.Time{}, why
	}
	secs, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Time{}, "not committed"
	}
	return time.Unix(secs, 0), ""
}

// claimFirst locks the lock name with the import key if it is free (or not
// there yet), and returns the lock as locked; nil when it is held already,
// by anyone (the import key's holds are not counted twice), or was taken
// meanwhile, for one to report as it finds the lock once it is a member.
func (im *importer) claimFirst(ctx context.Context, name string) (*client.Lock, error) {
	g, err := im.cl.Get(ctx, name)
	switch {
	case err == nil && !g.Free():
		return nil, nil
	case err != nil && !errors.Is(err, client.ErrNotFound):
		return nil, err
	}
	l, err := im.cl.Lock(ctx, name, client.LockOptions{Key: im.key, Holder: im.key})
	if errors.Is(err, client.ErrLocked) {
		return nil, nil
	}
	return l, err
}

// leaseNote says when the import's claim l ends, if the server gave it a
// lease (LOCKER_DEFAULT_TTL, LOCKER_MAX_TTL; the import asks for none):
// then, the lock is free in Locker and handed to the next pipeline that
// asks for it, whether or not the repository's claimant still holds it.
func leaseNote(l *client.Lock) string {
	if l == nil || l.Holds[l.Key].Expires.IsZero() {
		return ""
	}
	return fmt.Sprintf(", with a lease the server gave it: it ends at %s, whether or not the repository's claimant still holds the lock (the server's LOCKER_DEFAULT_TTL or LOCKER_MAX_TTL)", l.Holds[l.Key].Expires.UTC().Format(time.RFC3339))
}

func (im *importer) verb(v string) string {
	if im.dryRun {
		return "would be " + v
	}
	return v
}

// sameJSON reports whether two JSON values are the same text once compacted.
func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
