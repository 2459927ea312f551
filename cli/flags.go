package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lock"
)

// Exit codes of the client commands (locker run exits with its command's
// status once the command ran).
const (
	exitError       = 1   // any other failure: server unreachable, refused credentials...
	exitUsage       = 2   // a mistake on the command line
	exitHeld        = 3   // the lock is held under another key (and waiting, if asked, ran out)
	exitInterrupted = 130 // a signal (cli.Signals) while waiting
)

// defaultURL is the server the client commands talk to without --url or
// LOCKER_URL.
const defaultURL = "http://127.0.0.1:3000"

// connectionHelp is appended to every client command's help.
const connectionHelp = `
Connection (flags win over the environment):
  --url URL         server address (env LOCKER_URL, default ` + defaultURL + `)
  --user USER       basic auth user (env LOCKER_USER)
  --pass PASS       basic auth password (env LOCKER_PASS; prefer the variable:
                    command lines are visible to other users)
  --ca-cert FILE    PEM file of the CA that signed the server's certificate
                    (env LOCKER_CA_CERT: a file name, or the PEM text itself)
  --insecure        do not verify the server's certificate (env LOCKER_INSECURE=true)
  -v, --verbose     say what happens on stderr (always when stderr is a terminal)
  -h, --help        show this help

Flags may come before or after the other arguments.
`

// exitHelp is the exit statuses a command's help ends with: only the
// commands that take, release or forget a lock can find it held (exit 3)
// (run says its own).
func exitHelp(name string) string {
	switch name {
	case "run":
		return ""
	case "lock":
		return "Exit status: 0 done, 1 error, 2 bad command line, 3 lock held by another key\n(or --wait ran out), 130 interrupted.\n"
	case "pool acquire":
		return "Exit status: 0 done, 1 error, 2 bad command line, 3 every member held\n(or --wait ran out), 130 interrupted.\n"
	case "unlock":
		return "Exit status: 0 done, 1 error, 2 bad command line, 3 lock held by another key\n(with --fence: taken again since), 130 interrupted.\n"
	case "pool rm":
		return "Exit status: 0 done, 1 error, 2 bad command line, 3 member held (without\n--force; with --fence: taken again since; with --key or --holder: held under\nanother key or by others), 130 interrupted.\n"
	case "forget":
		return "Exit status: 0 done, 1 error, 2 bad command line, 3 lock held (or waited\nfor), 130 interrupted.\n"
	}
	return "Exit status: 0 done, 1 error, 2 bad command line, 130 interrupted.\n"
}

// clientCmd is what the client commands share: their flag set with the
// connection flags, their output, and the friendly reporting of errors.
type clientCmd struct {
	name           string
	help           string
	fs             *flag.FlagSet
	env            Env
	stdout, stderr io.Writer

	url, user, pass, caCert string
	insecure                optionalBool
	verbose                 bool
	waitChunk               *chunkFlag // --wait-chunk, of the commands that wait (nil: others)
}

func newClientCmd(name, help string, env Env, stdout, stderr io.Writer) *clientCmd {
	c := &clientCmd{name: name, help: help, env: env, stdout: stdout, stderr: stderr}
	c.fs = flag.NewFlagSet("locker "+name, flag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	c.fs.Usage = func() {}
	c.fs.StringVar(&c.url, "url", "", "")
	c.fs.StringVar(&c.user, "user", "", "")
	c.fs.StringVar(&c.pass, "pass", "", "")
	c.fs.StringVar(&c.caCert, "ca-cert", "", "")
	c.fs.Var(&c.insecure, "insecure", "")
	c.fs.BoolVar(&c.verbose, "verbose", false, "")
	c.fs.BoolVar(&c.verbose, "v", false, "")
	return c
}

// parseOne parses args that name one thing (what, e.g. "lock name") among
// the flags, and returns it. Report its errors with c.usage.
func (c *clientCmd) parseOne(args []string, what string) (string, error) {
	pos, _, err := c.parse(args, false)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("give one %s (got %d arguments)", what, len(pos))
	}
	if pos[0] == "" {
		return "", fmt.Errorf("the %s is empty (an empty variable?)", what)
	}
	return pos[0], nil
}

