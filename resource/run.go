// Package resource is Locker's Concourse resource type: check, in and out,
// speaking Concourse's protocol (a JSON request on stdin, a JSON answer on
// stdout, logs on stderr, a non-zero exit on failure) to a Locker server —
// this one, or the original, which has no blocking waits.
//
// The source configuration is the original locker-resource's (locker_uri,
// username, password, ca_cert, skip_ssl_validation, and lock_name or
// bosh_lock), plus retry_delay, timeout and wait_chunk. With source.pool
// instead, it works like Concourse's pool-resource, on the server's pools
// (pool.go).
// See docs/concourse.md.
package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Command returns the command to run and its arguments from a process's
// argv: the program's own name when it is check, in or out (the links in
// /opt/resource), and its first argument otherwise
// (locker-resource check).
func Command(argv []string) (cmd string, args []string) {
	if len(argv) == 0 {
		return "", nil
	}
	switch base := filepath.Base(argv[0]); base {
	case "check", "in", "out":
		return base, argv[1:]
	}
	if len(argv) < 2 {
		return "", nil
	}
	return argv[1], argv[2:]
}

const usage = `usage: locker-resource check        (or run as /opt/resource/check)
       locker-resource in <dir>     (or /opt/resource/in <dir>)
       locker-resource out <dir>    (or /opt/resource/out <dir>)

Locker's Concourse resource: the JSON request comes on standard input, the
answer goes to standard output, logs to standard error. See docs/concourse.md.`

// Run runs one command of the resource and returns the process's exit code.
// ctx ending (the build aborted) stops a wait for a lock.
func Run(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch cmd {
	case "check", "in", "out":
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	case "":
		fmt.Fprintln(stderr, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "locker-resource: unknown command %q\n%s\n", cmd, usage)
		return 2
	}
	if cmd == "in" && (len(args) < 1 || args[0] == "") {
		fmt.Fprintln(stderr, "locker-resource: in needs the directory to write to: in <dir>")
		return 2
	}
	const maxRequest = 16 << 20
	in, err := io.ReadAll(io.LimitReader(stdin, maxRequest+1))
	if err != nil {
		fmt.Fprintf(stderr, "locker-resource: reading the request: %v\n", err)
		return 1
	}
	if len(in) > maxRequest {
		fmt.Fprintf(stderr, "locker-resource: the request on standard input is over %d MiB: too large\n", maxRequest>>20)
		return 1
	}
	// Whatever happens next, nothing printed shows the password.
	log := &logger{w: stderr, secrets: secretsIn(in)}
	out, err := run(ctx, cmd, args, in, log)
	if err != nil {
		if ctx.Err() != nil { // the build was aborted
			log.printf("interrupted: %v", err)
		} else {
			log.printf("error: %v", err)
		}
		return 1
	}
	b, err := json.Marshal(out)
	if err != nil {
		log.printf("error: %v", err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		log.printf("error: writing the answer: %v", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cmd string, args []string, in []byte, log *logger) (any, error) {
	req, err := parseRequest(in)
	if err != nil {
		return nil, err
	}
	src, warnings, err := parseSource(req.Source)
	for _, w := range warnings {
		log.printf("warning: %s", w)
	}
	if err != nil {
		return nil, err
	}
	version, err := parseVersion(req.Version)
	if err != nil {
		return nil, err
	}
	dir := ""
	if len(args) > 0 {
		dir = args[0]
	}
	var (
		params     *OutParams
		poolParams *PoolParams
	)
	if cmd == "in" && getTakesParams(req.Params) {
		// get: instead of put: would read the lock and take nothing.
		log.printf("warning: a get of this resource takes no params and ignores these (%s); to lock, unlock, acquire or release, use a put step with them", compactParams(req.Params))
	}
	if cmd == "out" {
		if src.Pool != "" {
			poolParams, warnings, err = parsePoolParams(req.Params, dir, getenv)
		} else {
			params, warnings, err = parseOutParams(req.Params, dir)
		}
		for _, w := range warnings {
			log.printf("warning: %s", w)
		}
		if err != nil {
			return nil, err
		}
	}
	r, err := newRunner(src, log)
	if err != nil {
		return nil, err
	}
	switch {
	case cmd == "check" && src.Pool != "":
		return r.poolCheck(ctx, version)
	case cmd == "check":
		return r.check(ctx, version)
	case cmd == "in" && src.Pool != "":
		return r.poolIn(ctx, dir, version)
	case cmd == "in":
		return r.in(ctx, dir, version)
	case src.Pool != "":
		return r.poolOut(ctx, poolParams)
	default:
		return r.out(ctx, dir, params)
	}
}

// logger writes lines to stderr, leaving out the secrets.
type logger struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

// minSecret is the shortest secret redacted from logs: shorter ones would
// blank out ordinary words. (The resource never prints a secret; this is a
// second line of defence.)
const minSecret = 4

func (l *logger) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	for _, s := range l.secrets {
		line = redact(line, s)
	}
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, line)
}

// redact replaces the occurrences of secret in line that are not part of
// a longer word: a password such as "test" must not turn "smoke-tests"
// into "smoke-***s", while "user:test@host" still loses it.
func redact(line, secret string) string {
	var b strings.Builder
	for {
		i := strings.Index(line, secret)
		if i < 0 {
			b.WriteString(line)
			return b.String()
		}
		end := i + len(secret)
		before, _ := utf8.DecodeLastRuneInString(line[:i])
		after, _ := utf8.DecodeRuneInString(line[end:])
		b.WriteString(line[:i])
		first, _ := utf8.DecodeRuneInString(secret)
		last, _ := utf8.DecodeLastRuneInString(secret)
		if i > 0 && wordRune(before) && wordRune(first) || end < len(line) && wordRune(after) && wordRune(last) {
			b.WriteString(secret) // inside a word
		} else {
			b.WriteString("***")
		}
		line = line[end:]
	}
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// secretsIn finds the secrets in a request, even one that is not valid:
// the password, and passwords in the URLs.
func secretsIn(b []byte) []string {
	var r struct {
		Source map[string]json.RawMessage `json:"source"`
	}
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	// text is a field as parseSource takes it: a string, or the text of
	// a number or a boolean (password: 12345678 in YAML).
	text := func(k string) (string, bool) {
		v := r.Source[k]
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s, true
		}
		if t := jsonType(v); t == "a number" || t == "a boolean" {
			return string(bytes.TrimSpace(v)), true
		}
		return "", false
	}
	var secrets []string
	add := func(s string) {
		if len(s) >= minSecret {
			secrets = append(secrets, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	if p, ok := text("password"); ok {
		add(p)
	}
	for _, k := range []string{"locker_uri", "bosh_lock"} {
		if s, ok := text(k); ok {
			if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
				if p, ok := u.User.Password(); ok {
					add(p)
				}
			}
		}
	}
	return secrets
}

// errTimeout marks a failure because source.timeout ran out.
var errTimeout = errors.New("source.timeout ran out")

// withTimeout applies source.timeout to ctx.
func (r *runner) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.src.Timeout > 0 {
		return context.WithTimeoutCause(ctx, r.src.Timeout, errTimeout)
	}
	return context.WithCancel(ctx)
}

// round shortens a duration for messages.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// getTakesParams reports whether a get's params hold anything: an object
// with fields (Concourse sends none, or {}, when a get step sets none).
func getTakesParams(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(t, &m) == nil {
		return len(m) > 0
	}
	return true // not an object: not what a get takes either
}

// compactParams is raw as one short line for a message.
func compactParams(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "not JSON"
	}
	if b.Len() > 200 {
		return b.String()[:200] + "…"
	}
	return b.String()
}
