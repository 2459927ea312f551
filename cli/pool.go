package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/cloudfoundry-community/locker/client"
)

const poolHelp = `Usage: locker pool COMMAND [ARGS...]

A pool is a named group of interchangeable locks, its members (test
environments aws-1, aws-2, aws-3, say), each with metadata: any JSON value,
such as the environment's settings. A job takes whichever member is free,
reads its name and metadata, and releases it like any lock:
'locker unlock MEMBER --key KEY'. Members are ordinary locks: 'locker lock
MEMBER' takes a given one by name.

Commands:
  ls [POOL] [--json]                   list pools, their members and state
  add POOL MEMBER [--metadata JSON | --metadata-file FILE] [--json]
                                       add a member, or update its metadata
  rm POOL MEMBER [--force [--fence N] [--key KEY] [--holder H]] [--json]
                                       remove a member (only while it is free,
                                       unless --force; --key and --holder:
                                       only while held by that holder alone)
  acquire POOL --key KEY [--holder H] [--wait D] [--ttl D] [--json]
                                       take whichever member is free; prints
                                       its name

See also 'locker run --pool POOL -- COMMAND' and 'locker import-pool-repo'.
Each command has its own --help.
`

func runPool(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, poolHelp)
		return fmt.Errorf("%w: locker pool needs a command: ls, add, rm or acquire", errUsage)
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, poolHelp)
		return nil
	case "ls", "list":
		return runPoolList(ctx, args[1:], env, stdout, stderr)
	case "add":
		return runPoolAdd(ctx, args[1:], env, stdout, stderr)
	case "rm", "remove":
		return runPoolRemove(ctx, args[1:], env, stdout, stderr)
	case "acquire":
		return runPoolAcquire(ctx, args[1:], env, stdout, stderr)
	}
	fmt.Fprint(stderr, poolHelp)
	return fmt.Errorf("%w: unknown pool command %q: use ls, add, rm or acquire", errUsage, args[0])
}

const poolListHelp = `Usage: locker pool ls [POOL] [--json]   (alias: list)

Lists every pool (or only POOL): how many of its members are free, and for
each member its state, key, holders, how long it has been held, and its
metadata (shortened; --json shows it whole).

  --json    print JSON in the shape of the server's GET /pools (or, with
            POOL, GET /pool/POOL): members keyed by name, with "metadata"
`