// parse parses args with flags anywhere among them (the flag package alone
// stops at the first non-flag). It returns the other arguments. With
// command set, the arguments after "--", or from the second non-flag one on,
// are a command to run: returned unparsed as cmd.
func (c *clientCmd) parse(args []string, command bool) (pos, cmd []string, err error) {
	var flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if command {
				return c.finish(flags, pos, args[i+1:], true)
			}
			pos = append(pos, args[i+1:]...)
			return c.finish(flags, pos, nil, false)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			f := c.fs.Lookup(name)
			if f == nil || i+1 == len(args) {
				continue
			}
			next := args[i+1]
			if isBoolFlag(f) {
				if next == "true" || next == "false" {
					// Not its value: it would start the command
					// true or false, or be taken for a name.
					return nil, nil, fmt.Errorf("%s takes no value (got %q after it): write %s=%s, or leave it out", a, next, a, next)
				}
				continue
			}
			if vname, _, _ := strings.Cut(strings.TrimLeft(next, "-"), "="); next == "--" || next != "-" && strings.HasPrefix(next, "-") && c.fs.Lookup(vname) != nil {
				// An empty, unquoted variable (--key $KEY): the
				// flag would take "--" or the next flag as its value.
				return nil, nil, fmt.Errorf("%s needs a value, but is followed by %q (an empty variable?); to give a value that starts with a dash, write %s=VALUE", a, next, a)
			}
			flags = append(flags, next)
			i++
		case command && len(pos) >= 1:
			return c.finish(flags, pos, args[i:], true)
		default:
			pos = append(pos, a)
		}
	}
	return c.finish(flags, pos, nil, false)
}

func (c *clientCmd) finish(flags, pos, cmd []string, sawCmd bool) ([]string, []string, error) {
	if err := c.fs.Parse(flags); err != nil {
		return nil, nil, dashed(err)
	}
	if c.fs.NArg() > 0 {
		pos = append(pos, c.fs.Args()...)
	}
	if sawCmd && cmd == nil {
		cmd = []string{}
	}
	return pos, cmd, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usage reports a mistake on the command line (exit 2), or prints the help
// for --help (exit 0).
func (c *clientCmd) usage(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.stdout, c.help, connectionHelp, exitHelp(c.name))
		return nil
	}
	fmt.Fprintf(c.stderr, "locker %s: %v\nRun 'locker %s --help' for usage.\n", c.name, err, c.name)
	return ExitError{Code: exitUsage}
}

// client builds the client from the flags and the environment.
func (c *clientCmd) client() (*client.Client, error) {
	opts := client.Options{
		URL:  firstOf(c.url, c.env("LOCKER_URL"), defaultURL),
		User: firstOf(c.user, c.env("LOCKER_USER")),
		Pass: firstOf(c.pass, c.env("LOCKER_PASS")),
	}
	if u, err := url.Parse(c.url); err == nil && u.User != nil && c.user == "" {
		// Credentials in --url win over LOCKER_USER and LOCKER_PASS, as
		// every flag does over the environment; a user without a
		// password takes --pass or LOCKER_PASS.
		opts.User = u.User.Username()
		if p, ok := u.User.Password(); ok && c.pass == "" {
			opts.Pass = p
		}
	}
	if c.insecure.set {
		opts.InsecureSkipVerify = c.insecure.value
	} else if v := c.env("LOCKER_INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: LOCKER_INSECURE=%q: use true or false", errUsage, v)
		}
		opts.InsecureSkipVerify = b
	}
	if ca := firstOf(c.caCert, c.env("LOCKER_CA_CERT")); ca != "" {
		b, err := readCACert(ca)
		if err != nil {
			return nil, err
		}
		opts.CACert = b
	}
	chunk, err := c.waitChunkOption()
	if err != nil {
		return nil, err
	}
	opts.WaitChunk = chunk
	opts.AnswerGrace = answerGrace
	cl, err := client.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), "locker client: "))
	}
	return cl, nil
}