func runPoolList(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("pool ls", poolListHelp, env, stdout, stderr)
	asJSON := c.fs.Bool("json", false, "")
	pos, _, err := c.parse(args, false)
	if err != nil {
		return c.usage(err)
	}
	if len(pos) > 1 {
		return c.usage(fmt.Errorf("give at most one pool name (got %q)", pos))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	var pools []client.Pool
	if len(pos) == 1 {
		p, err := cl.Pool(ctx, pos[0])
		if err != nil {
			return c.failPool(pos[0], err)
		}
		if *asJSON {
			return writeJSONTo(stdout, poolJSONOf(*p))
		}
		pools = []client.Pool{*p}
	} else {
		if pools, err = cl.Pools(ctx); err != nil {
			return c.fail(err)
		}
		if *asJSON {
			m := make(map[string]poolJSON, len(pools))
			for _, p := range pools {
				m[p.Name] = poolJSONOf(p)
			}
			return writeJSONTo(stdout, m)
		}
	}
	if len(pools) == 0 {
		_, err := fmt.Fprintln(stdout, "no pools (add a member with 'locker pool add POOL MEMBER')")
		return err
	}
	now := time.Now()
	if len(pools[0].Members) > 0 {
		// One answer, one Date: the server's present (locker ls).
		now = now.Add(pools[0].Members[0].ServerClock())
	}
	return writePoolTable(stdout, pools, now)
}

// poolJSON is a pool as the server shows it: members keyed by name.
type poolJSON struct {
	Name    string                 `json:"name"`
	Members map[string]client.Lock `json:"members"`
	Free    int                    `json:"free"`
	Total   int                    `json:"total"`
	Waiters int                    `json:"waiters"`
}

func poolJSONOf(p client.Pool) poolJSON {
	v := poolJSON{Name: p.Name, Members: make(map[string]client.Lock, len(p.Members)), Free: p.Free, Total: p.Total, Waiters: p.Waiters}
	for _, m := range p.Members {
		v.Members[m.Name] = m
	}
	return v
}

// writePoolTable prints pools as one aligned table; the pool's name and
// free count are on its first member's row.
func writePoolTable(w io.Writer, pools []client.Pool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tFREE\tMEMBER\tSTATE\tKEY\tHOLDERS\tHELD FOR\tMETADATA")
	for _, p := range pools {
		name, free := shown(p.Name), fmt.Sprintf("%d/%d", p.Free, p.Total)
		if p.Waiters > 0 {
			free += fmt.Sprintf(", %d waiting", p.Waiters)
		}
		for _, m := range p.Members {
			key, holders, heldFor := "-", "-", "-"
			if !m.Free() {
				key, holders = shown(m.Key), holderCounts(&m)
				if !m.Since.IsZero() {
					heldFor = human(now.Sub(m.Since))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, free, shown(m.Name), shown(m.State), key, holders, heldFor, metadataSummary(m.Metadata, 40))
			name, free = "", ""
		}
	}
	return tw.Flush()
}

// metadataSummary shows metadata on one line of at most max characters: a
// JSON string as its text, anything else as compact JSON.
func metadataSummary(md json.RawMessage, max int) string {
	if len(md) == 0 {
		return "-"
	}
	var text string
	if err := json.Unmarshal(md, &text); err != nil {
		var b bytes.Buffer
		if json.Compact(&b, md) != nil {
			return "-"
		}
		text = htmlUnescaped(b.Bytes())
	} else if strings.TrimSpace(text) == "" {
		return `""`
	}
	// Control characters (ESC, BEL, the C1 CSI, ...) that anyone who may
	// set metadata put there would act on the terminal, and bidi and
	// invisible ones would change what it shows: shown escapes them.
	text = shown(strings.Join(strings.Fields(text), " "))
	if utf8.RuneCountInString(text) > max {
		r := []rune(text)
		text = string(r[:max-1]) + "…"
	}
	return text
}

// htmlUnescaped writes the escapes of <, > and & in compact JSON text
// (\u003c, \u003e, \u0026: Go's JSON encoding, the server's, escapes them
// for HTML) as the characters themselves, which is what they are and how
// they were given; other escapes are left as they are.
func htmlUnescaped(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out.WriteByte(b[i])
			continue
		}
		if i+6 <= len(b) && b[i+1] == 'u' {
			switch strings.ToLower(string(b[i+2 : i+6])) {
			case "003c":
				out.WriteByte('<')
				i += 5
				continue
			case "003e":
				out.WriteByte('>')
				i += 5
				continue
			case "0026":
				out.WriteByte('&')
				i += 5
				continue
			}
		}
		// Any other escape, \\ included, whole: its second character is
		// not the start of another.
		out.Write(b[i : i+2])
		i++
	}
	return out.String()
}

const poolAddHelp = `Usage: locker pool add POOL MEMBER [--metadata JSON | --metadata-file FILE] [--json]

Makes lock MEMBER a member of POOL (a lock the server has not seen is
created, free), or updates the metadata of a member. Without --metadata or
--metadata-file a member keeps the metadata it has. A lock may be in
several pools; a held lock stays held.

  --metadata JSON        the member's metadata: any JSON value (at most
                         64 KiB), e.g. '{"region": "us-east-1"}'; quote text
                         as JSON: '"text"'
  --metadata-file FILE   read the metadata from FILE ("-": standard input):
                         stored as JSON if it is JSON, else as a JSON string
                         holding the text (as pool-resource lock files are)
  --json                 print the member's new state as JSON
`

// poolAndMember refuses an empty pool or member name, as the other
// commands refuse an empty lock name.
func poolAndMember(pos []string) error {
	for i, what := range []string{"pool name", "member name"} {
		if pos[i] == "" {
			return fmt.Errorf("the %s is empty (an empty variable?)", what)
		}
	}
	return nil
}