// fail reports err on stderr in words, and returns the exit code for it.
func (c *clientCmd) fail(err error) error {
	if errors.Is(err, errUsage) {
		return c.usage(errors.New(shown(strings.TrimPrefix(err.Error(), errUsage.Error()+": "))))
	}
	msg, code := explain(err)
	fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, msg)
	return ExitError{Code: code}
}

// say prints progress on stderr when it is a terminal or with --verbose.
func (c *clientCmd) say(format string, args ...any) {
	if c.verbose || isTerminal(c.stderr) {
		fmt.Fprintf(c.stderr, "locker %s: %s\n", c.name, shown(fmt.Sprintf(format, args...)))
	}
}

// explain turns an error into a sentence for a person, and its exit code.
// The server's text in it is shown escaped (shown).
func explain(err error) (string, int) {
	msg, code := explainRaw(err)
	return shown(msg), code
}

func explainRaw(err error) (string, int) {
	var (
		ae *client.APIError
		ce *client.ConnError
		wc *client.WaitCutError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted", exitInterrupted
	case errors.As(err, &wc):
		return explainCut(wc), exitError
	case errors.Is(err, client.ErrLocked):
		msg := err.Error()
		if errors.As(err, &ae) {
			msg = ae.Message
			if ae.Lock != nil && !ae.Lock.Free() {
				msg = heldBy(ae.Lock)
			}
		}
		return msg, exitHeld
	case errors.As(err, &ce):
		return ce.Error() + connHint(ce.Error()), exitError
	case errors.As(err, &ae) && !ae.FromLocker() && ae.StatusCode == http.StatusBadRequest && strings.Contains(ae.Message, "HTTP request to an HTTPS server"):
		msg, _, _ := strings.Cut(ae.Message, " (the server speaks HTTPS")
		return fmt.Sprintf("the server speaks HTTPS: use an https:// URL in --url (or LOCKER_URL) (it answered HTTP %d: %s)", ae.StatusCode, msg), exitError
	case errors.As(err, &ae) && ae.StatusCode >= 300 && ae.StatusCode < 400:
		// A redirect the client would not follow (a change turned into
		// a GET): its message says where to.
		return ae.Message + " (--url, or LOCKER_URL)", exitError
	case errors.As(err, &ae) && !ae.FromLocker() && (errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrBadRequest)):
		// Not Locker's JSON: another server, or a proxy without the
		// route.
		return fmt.Sprintf("the server answered HTTP %d (%s), not as a Locker server does: is --url (or LOCKER_URL) a Locker server's address?", ae.StatusCode, ae.Message), exitError
	case errors.As(err, &ae):
		switch {
		case errors.Is(err, client.ErrUnauthorized):
			return fmt.Sprintf("the server refused the credentials: %s (set LOCKER_USER and LOCKER_PASS, or --user and --pass)", ae.Message), exitError
		case errors.Is(err, client.ErrForbidden):
			return "not allowed: " + ae.Message, exitError
		case errors.Is(err, client.ErrNotFound):
			return ae.Message, exitError
		case errors.Is(err, client.ErrBadRequest):
			return "the server refused the request: " + ae.Message, exitError
		case ae.StatusCode == http.StatusTooManyRequests && strings.Contains(ae.Message, "failed logins"):
			// The server's limit on failed logins: it says when to try
			// again, and wrong credentials are the likely cause.
			return fmt.Sprintf("the server refuses this address for now: %s (HTTP %d); check the credentials (LOCKER_USER and LOCKER_PASS, or --user and --pass)", ae.Message, ae.StatusCode), exitError
		case client.MaybeMade(err):
			// Its store cannot tell whether the change was made: asked
			// again, a take or a release could count twice.
			return fmt.Sprintf("the server cannot serve this now: %s (HTTP %d); look at the lock before trying again", ae.Message, ae.StatusCode), exitError
		case errors.Is(err, client.ErrUnavailable):
			return fmt.Sprintf("the server cannot serve this now: %s (HTTP %d); try again later", ae.Message, ae.StatusCode), exitError
		}
		return fmt.Sprintf("the server answered HTTP %d: %s", ae.StatusCode, ae.Message), exitError
	}
	return strings.TrimPrefix(err.Error(), "locker client: "), exitError
}