func runPoolAdd(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("pool add", poolAddHelp, env, stdout, stderr)
	mdFlag := c.fs.String("metadata", "", "")
	mdFile := c.fs.String("metadata-file", "", "")
	asJSON := c.fs.Bool("json", false, "")
	pos, _, err := c.parse(args, false)
	if err != nil {
		return c.usage(err)
	}
	if len(pos) != 2 {
		return c.usage(fmt.Errorf("give the pool and the member: locker pool add POOL MEMBER (got %d arguments)", len(pos)))
	}
	if err := poolAndMember(pos); err != nil {
		return c.usage(err)
	}
	var metadata json.RawMessage
	given := func(name string) bool {
		seen := false
		c.fs.Visit(func(f *flag.Flag) { seen = seen || f.Name == name })
		return seen
	}
	switch {
	case given("metadata") && given("metadata-file"):
		return c.usage(errors.New("give --metadata or --metadata-file, not both"))
	case given("metadata"):
		if !json.Valid([]byte(*mdFlag)) {
			return c.usage(fmt.Errorf("--metadata is not valid JSON: %s (to store text, quote it as JSON, '\"text\"', or use --metadata-file)", jsonProblem(*mdFlag)))
		}
		metadata = json.RawMessage(*mdFlag)
	case given("metadata-file"):
		var b []byte
		if *mdFile == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*mdFile)
		}
		if err != nil {
			return c.usage(fmt.Errorf("--metadata-file: %v", err))
		}
		metadata = metadataFromText(b)
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	pool, name := pos[0], pos[1]
	l, err := cl.AddMember(ctx, pool, name, metadata)
	if err != nil && client.Ambiguous(err) {
		return c.poolChangeLost(pool, err, "added")
	}
	if err != nil {
		return c.failPool(pool, err)
	}
	if *asJSON {
		return c.wrote(writeJSONTo(stdout, l), "the member was added")
	}
	state := "free"
	if !l.Free() {
		state = "held by " + holderList(l) + " (key '" + shown(l.Key) + "')"
	}
	_, err = fmt.Fprintf(stdout, "'%s' is a member of pool '%s' (%s); metadata: %s\n", shown(name), shown(pool), state, metadataSummary(l.Metadata, 60))
	return c.wrote(err, "the member was added")
}

// jsonProblem says briefly what is wrong with s as JSON.
func jsonProblem(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "invalid"
}

// metadataFromText turns the content of a metadata file into metadata: the
// JSON it holds, or, when it is not JSON, a JSON string of its text.
func metadataFromText(b []byte) json.RawMessage {
	if t := bytes.TrimSpace(b); len(t) > 0 && json.Valid(t) {
		return json.RawMessage(bytes.Clone(t))
	}
	s, _ := json.Marshal(strings.ToValidUTF8(string(b), "\uFFFD"))
	return s
}

const poolRemoveHelp = `Usage: locker pool rm POOL MEMBER [--force [--fence N] [--key KEY] [--holder HOLDER]] [--json]   (alias: remove)

Takes MEMBER out of POOL. A held member is refused (exit 3) unless --force,
which releases its holds first. The lock itself, its history and its other
pools remain.

  --force          remove it even while held, releasing every hold on it, of
                   every holder under its key. When the server has an admin
                   user (LOCKER_ADMIN_USER), only that user may force
  --fence N        with --force: only while the member is held under fence
                   token N (locker status shows it); if it was taken again
                   since, exit 3 and nothing is forced or removed
  --holder HOLDER  with --force: only while every hold on the member is
                   HOLDER's; if others hold it too (holders sharing a key
                   share its fence, so --fence cannot tell one that joined
                   since), exit 3 and nothing is forced or removed
  --key KEY        with --force: only while it is held under KEY (and, without
                   --holder, by KEY alone, the holder a key stands for)
  --json           print the lock's new state as JSON

A server from before --holder and --key ignores them and forces every hold;
its answer does not say it checked them, and this command then warns on
stderr (the member was removed, exit 0). Check who holds the member first
(locker status) if the server may be older.
`

func runPoolRemove(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	c := newClientCmd("pool rm", poolRemoveHelp, env, stdout, stderr)
	force := c.fs.Bool("force", false, "")
	var fenceValue fenceFlag
	c.fs.Var(&fenceValue, "fence", "")
	fence := (*uint64)(&fenceValue)
	key := c.fs.String("key", "", "")
	holder := c.fs.String("holder", "", "")
	asJSON := c.fs.Bool("json", false, "")
	pos, _, err := c.parse(args, false)
	if err != nil {
		return c.usage(err)
	}
	if len(pos) != 2 {
		return c.usage(fmt.Errorf("give the pool and the member: locker pool rm POOL MEMBER (got %d arguments)", len(pos)))
	}
	if err := poolAndMember(pos); err != nil {
		return c.usage(err)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"--fence", *fence != 0}, {"--key", *key != ""}, {"--holder", *holder != ""}} {
		if f.set && !*force {
			return c.usage(fmt.Errorf("%s goes with --force", f.name))
		}
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	pool, name := pos[0], pos[1]
	l, err := cl.RemoveMemberWith(ctx, pool, name, client.RemoveOptions{Force: *force, Fence: *fence, Key: *key, Holder: *holder})
	if errors.Is(err, client.ErrHolderNotChecked) {
		// Removed all the same, every hold forced: a server from
		// before the holder condition.
		under := ""
		if *key != "" {
			under = fmt.Sprintf(" under key '%s'", shown(*key))
		}
		c.notChecked("a forced removal's holder (it predates --holder and --key)",
			fmt.Sprintf("it removed '%s' from pool '%s' and ended every hold on it, whoever's, without checking that they were all held by '%s'%s; see '%s'",
				shown(name), shown(pool), shown(firstOf(*holder, *key)), under, shown(suggest([]string{"history"}, name))))
		err = nil
	}
	if err != nil {
		var ae *client.APIError
		if *force && errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil {
			fmt.Fprintf(stderr, "locker pool rm: %s\n", whyNotForced(ae))
			return ExitError{Code: exitHeld}
		}
		if errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock != nil && !ae.Lock.Free() {
			fmt.Fprintf(stderr, "locker pool rm: member '%s' of pool '%s' %s; %s, or remove it with --force\n",
				shown(name), shown(pool), strings.TrimPrefix(heldBy(ae.Lock), "lock '"+shown(name)+"' "), releaseFirst(ae.Lock))
			return ExitError{Code: exitHeld}
		}
		if client.Ambiguous(err) {
			return c.poolChangeLost(pool, err, "removed")
		}
		return c.failPool(pool, err)
	}
	if *asJSON {
		return c.wrote(writeJSONTo(stdout, l), "the member was removed")
	}
	msg := fmt.Sprintf("removed '%s' from pool '%s'", name, pool)
	if *force {
		msg += "; it is free"
	}
	if len(l.Pools) > 0 {
		msg += fmt.Sprintf(" (still in pool(s) '%s')", strings.Join(l.Pools, "', '"))
	}
	_, err = fmt.Fprintln(stdout, shown(msg))
	return c.wrote(err, "the member was removed")
}

// whyNotForced says why the server refused a forced removal of a held
// member: the server's own reason (its fence changed, it is held under
// another key, or by others than the holder), and since when the member
// is held.
func whyNotForced(ae *client.APIError) string {
	msg := ae.Message
	if !strings.Contains(msg, "nothing was forced or removed") {
		msg += "; nothing was forced or removed"
	}
	if l := ae.Lock; !l.Free() && !l.Since.IsZero() {
		msg += " (held since " + clock(l.Since, time.Now()) + ")"
	}
	return shown(msg)
}

const poolAcquireHelp = `Usage: locker pool acquire POOL --key KEY [--holder HOLDER] [--wait D] [--ttl D] [--json]

Takes one hold on whichever member of POOL is free — the one free longest,
so that use spreads evenly — and prints its name on stdout, alone on its
line, for scripts (as it is; on a terminal, with the characters that would
act on it or hide escaped, as the other commands print names):

  env=$(locker pool acquire test-envs --key "$BUILD_ID" --ttl 2h)
  ...
  locker unlock "$env" --key "$BUILD_ID"

With --json it prints the member instead: name, fencing token, holders and
metadata ("metadata"), e.g. for jq -r .metadata.region.

  --key KEY       the key to lock with (required); release with the same
  --holder NAME   who holds it (default: the key)
  --wait D        how long to wait when every member is held, e.g. 30s or
                  10m; 0 fails at once (exit 3). Default: wait until one is
                  free, first come, first served (Ctrl-C gives up). With
                  D, it also gives up (exit 1) on a server that has not
                  answered by D+10s
  --ttl D         lease: the hold ends by itself after D unless refreshed
                  (this command does not refresh it; 'locker run --pool'
                  does). Default: none, it lasts until unlocked. A server
                  whose longest lease (LOCKER_MAX_TTL) is shorter grants
                  that, warned on stderr
  --json          print the member as JSON
` + waitChunkHelp