// heldBy says who holds a lock: "lock 'prod' is held by 'deploy-a' (key
// 'x') since 14:02".
func heldBy(l *client.Lock) string {
	msg := fmt.Sprintf("lock '%s' is held by %s (key '%s')", shown(l.Name), holderList(l), shown(l.Key))
	if !l.Since.IsZero() {
		msg += " since " + clock(l.Since, time.Now())
	}
	return msg
}

// holderList names the holders: "'a'", "'a' (x2) and 'b'".
func holderList(l *client.Lock) string {
	hs := l.Holders()
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = "'" + shown(h) + "'"
		if n := l.LockedBy[h]; n > 1 {
			parts[i] += fmt.Sprintf(" (x%d)", n)
		}
	}
	switch len(parts) {
	case 0:
		return "nobody"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// clock shows a time of day in local time, with the date when it is not
// today.
func clock(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	if t.Year() == now.Year() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// human shows a duration briefly: "45s", "3m12s", "2h5m", "3d4h".
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// humanLeft is human for a time left (a lease's): rounded up to what the
// display shows (a second, under an hour; a minute, under 48 hours; an
// hour), so that a lease still running never reads 0s. human, for a time
// elapsed, rounds down.
func humanLeft(d time.Duration) string {
	if d <= 0 {
		return human(0)
	}
	d = ceil(d, time.Second)
	if d >= time.Hour {
		d = ceil(d, time.Minute)
	}
	if d >= 48*time.Hour {
		d = ceil(d, time.Hour)
	}
	return human(d)
}

// ceil rounds d up to a multiple of unit.
func ceil(d, unit time.Duration) time.Duration {
	if t := d.Truncate(unit); t < d {
		return t + unit
	}
	return d
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// optionalBool is a bool flag that knows whether it was given.
type optionalBool struct{ set, value bool }

func (b *optionalBool) String() string   { return strconv.FormatBool(b.value) }
func (b *optionalBool) IsBoolFlag() bool { return true }
func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("use true or false")
	}
	b.set, b.value = true, v
	return nil
}

// waitFlag is --wait: a duration, or "forever" (the default of lock and
// run). Zero means do not wait.
type waitFlag struct {
	d       time.Duration
	forever bool
}

func (w *waitFlag) String() string {
	if w.forever {
		return "forever"
	}
	return w.d.String()
}

func (w *waitFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "forever", "inf", "infinite", "-1":
		w.forever, w.d = true, 0
		return nil
	}
	d, err := lock.ParseDuration(s)
	if err != nil {
		return err
	}
	w.forever, w.d = false, d
	return nil
}

// wait is the flag as the client's Acquire takes it: 0 for ever, and a
// nanosecond (one try) for --wait 0.
func (w *waitFlag) wait() time.Duration {
	switch {
	case w.forever:
		return 0
	case w.d == 0:
		return time.Nanosecond
	}
	return w.d
}

// answerGrace is how long past --wait D the commands that wait give the
// server to answer (the client's Options.AnswerGrace): a wait of D ends
// within about D and this, even against a server that takes the connection
// and never answers. Without it, such a server held --wait 0 for a minute
// (the first read's 30s timeout, then the request's own on top of the
// wait).
const answerGrace = 10 * time.Second

// silent reports whether err is that of a wait the client gave up on at
// --wait and answerGrace: the server did not answer in time.
func (w *waitFlag) silent(err error) bool {
	return errors.Is(err, client.ErrNoAnswer)
}

// noAnswer says why a silent wait ended.
func (w *waitFlag) noAnswer() string {
	return fmt.Sprintf("no answer from the server within %s (--wait %s, and %s for its answer)", w.d+answerGrace, w.d, answerGrace)
}