func runPoolAcquire(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	defer brokenPipesFail()()
	c := newClientCmd("pool acquire", poolAcquireHelp, env, stdout, stderr)
	key, holder, wait, ttl, asJSON := c.holdFlags()
	pool, err := c.parseOne(args, "pool name")
	if err != nil {
		return c.usage(err)
	}
	if *key == "" {
		return c.usage(errors.New("--key is required: the key to lock with"))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	l, err := c.acquireFromPool(ctx, cl, pool, client.LockOptions{Key: *key, Holder: *holder, TTL: ttl.d}, wait)
	if err != nil {
		return err
	}
	if err := c.leaseOutlived(ctx, cl, l, fmt.Sprintf("'%s' from pool '%s'", l.Name, pool), *key, *holder); err != nil {
		return err
	}
	c.shortLease(l, firstOf(*holder, *key), ttl.d, leaseNotRenewed)
	c.say("locked '%s' from pool '%s' with key '%s' (fence %d)", l.Name, pool, *key, l.Fence)
	var werr error
	if *asJSON {
		werr = writeJSONTo(stdout, l)
	} else {
		_, werr = fmt.Fprintln(stdout, memberName(stdout, l.Name))
	}
	if werr != nil {
		return c.outputFailed(ctx, cl, l, fmt.Sprintf("'%s' from pool '%s'", l.Name, pool), *key, *holder, werr)
	}
	return nil
}

// memberName is the name pool acquire prints: as it is for the scripts
// that capture it (locker unlock "$member" needs it whole), escaped as the
// server's text is elsewhere (shown) when stdout is a terminal, which a
// name's control or bidi characters (a server other than Locker, or a
// proxy, may send any) would act on.
func memberName(stdout io.Writer, name string) string {
	if isTerminal(stdout) {
		return shown(name)
	}
	return name
}

// acquireFromPool takes a member of pool, waiting as wait says, with
// progress on stderr. Its errors are reported already: return them as they
// are.
func (c *clientCmd) acquireFromPool(ctx context.Context, cl *client.Client, pool string, o client.LockOptions, wait *waitFlag) (*client.Lock, error) {
	o.Wait = wait.wait()
	o.Retrying = c.retrying()
	p := c.startPoolProgress(ctx, cl, pool)
	// The client gives up at the wait and answerGrace (ErrNoAnswer).
	l, err := cl.AcquireFromPool(ctx, pool, o)
	silent := wait.silent(err)
	p.stop()
	if err == nil && l.ReadBack {
		c.say("'%s' from pool '%s': %s", l.Name, pool, l.Message)
	}
	if err == nil {
		return l, nil
	}
	var msg string
	code, stopped := exitError, wait.noAnswer()
	if !silent {
		msg, code = c.explainPool(pool, err)
		stopped = "interrupted"
	}
	h := firstOf(o.Holder, o.Key)
	// The member a hold of our key and holder was found on, when one was:
	// named with the command that releases it, as lock does.
	var mh *client.MaybeHeldError
	found := errors.As(err, &mh) && mh.Lock != nil && mh.Lock.Name != ""
	switch {
	case (code == exitInterrupted || silent) && found:
		m := mh.Lock.Name
		msg = fmt.Sprintf("%s: gave up waiting for a member of pool '%s', but the server may have granted '%s' just then: see '%s', and release it with '%s' (%v)", stopped, pool, m, suggest([]string{"status"}, m), suggestUnlock(m, o.Key, h), err)
	case (code == exitInterrupted || silent) && errors.Is(err, client.ErrMaybeHeld):
		msg = fmt.Sprintf("%s: gave up waiting for a member of pool '%s', but the server may have granted one just then: see '%s' (%v)", stopped, pool, suggest([]string{"pool", "ls"}, pool), err)
	case code == exitInterrupted, silent:
		msg = fmt.Sprintf("%s: gave up waiting for a member of pool '%s' (none was taken)", stopped, pool)
	case found:
		m := mh.Lock.Name
		msg = fmt.Sprintf("the answer to the request for a member of pool '%s' was lost, and member '%s' shows a hold of key '%s', holder '%s', taken meanwhile: this command's, or another's that shares the key and holder. See '%s'; if nothing else uses them, the hold is yours: release it with '%s' (%v)", pool, m, o.Key, h, suggest([]string{"status"}, m), suggestUnlock(m, o.Key, h), err)
	case errors.Is(err, client.ErrMaybeHeld):
		msg = fmt.Sprintf("the answer to the request for a member of pool '%s' was lost, and the pool could not be read back to see whether one was taken. See '%s' for a member held by key '%s', holder '%s' that nothing else took (%v)", pool, suggest([]string{"pool", "ls"}, pool), o.Key, firstOf(o.Holder, o.Key), err)
	case code == exitHeld && wait.d > 0:
		msg = fmt.Sprintf("gave up after waiting %s: %s", wait.d, msg)
	}
	fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, shown(msg))
	return nil, ExitError{Code: code}
}