// fenceFlag is --fence: a fencing token, a whole number (0, the default,
// for any).
type fenceFlag uint64

func (f *fenceFlag) String() string { return strconv.FormatUint(uint64(*f), 10) }
func (f *fenceFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a fencing token: give the whole number that locker status shows as the lock's fence", s)
	}
	*f = fenceFlag(v)
	return nil
}

// acquiredFlag is the time a hold began, as the lock's holds show it (RFC
// 3339, any precision and zone).
type acquiredFlag struct{ t time.Time }

func (f *acquiredFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}
func (f *acquiredFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("%q is not the time a hold began: give the hold's acquired as locker lock --json printed it (RFC 3339, such as 2026-11-25T23:21:03.833614Z)", s)
	}
	f.t = t
	return nil
}

// durationFlag is a duration flag that takes what lock.ParseDuration
// takes: "30s", "5m" or a number of seconds, never negative.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(s string) error {
	d, err := lock.ParseDuration(s)
	f.d = d
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isatty(f)
}

// holdFlags registers the flags of a command that takes a hold (lock, pool
// acquire): --key, --holder, --wait (forever by default), --ttl, --json.
func (c *clientCmd) holdFlags() (key, holder *string, wait *waitFlag, ttl *durationFlag, asJSON *bool) {
	key = c.fs.String("key", "", "")
	holder = c.fs.String("holder", "", "")
	wait = &waitFlag{forever: true}
	c.fs.Var(wait, "wait", "")
	ttl = &durationFlag{}
	c.fs.Var(ttl, "ttl", "")
	asJSON = c.fs.Bool("json", false, "")
	c.addWaitChunk()
	return key, holder, wait, ttl, asJSON
}

// readCACert reads --ca-cert or LOCKER_CA_CERT: a file, or the PEM text
// itself. White space around the text and around each of its lines (a
// leading newline, an indented YAML block, CRLF) is dropped: PEM's lines
// carry none that matters, and Go's PEM decoder refuses a BEGIN line that
// does not start its line.
func readCACert(ca string) ([]byte, error) {
	if strings.HasPrefix(strings.TrimSpace(ca), "-----BEGIN") {
		return trimPEMLines([]byte(ca)), nil
	}
	b, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the CA certificate: %v", errUsage, err)
	}
	return trimPEMLines(b), nil
}

// trimPEMLines returns PEM text with the white space around each line
// removed.
func trimPEMLines(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for line := range bytes.Lines(b) {
		out = append(append(out, bytes.TrimSpace(line)...), '\n')
	}
	return out
}

// connHint is what to try after a failure to reach the server, by its
// message: "" when there is nothing to say.
func connHint(msg string) string {
	switch {
	case strings.Contains(msg, "unknown authority"):
		return "; give the CA certificate with --ca-cert FILE (or LOCKER_CA_CERT), or skip verification with --insecure"
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		return "; is the server running, and is --url (or LOCKER_URL) right?"
	}
	return ""
}

// commandFlags returns the flag set of a command that reports its own
// mistakes (locker version, healthcheck, salvage, migrate): parseFlags
// parses it.
func commandFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // its error is returned, with -- (dashed)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. --help prints help on stdout and
// reports done; a mistake is an errUsage (exit 2) naming the command's
// --help.
func parseFlags(fs *flag.FlagSet, args []string, help string, stdout io.Writer) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			return true, nil
		}
		return false, fmt.Errorf("%w: %v; see %s --help", errUsage, dashed(err), fs.Name())
	}
	return false, nil
}

// dashed returns the flag package's parse error naming flags with the two
// dashes every help text and doc writes (--wait, not -wait). flag.ErrHelp
// is returned as it is.
func dashed(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{"for flag -", "not defined: -", "needs an argument: -"} {
		if i := strings.Index(msg, p); i >= 0 && !strings.HasPrefix(msg[i+len(p):], "-") {
			msg = msg[:i+len(p)] + "-" + msg[i+len(p):]
		}
	}
	return errors.New(msg)
}