// poolChangeLost fails a pool add or rm whose outcome is unknown (err: the
// answer lost on the way, a gateway's error, interrupted after the request
// went out): it says the member may have been added or removed (done), as
// unlock and forget say of theirs, rather than only "interrupted" or
// "cannot reach", which read as nothing done.
func (c *clientCmd) poolChangeLost(pool string, err error, done string) error {
	msg, _ := c.explainPool(pool, err)
	fmt.Fprintf(c.stderr, "locker %s: %s; the answer was lost on the way, and the member may have been %s: see '%s'\n", c.name, shown(msg), done, shown(suggest([]string{"pool", "ls"}, pool)))
	return ExitError{Code: exitError}
}

// failPool is fail for errors about a pool.
func (c *clientCmd) failPool(pool string, err error) error {
	if errors.Is(err, errUsage) {
		return c.fail(err)
	}
	msg, code := c.explainPool(pool, err)
	fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, shown(msg))
	return ExitError{Code: code}
}

// explainPool is explain, with words for a pool that is empty or fully
// held, and for a server without pools.
func (c *clientCmd) explainPool(pool string, err error) (string, int) {
	var ae *client.APIError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted", exitInterrupted
	case errors.Is(err, client.ErrPoolsUnsupported):
		return strings.TrimPrefix(err.Error(), "locker client: "), exitError
	case errors.Is(err, client.ErrLocked) && errors.As(err, &ae) && ae.Lock == nil:
		// The pool's refusal: every member held.
		msg := fmt.Sprintf("every member of pool '%s' is held", pool)
		// The command's context may have ended: a short one of its own.
		pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if cl, cerr := c.client(); cerr == nil {
			if p, perr := cl.Pool(pctx, pool); perr == nil {
				msg += fmt.Sprintf(" (%d of %d", p.Total-p.Free, p.Total)
				if p.Waiters > 0 {
					msg += fmt.Sprintf(", %d waiting", p.Waiters)
				}
				msg += ")"
			}
		}
		return msg, exitHeld
	case errors.Is(err, client.ErrNotFound) && errors.As(err, &ae) && strings.Contains(ae.Message, "has no members"):
		return fmt.Sprintf("pool '%s' has no members (add some with '%s MEMBER')", pool, suggest([]string{"pool", "add"}, pool)), exitError
	}
	return explain(err)
}

// startPoolProgress shows, while waiting for a member of pool, how many are
// held and how long we have waited: a line redrawn in place on a terminal,
// a line every 10s with --verbose otherwise.
func (c *clientCmd) startPoolProgress(ctx context.Context, cl *client.Client, pool string) *progress {
	return startWaitProgress(c, ctx,
		func(ctx context.Context) (*client.Pool, error) { return cl.Pool(ctx, pool) },
		func(state *client.Pool, waited time.Duration, _ time.Time) string {
			line := fmt.Sprintf("waiting for a member of pool '%s'", pool)
			if state != nil {
				line += fmt.Sprintf(", %d of %d held", state.Total-state.Free, state.Total)
				if state.Waiters > 0 {
					line += fmt.Sprintf(", %d waiting", state.Waiters)
				}
			}
			return line + "; waited " + human(waited)
		})
}
