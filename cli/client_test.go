package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/internal/syncbuf"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// testServer starts a real server (file store, service, HTTP API) and
// returns its URL.
func testServer(t *testing.T, api httpapi.Config, svcCfg lockservice.Config) string {
	t.Helper()
	store, err := filestore.Open(filepath.Join(t.TempDir(), "locks.yml"), filestore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := lockservice.New(store, svcCfg)
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc, api))
	t.Cleanup(func() {
		svc.Close()
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		store.Close()
	})
	return srv.URL
}

type result struct {
	stdout, stderr string
	code           int
}

// locker runs the command in process with env as its whole environment.
func locker(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out syncBuffer
	r := lockerTo(ctx, &out, env, args...)
	r.stdout = out.String()
	return r
}

// lockerTo is locker with stdout given: the result's stdout is left empty.
func lockerTo(ctx context.Context, stdout io.Writer, env map[string]string, args ...string) result {
	var errb syncBuffer
	err := Run(ctx, append([]string{"locker"}, args...), func(k string) string { return env[k] }, stdout, &errb)
	r := result{stderr: errb.String()}
	var exit ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.Code
	case err != nil:
		r.code = 1
		r.stderr += err.Error()
	}
	return r
}

// syncBuffer is a bytes.Buffer safe for the command and the test to use at
// once.
type syncBuffer = syncbuf.Buffer

func (r result) want(t *testing.T, code int, stdoutRE, stderrRE string) {
	t.Helper()
	if r.code != code || !regexp.MustCompile(stdoutRE).MatchString(r.stdout) || !regexp.MustCompile(stderrRE).MatchString(r.stderr) {
		t.Fatalf("got exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout =~ %s, stderr =~ %s", r.code, r.stdout, r.stderr, code, stdoutRE, stderrRE)
	}
}

func TestParseFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		command  bool
		pos, cmd string
		key      string
		verbose  bool
		err      string
	}{
		{args: []string{"prod", "--key", "k"}, pos: "prod", key: "k"},
		{args: []string{"--key", "k", "prod"}, pos: "prod", key: "k"},
		{args: []string{"-key=k", "prod", "-v"}, pos: "prod", key: "k", verbose: true},
		{args: []string{"--verbose", "prod", "--key=k"}, pos: "prod", key: "k", verbose: true},
		{args: []string{"prod", "--", "--key"}, pos: "prod --key"},
		{args: []string{"prod", "-"}, pos: "prod -"},
		{args: []string{"prod", "--key"}, err: "flag needs an argument: --key"},
		{args: []string{"prod", "--nope"}, err: "flag provided but not defined: --nope"},
		{args: []string{"prod", "--key", "k", "--help"}, err: flag.ErrHelp.Error()},
		// Commands: after --, or from the first word after NAME.
		{args: []string{"prod", "--key", "k", "--", "ls", "-l", "--key", "x"}, command: true, pos: "prod", cmd: "ls -l --key x", key: "k"},
		{args: []string{"--key", "k", "prod", "make", "-j4", "--key", "x"}, command: true, pos: "prod", cmd: "make -j4 --key x", key: "k"},
		{args: []string{"prod", "-v", "--", "--weird"}, command: true, pos: "prod", cmd: "--weird", verbose: true},
		{args: []string{"prod", "--key", "k"}, command: true, pos: "prod", key: "k"},
		{args: []string{"--", "make"}, command: true, cmd: "make"},
		// A bool flag never takes a value: "true" or "false" after one
		// would start the command true or false.
		{args: []string{"prod", "-v", "false", "--", "deploy"}, command: true, err: `-v takes no value (got "false" after it): write -v=false, or leave it out`},
		{args: []string{"prod", "--insecure", "true"}, err: `--insecure takes no value (got "true" after it): write --insecure=true, or leave it out`},
		{args: []string{"prod", "-v=false", "--", "false"}, command: true, pos: "prod", cmd: "false"},
		// A flag that needs a value does not take "--" or one of the
		// flags (an empty variable: --key $KEY).
		{args: []string{"prod", "--key", "--", "deploy"}, command: true, err: `--key needs a value, but is followed by "--" (an empty variable?); to give a value that starts with a dash, write --key=VALUE`},
		{args: []string{"prod", "--key", "--url", "http://x"}, err: `--key needs a value, but is followed by "--url" (an empty variable?); to give a value that starts with a dash, write --key=VALUE`},
		{args: []string{"prod", "--key", "-v"}, err: `--key needs a value, but is followed by "-v" (an empty variable?); to give a value that starts with a dash, write --key=VALUE`},
		{args: []string{"prod", "--key", "-odd-key"}, pos: "prod", key: "-odd-key"},
		{args: []string{"prod", "--key", "-"}, pos: "prod", key: "-"},
		{args: []string{"prod", "--key=--"}, pos: "prod", key: "--"},
	} {
		c := newClientCmd("test", "", func(string) string { return "" }, nil, nil)
		key := c.fs.String("key", "", "")
		pos, cmd, err := c.parse(tc.args, tc.command)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if strings.Join(pos, " ") != tc.pos || strings.Join(cmd, " ") != tc.cmd || *key != tc.key || c.verbose != tc.verbose {
			t.Errorf("%q: pos %q cmd %q key %q verbose %v", tc.args, pos, cmd, *key, c.verbose)
		}
	}
}

func TestLockListStatusUnlock(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()

	locker(t, ctx, env, "list").want(t, 0, `^no locks\n$`, `^$`)
	locker(t, ctx, env, "lock", "prod", "--key", "x", "--holder", "deploy-a", "--ttl", "1h").
		want(t, 0, `^locked 'prod' with key 'x' for 'deploy-a' \(count 1, fence 1, lease ends in 1h00m\)\n$`, `^$`)
	locker(t, ctx, env, "lock", "--key", "x", "prod").want(t, 0, `^locked 'prod' with key 'x' for 'x' \(count 1, fence 1\)\n$`, `^$`)
	locker(t, ctx, env, "lock", "staging", "--key=y", "--json").want(t, 0, `"name": "staging",\n  "key": "y",`, `^$`)

	r := locker(t, ctx, env, "ls")
	r.want(t, 0, `(?m)^NAME +STATE +KEY +HOLDERS +HELD FOR +EXPIRES IN +FENCE +WAITERS\n`, `^$`)
	r.want(t, 0, `(?m)^prod +shared +x +deploy-a x1, x x1 +\ds +1h00m +1 +0\n`, ``)
	r.want(t, 0, `(?m)^staging +held +y +y x1 +\ds +- +2 +0\n$`, ``)

	r = locker(t, ctx, env, "list", "--json")
	var m map[string]client.Lock
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m["prod"].LockedBy["deploy-a"] != 1 || m["staging"].Fence != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}

	r = locker(t, ctx, env, "status", "prod")
	r.want(t, 0, `(?m)^lock: +prod\nstate: +shared \(key 'x'\)\nheld for: +\ds \(since \d\d:\d\d\)\nholders: +deploy-a x1, since \d\d:\d\d, lease ends in 1h00m\n +x x1, since \d\d:\d\d, no lease\nfence: +1\nwaiters: +0\n$`, `^$`)
	locker(t, ctx, env, "status", "never-used").want(t, 0, `^lock: +never-used\nstate: +free\nwaiters: +0\n$`, `^$`)
	locker(t, ctx, env, "status", "--json", "prod").want(t, 0, `"state": "shared"`, `^$`)

	// Another key: refused with who holds it, exit 3.
	locker(t, ctx, env, "lock", "prod", "--key", "z", "--wait", "0").
		want(t, 3, `^$`, `^locker lock: lock 'prod' is held by 'deploy-a' and 'x' \(key 'x'\) since \d\d:\d\d\n$`)
	locker(t, ctx, env, "unlock", "prod", "--key", "z").
		want(t, 3, `^$`, `^locker unlock: lock 'prod' is held by 'deploy-a' and 'x' \(key 'x'\) since \d\d:\d\d\n$`)
	locker(t, ctx, env, "lock", "prod", "--key", "z", "--wait", "300ms").
		want(t, 3, `^$`, `^locker lock: gave up after waiting 300ms: lock 'prod' is held by 'deploy-a' and 'x' \(key 'x'\) since \d\d:\d\d\n$`)

	locker(t, ctx, env, "unlock", "prod", "--key", "x", "--holder", "deploy-a").want(t, 0, `^unlocked 'prod' for 'deploy-a'; still held by 'x' \(key 'x'\)\n$`, `^$`)
	locker(t, ctx, env, "lock", "prod", "--key", "x").want(t, 0, `count 2`, `^$`)
	locker(t, ctx, env, "unlock", "prod", "--key", "x").want(t, 0, `^unlocked 'prod' once; 'x' still holds it 1 more time\(s\)\n$`, `^$`)
	locker(t, ctx, env, "unlock", "prod", "--key", "x").want(t, 0, `^unlocked 'prod'; it is free now\n$`, `^$`)
	locker(t, ctx, env, "unlock", "prod", "--key", "x").want(t, 0, `nothing to unlock`, `^$`)
	locker(t, ctx, env, "unlock", "staging", "--force").want(t, 0, `^force-released 'staging' \(it was held by 'y'\); it is free now\n$`, `^$`)

	r = locker(t, ctx, env, "history", "staging")
	r.want(t, 0, `(?m)^TIME +EVENT +HOLDER +KEY +COUNT +FENCE +BY\n.* acquired +y +y +1 +2 +-\n.* forced +y +y +0 +2 +anonymous@`, `^$`)
	r = locker(t, ctx, env, "history", "staging", "--json")
	var evs []client.Event
	if err := json.Unmarshal([]byte(r.stdout), &evs); err != nil || len(evs) != 2 {
		t.Fatalf("history --json: %v\n%s", err, r.stdout)
	}
	locker(t, ctx, env, "history", "nope").want(t, 1, `^$`, `^locker history: no lock named "nope"\n$`)
}

func TestLockWaitsWithProgress(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	locker(t, ctx, env, "lock", "prod", "--key", "a").want(t, 0, ``, `^$`)

	// Run by hand, to watch stderr while it waits.
	var out, errb syncBuffer
	exited := make(chan error, 1)
	go func() {
		exited <- Run(ctx, []string{"locker", "lock", "prod", "--key", "b", "--verbose"}, func(k string) string { return env[k] }, &out, &errb)
	}()
	cl, _ := client.New(client.Options{URL: url})
	waitUntil(t, func() bool { return strings.Contains(errb.String(), "waiting for lock") })
	if _, err := cl.Unlock(ctx, "prod", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatal(err)
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	r.want(t, 0, `^locked 'prod' with key 'b' for 'b' \(count 1, fence 2\)\n$`, `^locker lock: waiting for lock 'prod', held by 'a' \(key 'a'\) for \d+s(, 1 waiting)?; waited \d+s\n`)

	done := make(chan result, 1)
	// Interrupted while waiting: exit 130, and the lock is not taken.
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- locker(t, cctx, env, "lock", "prod", "--key", "c") }()
	waitUntil(t, func() bool { l, err := cl.Get(ctx, "prod"); return err == nil && l.Waiters == 1 })
	cancel()
	(<-done).want(t, 130, `^$`, `^locker lock: interrupted: gave up waiting for lock 'prod' \(it was not taken\)\n$`)
	waitUntil(t, func() bool { l, err := cl.Get(ctx, "prod"); return err == nil && l.Waiters == 0 })
	if l, _ := cl.Get(ctx, "prod"); l.Key != "b" || len(l.LockedBy) != 1 {
		t.Fatalf("%+v", l)
	}
}

func TestFriendlyErrors(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	locker(t, ctx, map[string]string{"LOCKER_URL": "http://" + dead}, "list").
		want(t, 1, `^$`, `^locker list: cannot reach locker at http://`+regexp.QuoteMeta(dead)+` \(connection refused\); is the server running, and is --url \(or LOCKER_URL\) right\?\n$`)
	// --url wins over LOCKER_URL.
	url := testServer(t, httpapi.Config{Auth: httpapi.Credentials{User: "ci", Pass: "secret"}}, lockservice.Config{})
	locker(t, ctx, map[string]string{"LOCKER_URL": "http://" + dead}, "list", "--url", url).
		want(t, 1, `^$`, `^locker list: the server refused the credentials: authentication required: use HTTP basic auth \(set LOCKER_USER and LOCKER_PASS, or --user and --pass\)\n$`)
	locker(t, ctx, map[string]string{"LOCKER_URL": url, "LOCKER_USER": "ci", "LOCKER_PASS": "secret"}, "list").want(t, 0, `no locks`, `^$`)
	locker(t, ctx, map[string]string{"LOCKER_URL": url, "LOCKER_USER": "ci"}, "list", "--pass", "secret").want(t, 0, `no locks`, `^$`)
	// Credentials in --url win over LOCKER_USER and LOCKER_PASS.
	withCreds := strings.Replace(url, "http://", "http://ci:secret@", 1)
	locker(t, ctx, map[string]string{"LOCKER_USER": "ci", "LOCKER_PASS": "wrong"}, "list", "--url", withCreds).want(t, 0, `no locks`, `^$`)
	withUser := strings.Replace(url, "http://", "http://ci@", 1)
	locker(t, ctx, map[string]string{"LOCKER_USER": "other", "LOCKER_PASS": "secret"}, "list", "--url", withUser).want(t, 0, `no locks`, `^$`)
	locker(t, ctx, map[string]string{"LOCKER_URL": url, "LOCKER_USER": "ci", "LOCKER_PASS": "secret"}, "lock", "a\x01b", "--key", "k").
		want(t, 1, `^$`, `^locker lock: the server refused the request: lock name must not contain control characters \(found U\+0001\)\n$`)

	// Usage errors: exit 2 with a hint, on stderr.
	for _, args := range [][]string{
		{"lock", "prod"},
		{"lock", "--key", "k"},
		{"lock", "a", "b", "--key", "k"},
		{"lock", "prod", "--key", "k", "--wait", "soon"},
		{"lock", "prod", "--key", "k", "--ttl", "-1s"},
		{"unlock", "prod"},
		{"unlock", "prod", "--force", "--key", "k"},
		{"status"},
		{"list", "extra"},
		{"run", "prod"},
		{"run", "--", "true"},
		{"list", "--bogus"},
	} {
		r := locker(t, ctx, map[string]string{"LOCKER_URL": url}, args...)
		r.want(t, 2, `^$`, `^locker `+args[0]+`: .*\nRun 'locker `+args[0]+` --help' for usage.\n$`)
	}
	locker(t, ctx, map[string]string{"LOCKER_INSECURE": "maybe"}, "list").want(t, 2, `^$`, `LOCKER_INSECURE="maybe": use true or false`)
	locker(t, ctx, nil, "list", "--ca-cert", "/nonexistent.pem").want(t, 2, `^$`, `reading the CA certificate: open /nonexistent.pem: no such file or directory`)
	locker(t, ctx, nil, "list", "--url", "ftp://x").want(t, 2, `^$`, `use http:// or https://`)
	// Flags before the command: -v there is the version, which must not
	// pass for a --verbose and run nothing; the client's flags are not
	// the server's, and its help is not printed for them.
	locker(t, ctx, nil, "-v", "run", "prod", "--", "true").want(t, 2, `^$`, `^locker: -v prints the version and takes no arguments \(got \["run" "prod" "--" "true"\]\); for a command's --verbose, put it after the command: locker run -v\n$`)
	locker(t, ctx, nil, "--url", url, "list").want(t, 2, `^$`, `^locker: flag provided but not defined: --url; a command's flags come after it: locker list --url `+regexp.QuoteMeta(url)+`\n$`)
	// The hint repeats the arguments: never a password given in them.
	locker(t, ctx, nil, "--user", "u", "--pass", "hunter2", "--url", "http://u:s3cret@127.0.0.1:1", "-pass=hunter3", "--url=http://v:x@h", "list").want(t, 2, `^$`, `^locker: flag provided but not defined: --user; a command's flags come after it: locker list --user u --pass PASSWORD --url http://u:PASSWORD@127.0.0.1:1 -pass=PASSWORD --url=http://v:PASSWORD@h\n$`)
	locker(t, ctx, nil, "-v", "run", "--pass", "hunter2", "--", "true").want(t, 2, `^$`, `^locker: -v prints the version and takes no arguments \(got \["run" "--pass" "PASSWORD" "--" "true"\]\);`)
	locker(t, ctx, nil, "-v").want(t, 0, `^locker `, `^$`)
	locker(t, ctx, nil, "unlock", "x", "--force", "--fence", "-1").want(t, 2, `^$`, `^locker unlock: invalid value "-1" for flag --fence: "-1" is not a fencing token: give the whole number that locker status shows as the lock's fence\n`)
	locker(t, ctx, nil, "lock", "", "--key", "k").want(t, 2, `^$`, `^locker lock: the lock name is empty \(an empty variable\?\)\n`)
	locker(t, ctx, nil, "pool", "rm", "", "m5").want(t, 2, `^$`, `^locker pool rm: the pool name is empty \(an empty variable\?\)\n`)
	locker(t, ctx, nil, "pool", "add", "p", "").want(t, 2, `^$`, `^locker pool add: the member name is empty \(an empty variable\?\)\n`)

	// --help on every command: stdout, exit 0.
	// Each says its exit statuses once; only those that take or release
	// a lock list 3, "held by another key".
	for c, held := range map[string]bool{"list": false, "ls": false, "status": false, "history": false, "lock": true, "unlock": true, "run": true} {
		r := locker(t, ctx, nil, c, "--help")
		r.want(t, 0, `(?s)^Usage: locker .*--url URL`, `^$`)
		if n := strings.Count(r.stdout, "Exit status"); n != 1 {
			t.Errorf("locker %s --help says its exit statuses %d times:\n%s", c, n, r.stdout)
		}
		if got := regexp.MustCompile(`(?s)Exit status.*\b3 lock held`).MatchString(r.stdout); got != held {
			t.Errorf("locker %s --help lists exit 3 (lock held): %v, want %v:\n%s", c, got, held, r.stdout)
		}
		locker(t, ctx, nil, c, "prod", "-h").want(t, 0, `^Usage: locker`, `^$`)
	}
}

func TestExplain(t *testing.T) {
	since := time.Now().Add(-time.Hour)
	l := &client.Lock{Name: "prod", Key: "x", LockedBy: map[string]int{"deploy-a": 1}, Since: since}
	if got, want := heldBy(l), "lock 'prod' is held by 'deploy-a' (key 'x') since "+since.Format("15:04"); got != want && since.Day() == time.Now().Day() {
		t.Errorf("heldBy: %q, want %q", got, want)
	}
	l.LockedBy = map[string]int{"a": 2, "b": 1, "c": 1}
	if got := holderList(l); got != "'a' (x2), 'b' and 'c'" {
		t.Errorf("holderList: %q", got)
	}
	now := time.Date(2025, 3, 4, 14, 2, 0, 0, time.Local)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(-time.Minute), "14:01"},
		{now.Add(-24 * time.Hour), "Mar 3 14:02"},
		{now.AddDate(-1, 0, 0), "2024-03-04 14:02"},
	} {
		if got := clock(tc.t, now); got != tc.want {
			t.Errorf("clock(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 192 * time.Second: "3m12s",
		2*time.Hour + 5*time.Minute: "2h05m", 76 * time.Hour: "3d04h",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
	// A legacy server's 423 has no state: its own message.
	msg, code := explain(&client.APIError{StatusCode: 423, Message: "Attempt to steal lock thwarted"})
	if msg != "Attempt to steal lock thwarted" || code != exitHeld {
		t.Errorf("explain: %q %d", msg, code)
	}
	// Plain HTTP to an HTTPS server (Go's own 400): the fix is the
	// scheme, not another server.
	msg, code = explain(&client.APIError{StatusCode: 400, Message: "Client sent an HTTP request to an HTTPS server. (the server speaks HTTPS: use an https:// URL)"})
	if msg != "the server speaks HTTPS: use an https:// URL in --url (or LOCKER_URL) (it answered HTTP 400: Client sent an HTTP request to an HTTPS server.)" || code != exitError {
		t.Errorf("explain: %q %d", msg, code)
	}
	// Too many failed logins: the server says when to try again, and the
	// fix is the credentials (not "try again later" on top).
	msg, code = explain(&client.APIError{StatusCode: 429, Message: "too many failed logins from this address; try again in 6s"})
	if msg != "the server refuses this address for now: too many failed logins from this address; try again in 6s (HTTP 429); check the credentials (LOCKER_USER and LOCKER_PASS, or --user and --pass)" || code != exitError {
		t.Errorf("explain: %q %d", msg, code)
	}
	msg, code = explain(&client.APIError{StatusCode: 503, Message: "too many waiting requests"})
	if msg != "the server cannot serve this now: too many waiting requests (HTTP 503); try again later" || code != exitError {
		t.Errorf("explain: %q %d", msg, code)
	}
	// A store that cannot tell whether the change was made: not "try
	// again", which could make it twice.
	msg, _ = explain(&client.APIError{StatusCode: 503, Message: "the lock database is unavailable (reset); try again (a change in flight may or may not have been made: check the lock)"})
	if !strings.HasSuffix(msg, "(HTTP 503); look at the lock before trying again") {
		t.Errorf("explain of a change that may have been made: %q", msg)
	}
	msg, _ = explain(&client.APIError{StatusCode: 403, Message: "only the admin user may force a release"})
	if msg != "not allowed: only the admin user may force a release" {
		t.Errorf("explain: %q", msg)
	}
	msg, _ = explain(&client.ConnError{URL: "https://x", Err: errors.New("TLS: the server's certificate is signed by an unknown authority")})
	if !strings.HasSuffix(msg, "--ca-cert FILE (or LOCKER_CA_CERT), or skip verification with --insecure") {
		t.Errorf("explain: %q", msg)
	}
}

func TestRun(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	// The command sees the lock in its environment, and the lock is held
	// while it runs, then released.
	r := locker(t, ctx, env, "run", "prod", "--key", "k", "--holder", "me", "--", "sh", "-c", `echo "$LOCKER_LOCK $LOCKER_FENCE $LOCKER_KEY $LOCKER_HOLDER"`)
	r.want(t, 0, `^prod 1 k me\n$`, `^$`)
	if l, _ := cl.Get(ctx, "prod"); !l.Free() {
		t.Fatalf("not released: %+v", l)
	}
	// Exit status, also when the command fails; released all the same.
	locker(t, ctx, env, "run", "prod", "sh", "-c", "exit 7").want(t, 7, `^$`, `^$`)
	if l, _ := cl.Get(ctx, "prod"); !l.Free() {
		t.Fatalf("not released after a failure: %+v", l)
	}
	locker(t, ctx, env, "run", "prod", "--", "/nonexistent/cmd").want(t, 127, `^$`, `^locker run: cannot run /nonexistent/cmd: no such file or directory\n$`)
	locker(t, ctx, env, "run", "prod", "--", "no-such-command-here").want(t, 127, `^$`, `executable file not found in \$PATH`)
	locker(t, ctx, env, "run", "prod", "--", t.TempDir()).want(t, 126, `^$`, `is a directory`)
	if l, _ := cl.Get(ctx, "prod"); !l.Free() {
		t.Fatalf("not released after a command that could not start: %+v", l)
	}
	// A lease too short to keep alive would run the command unprotected.
	locker(t, ctx, env, "run", "prod", "--ttl", "1ms", "--", "true").want(t, 2, `^$`, `^locker run: --ttl 1ms is too short to keep alive; use at least 100ms, or 0 for no lease`)
	// Killed by a signal: 128+N.
	locker(t, ctx, env, "run", "prod", "--", "sh", "-c", "kill -KILL $$").want(t, 137, `^$`, `^$`)

	// Default key: unique to the run, even to a run with the same host
	// name and PID (another container's; here, this process's).
	first := make(chan result, 1)
	go func() { first <- locker(t, ctx, env, "run", "solo", "--", "sleep", "1") }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, err := cl.Get(ctx, "solo"); err == nil && !l.Free() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run did not take the lock: %+v", <-first)
		}
	}
	locker(t, ctx, env, "run", "solo", "--wait", "0", "--", "true").want(t, 3, `^$`, `^locker run: lock 'solo' is held by '[^']+:\d+:[0-9a-f]{8}' \(key '[^']+:\d+:[0-9a-f]{8}'\) since`)
	(<-first).want(t, 0, `^$`, `^$`)

	// Default key: unique to the run, so a second run waits.
	if _, err := cl.Lock(ctx, "prod", client.LockOptions{Key: "other"}); err != nil {
		t.Fatal(err)
	}
	locker(t, ctx, env, "run", "prod", "--wait", "0", "--", "true").want(t, 3, `^$`, `^locker run: lock 'prod' is held by 'other' \(key 'other'\) since`)
	locker(t, ctx, env, "run", "prod", "--wait", "200ms", "--", "true").want(t, 3, `^$`, `^locker run: gave up after waiting 200ms: lock 'prod'`)
	// A run with the same key shares it.
	locker(t, ctx, env, "run", "prod", "--key", "other", "--wait", "0", "-v", "--", "true").want(t, 0, `^$`, `(?s)holding 'prod' \(key 'other', fence \d+\); running true\n.*released 'prod'\n$`)
	if l, _ := cl.Get(ctx, "prod"); l.LockedBy["other"] != 1 || len(l.LockedBy) != 1 {
		t.Fatalf("the shared run did not give back its own hold only: %+v", l)
	}
}

func TestRunKeepsLeaseAlive(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	done := make(chan result, 1)
	go func() {
		// The command outlives the lease more than twice over, so the lock
		// stays taken only if the lease is refreshed. A refresh every third
		// of the lease (0.5 s) has a second to spare: with 600 ms (0.4 s to
		// spare) a CI run under the race detector, on a slower machine,
		// once lost the lease.
		done <- locker(t, ctx, env, "run", "prod", "--key", "k", "--ttl", "1500ms", "--", "sleep", "4")
	}()
	var seen int
	for {
		select {
		case r := <-done:
			r.want(t, 0, `^$`, `^$`)
			if seen == 0 {
				t.Fatal("never saw the lock held")
			}
			h, err := cl.History(ctx, "prod")
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, ev := range h {
				types = append(types, ev.Type)
			}
			s := strings.Join(types, " ")
			if !regexp.MustCompile(`^acquired (refreshed )+released$`).MatchString(s) {
				t.Fatalf("history: %s", s)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		l, err := cl.Get(ctx, "prod")
		if err != nil {
			continue // not taken yet
		}
		if l.Key == "k" {
			seen++
		} else if seen > 0 && len(done) == 0 {
			// Freed while the command ran? Only legitimate if the run
			// just ended.
			select {
			case r := <-done:
				done <- r
			case <-time.After(time.Second):
				t.Fatalf("the lock was freed while the command ran: %+v", l)
			}
		}
	}
}

func TestRunLeaseLost(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	dir := t.TempDir()
	done := runStarted(t, ctx, env, dir, "run", "prod", "--key", "k", "--ttl", "300ms", "--kill-on-lost", "--",
		"sh", "-c", `trap 'echo terminated > `+dir+`/out; exit 9' TERM; touch `+dir+`/started; sleep 30 & wait`)
	if _, err := cl.ForceUnlock(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	r.want(t, 9, `^$`, `(?m)^locker run: LOCK LOST: the server no longer has our hold on 'prod' \(.*\); it expired or was forced\.\nlocker run: LOCK LOST: another process may take 'prod' while the command still runs\.\nlocker run: sending SIGTERM to sh \(--kill-on-lost\)\n`)
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "terminated\n" {
		t.Fatalf("the command was not terminated: %q", b)
	}
}

// TestRunGrantAnsweredAfterItsLease: the answer to taking the lock comes
// after the lease it granted has run out (a slow network; a write that
// waited in the store): the lock may be another's already, so COMMAND is
// not started. Started first, it would have run without the lock until the
// first renewal found the hold gone.
func TestRunGrantAnsweredAfterItsLease(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	p.latePuts.Store(1)
	env := map[string]string{"LOCKER_URL": p.URL}
	dir := t.TempDir()
	r := locker(t, context.Background(), env, "run", "prod", "--key", "k", "--ttl", "300ms", "--", "touch", filepath.Join(dir, "started"))
	r.want(t, 1, `^$`, `(?m)^locker run: 'prod' was lost before touch could start \(the server no longer has our hold: .*\): not running it\n`)
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Fatal("the command ran without the lock")
	}
	if strings.Contains(r.stderr, "LOCK LOST") {
		t.Errorf("a loss before the command started reported as one while it ran:\n%s", r.stderr)
	}
}

// TestLockGrantAnsweredAfterItsLease: locker lock and pool acquire whose
// answer comes after the lease it granted ran out do not say they took the
// lock (a review: "locked ... lease ends in 0s", exit 0, while another key
// held it); they exit 1 saying why, and release the hold should it be
// theirs still.
func TestLockGrantAnsweredAfterItsLease(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"lock", "prod", "--key", "k", "--ttl", "300ms"},
		{"pool", "acquire", "envs", "--key", "k", "--ttl", "300ms"},
	} {
		p.latePuts.Store(1)
		r := locker(t, ctx, env, args...)
		r.want(t, 1, `^$`, `ran out before the answer arrived .*: the lock may be another's now, so it was not taken; released it, in case it was still ours\n$`)
	}
	if l, err := cl.Get(ctx, "prod"); err != nil || !l.Free() {
		t.Errorf("prod after: %+v, %v; want it free", l, err)
	}
	// Answered in time, it is taken.
	locker(t, ctx, env, "lock", "prod", "--key", "k", "--ttl", "1m").want(t, 0, `^locked 'prod' with key 'k' for 'k' \(count 1, fence \d+, lease ends in `, `^$`)
}

// TestRunAfterAWaitLongerThanTheLease: a run that waited for the lock
// longer than its lease, whose first renewal fails (a dropped answer),
// still runs COMMAND: the lease runs from the grant, and the server says so
// (Locker-Lease counts the wait). A review: counted from when the long
// wait began, the lease looked over on arrival, and one failed renewal
// made the run give up.
func TestRunAfterAWaitLongerThanTheLease(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.Lock(ctx, "fr", client.LockOptions{Key: "other"}); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(1500*time.Millisecond, func() {
		p.failRefreshes.Store(true)
		cl.Unlock(ctx, "fr", "other", "")
	})
	dir := t.TempDir()
	r := locker(t, ctx, env, "run", "fr", "--key", "k", "--ttl", "1s", "--", "touch", filepath.Join(dir, "started"))
	if _, err := os.Stat(filepath.Join(dir, "started")); err != nil {
		t.Fatalf("COMMAND did not run after the wait (exit %d):\n%s", r.code, r.stderr)
	}
}

// runStarted starts locker with args in the background, and returns once
// its command has touched dir/started; the result comes on the channel.
func runStarted(t *testing.T, ctx context.Context, env map[string]string, dir string, args ...string) chan result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- locker(t, ctx, env, args...) }()
	waitUntil(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	return done
}

// TestRunLostSaidOnce: a hold declared lost as its renewals fail, then
// found expired when the server answers again, is announced once.
func TestRunLostSaidOnce(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	dir := t.TempDir()
	p.failRefreshes.Store(true)
	done := runStarted(t, ctx, env, dir, "run", "prod", "--key", "k", "--ttl", "300ms", "--",
		"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
	time.Sleep(time.Second) // lost: renewals failed for nine tenths of the lease, then it ran out
	p.failRefreshes.Store(false)
	time.Sleep(500 * time.Millisecond) // a renewal that finds it gone
	os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
	r := <-done
	r.want(t, 1, `^$`, `(?s)LOCK LOST: could not refresh.*locker run: the server no longer has our hold on 'prod' \(.*\); it expired or was forced\.\n`)
	if n := strings.Count(r.stderr, "LOCK LOST: another process may take"); n != 1 {
		t.Fatalf("the loss announced %d times:\n%s", n, r.stderr)
	}
}

// TestRunLostExitsOne: a command that succeeded after the lock was lost
// while it ran (forced, here) did its work without the lock for a while:
// locker run says so and exits 1.
func TestRunLostExitsOne(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	dir := t.TempDir()
	done := runStarted(t, ctx, env, dir, "run", "prod", "--key", "k", "--ttl", "300ms", "--",
		"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
	if _, err := cl.ForceUnlock(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past a renewal, which finds the hold gone
	os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
	(<-done).want(t, 1, `^$`, `(?s)LOCK LOST: the server no longer has our hold on 'prod'.*locker run: sh succeeded, but 'prod' was lost while it ran \(see above\): exiting 1\n`)
}

// TestRunLostFoundAtRelease: a lock forced away (and taken by another key)
// while the command ran, with no renewal in between to notice (a long
// lease, or none), is found lost at the release: exit 1 all the same.
func TestRunLostFoundAtRelease(t *testing.T) {
	for _, ttl := range []string{"30s", "0"} {
		url := testServer(t, httpapi.Config{}, lockservice.Config{})
		env := map[string]string{"LOCKER_URL": url}
		ctx := context.Background()
		cl, _ := client.New(client.Options{URL: url})
		dir := t.TempDir()
		done := runStarted(t, ctx, env, dir, "run", "t2", "--key", "k", "--ttl", ttl, "--",
			"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
		if _, err := cl.ForceUnlock(ctx, "t2"); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Lock(ctx, "t2", client.LockOptions{Key: "other"}); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
		(<-done).want(t, 1, `^$`, `(?s)LOCK LOST: 't2' was no longer ours when the command ended.*locker run: sh succeeded, but 't2' was lost while it ran \(see above\): exiting 1\n`)
		cl.ForceUnlock(ctx, "t2")

		// Force-released and left free: found at the release too.
		os.Remove(filepath.Join(dir, "finish"))
		os.Remove(filepath.Join(dir, "started"))
		done = runStarted(t, ctx, env, dir, "run", "t3", "--key", "k", "--ttl", ttl, "--",
			"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
		if _, err := cl.ForceUnlock(ctx, "t3"); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
		(<-done).want(t, 1, `^$`, `(?s)LOCK LOST: 't3' was no longer ours when the command ended.*exiting 1\n`)
	}
}

// TestRunLostThenRenewedInTime: renewals that fail past the point where
// the hold is declared lost are still tried with time enough for a real
// network: a server back before the lease ends renews it, and the run
// succeeds.
func TestRunLostThenRenewedInTime(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	dir := t.TempDir()
	p.slowRefreshes.Store(true) // every renewal takes 50ms
	done := runStarted(t, ctx, env, dir, "run", "lk", "--key", "k", "--holder", "k", "--ttl", "10s", "--",
		"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
	p.failRefreshes.Store(true)
	cl, _ := client.New(client.Options{URL: url})
	l, err := cl.Get(ctx, "lk")
	if err != nil {
		t.Fatal(err)
	}
	// Back, 50ms a renewal, once the run has declared the hold lost (at
	// 9 s of 10): the proxy tells by the clock as each renewal comes, not
	// this goroutine polling the lock, which on a loaded machine could
	// see that too late for the one try the run has left.
	p.refreshesBack.Store(l.Holds["k"].Expires.Add(-900 * time.Millisecond).UnixNano())
	// Renewed since (waitUntil's 10s is about the lease's whole length).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if now, err := cl.Get(ctx, "lk"); err == nil && now.Holds["k"].Expires.After(l.Holds["k"].Expires) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hold was not renewed after the server came back")
		}
	}
	os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
	(<-done).want(t, 0, `^$`, `(?s)LOCK LOST: could not refresh`)
	h, _ := cl.History(ctx, "lk")
	for _, ev := range h {
		if ev.Type == "expired" {
			t.Errorf("the lease ran out though the server was back before its end: %+v", h)
		}
	}
}

// TestRunFencelessRenewalsAreOurs: a renewal answered without a fence
// token (a gateway that rewrites answers) is not a sign that the hold was
// taken afresh.
func TestRunFencelessRenewalsAreOurs(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	p.fencelessRefreshes.Store(true)
	env := map[string]string{"LOCKER_URL": p.URL}
	locker(t, context.Background(), env, "run", "fd", "--ttl", "300ms", "--", "sleep", "1").want(t, 0, `^$`, `^$`)
}

// TestRunLostAndRetakenUnderOurName: a lock forced away and taken afresh
// by another process with the same key and holder (a new fence token) is
// not ours: the run reports it lost, exits 1, and does not release the
// other's hold.
func TestRunLostAndRetakenUnderOurName(t *testing.T) {
	// With a lease, the run's renewals carry its fence token, so they
	// cannot put a lease on the other's hold.
	for _, ttl := range []string{"0", "300ms"} {
		url := testServer(t, httpapi.Config{}, lockservice.Config{})
		env := map[string]string{"LOCKER_URL": url}
		ctx := context.Background()
		cl, _ := client.New(client.Options{URL: url})
		dir := t.TempDir()
		done := runStarted(t, ctx, env, dir, "run", "lf", "--key", "K", "--holder", "H", "--ttl", ttl, "--",
			"sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/finish ]; do sleep 0.05; done`)
		if _, err := cl.ForceUnlock(ctx, "lf"); err != nil {
			t.Fatal(err)
		}
		other, err := cl.Lock(ctx, "lf", client.LockOptions{Key: "K", Holder: "H"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // a renewal or two, with a lease
		os.WriteFile(filepath.Join(dir, "finish"), nil, 0o600)
		(<-done).want(t, 1, `^$`, `(?s)LOCK LOST.*exiting 1\n`)
		if l, _ := cl.Get(ctx, "lf"); l.LockedBy["H"] != 1 || l.Fence != other.Fence || !l.Holds["H"].Expires.IsZero() {
			t.Errorf("--ttl %s: the run released or renewed the other's hold: %+v", ttl, l)
		}
	}
}

// TestRunKillOnLostBeforeTheLeaseEnds: when the lease cannot be renewed,
// --kill-on-lost stops the command before the lease runs out, so before
// the server can give the lock to anyone else.
func TestRunKillOnLostBeforeTheLeaseEnds(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) { testKillOnLost(t, func(p *lossyProxy) { p.failRefreshes.Store(true) }) })
	t.Run("hung", func(t *testing.T) { testKillOnLost(t, func(p *lossyProxy) { p.stallRefreshes.Store(true) }) })
}

func testKillOnLost(t *testing.T, cut func(*lossyProxy)) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	dir := t.TempDir()
	done := runStarted(t, ctx, env, dir, "run", "prod", "--key", "k", "--ttl", "3s", "--kill-on-lost", "--",
		"sh", "-c", `trap 'date +%s%N > `+dir+`/term; exit 9' TERM; touch `+dir+`/started; sleep 30 & wait`)
	cut(p)
	next, err := cl.Acquire(ctx, "prod", client.LockOptions{Key: "next", Wait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	r.want(t, 9, `^$`, `LOCK LOST: could not refresh the lease on 'prod' for .*; it runs out within `)
	b, err := os.ReadFile(filepath.Join(dir, "term"))
	if err != nil {
		t.Fatalf("the command was not terminated: %v", err)
	}
	term, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if granted := next.Since.UnixNano(); term >= granted {
		t.Errorf("the command got SIGTERM %s after the next holder got the lock", time.Duration(term-granted))
	}
}

func TestRunStopsCommandWhenCancelled(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	cl, _ := client.New(client.Options{URL: url})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := runStarted(t, ctx, env, dir, "run", "prod", "--key", "k", "--",
		"sh", "-c", `trap 'echo terminated > `+dir+`/out; exit 5' TERM; touch `+dir+`/started; sleep 30 & wait`)
	cancel()
	(<-done).want(t, 5, `^$`, `^$`)
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "terminated\n" {
		t.Fatalf("the command was not terminated: %q", b)
	}
	if l, _ := cl.Get(context.Background(), "prod"); !l.Free() {
		t.Fatalf("not released: %+v", l)
	}
}

// A server without waits or leases (the original locker): lock, status and
// run still work, by polling.
func TestLegacyServer(t *testing.T) {
	var mu sync.Mutex
	type legacyLock struct {
		LockedBy map[string]int `json:"locked_by"`
		Key      string         `json:"key"`
	}
	locks := map[string]*legacyLock{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet && r.URL.Path == "/locks" {
			json.NewEncoder(w).Encode(locks)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/lock/")
		if !ok || r.Method == http.MethodGet {
			http.NotFound(w, r)
			return
		}
		var in struct{ Key, LockBy, LockedBy string }
		json.NewDecoder(r.Body).Decode(&in)
		l := locks[name]
		if l == nil {
			l = &legacyLock{LockedBy: map[string]int{}}
			locks[name] = l
		}
		if l.Key != "" && l.Key != in.Key {
			w.WriteHeader(423)
			w.Write([]byte(`{"error":"Attempt to steal lock for '` + name + `' thwarted. Currently held by someone else"}`))
			return
		}
		if r.Method == http.MethodPut {
			l.Key = in.Key
			l.LockedBy[in.Key]++
			w.Write([]byte(`{"response":"lock for ` + name + ` acquired by ` + in.Key + `"}`))
			return
		}
		l.LockedBy[in.Key] = 0
		l.Key = ""
		w.Write([]byte(`{"response":"Lock released on ` + name + `"}`))
	}))
	defer srv.Close()
	env := map[string]string{"LOCKER_URL": srv.URL}
	ctx := context.Background()

	locker(t, ctx, env, "lock", "prod", "--key", "a", "--ttl", "1m").want(t, 0, `^locked 'prod' with key 'a' for 'a'\n$`, `does not support leases`)
	locker(t, ctx, env, "status", "prod").want(t, 0, `^lock: +prod\nstate: +held \(key 'a'\)\nholders: +a x1\n$`, `^$`)
	locker(t, ctx, env, "lock", "prod", "--key", "b", "--wait", "0").want(t, 3, `^$`, `^locker lock: Attempt to steal lock for 'prod' thwarted. Currently held by someone else\n$`)
	locker(t, ctx, env, "list").want(t, 0, `(?m)^prod +held +a +a x1 +- +- +- +0\n$`, `^$`)
	locker(t, ctx, env, "unlock", "prod", "--key", "a").want(t, 0, `^Lock released on prod\n$`, `^$`)
	// --fence: the server has no tokens; the warning says the read could
	// not check it, rather than that it found the lock under that fence.
	locker(t, ctx, env, "lock", "prod", "--key", "a").want(t, 0, `^locked`, `^$`)
	locker(t, ctx, env, "unlock", "prod", "--key", "a", "--fence", "7").want(t, 0, `^Lock released on prod\n$`, `^locker unlock: warning: the server does not check a release's fence: it released by key 'a' and holder 'a', whatever the fence \(the read just before did not find the lock: unknown to the server, or a server without fencing tokens \(the original locker\)\)\n$`)
	locker(t, ctx, env, "run", "prod", "--key", "b", "-v", "--", "true").want(t, 0, `^$`, `(?s)the server has no leases`)
}

// waitUntil polls cond until it holds, failing after 10s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lossyProxy passes requests on to url, except that it drops the answer
// to the next dropPuts PUTs and dropDeletes DELETEs (after the server has
// made the change), closes the connection of the next failDeletes DELETEs
// without passing them on, and holds the next stallDeletes DELETEs
// unanswered until the client gives up: a network that loses answers, a
// server that is down, or one that hangs.
type lossyProxy struct {
	URL                                              string
	dropPuts, dropDeletes, failDeletes, stallDeletes atomic.Int32
	badGatewayPuts                                   atomic.Int32 // passed on, then answered 502
	denyDeletes                                      atomic.Bool  // answered 401, as after a change of credentials
	unavailablePuts                                  atomic.Int32 // answered 503, as by a server whose store fails
	notImplemented                                   atomic.Bool  // every request answered 501, as by a server that is not Locker
	failRefreshes                                    atomic.Bool  // not passed on
	refreshesBack                                    atomic.Int64 // a time.UnixNano: failRefreshes ends then (0: when cleared)
	stallRefreshes                                   atomic.Bool  // held unanswered
	slowRefreshes                                    atomic.Bool  // passed on after 50ms
	fencelessRefreshes                               atomic.Bool  // answered without "fence", as a rewriting gateway might
	latePuts                                         atomic.Int32 // made, then answered 600ms (or lateBy) later (a slow network, a slow store)
	lateBy                                           atomic.Int64 // a time.Duration; 0: 600ms
}

func newLossyProxy(t *testing.T, url string) *lossyProxy {
	target, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &lossyProxy{}
	hangUp := func(w http.ResponseWriter) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && p.dropPuts.Add(-1) >= 0:
			rp.ServeHTTP(httptest.NewRecorder(), r) // made, then lost
			hangUp(w)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refresh") && p.failRefreshes.Load() && (p.refreshesBack.Load() == 0 || time.Now().UnixNano() < p.refreshesBack.Load()):
			hangUp(w)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refresh") && p.fencelessRefreshes.Load():
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			w.WriteHeader(rec.Code)
			w.Write(regexp.MustCompile(`"fence":\d+,?`).ReplaceAll(rec.Body.Bytes(), nil))
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refresh") && p.slowRefreshes.Load():
			// A 50ms network: a client that gives up sooner is gone
			// before its request gets there (the body read, net/http
			// notices the connection close).
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(50 * time.Millisecond):
				rp.ServeHTTP(w, r)
			case <-r.Context().Done():
			}
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/refresh") && p.stallRefreshes.Load():
			select { // longer than the lease of the test that uses it
			case <-r.Context().Done():
			case <-time.After(4 * time.Second):
			}
			hangUp(w)
		case r.Method == http.MethodPut && p.latePuts.Add(-1) >= 0:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			late := time.Duration(p.lateBy.Load())
			if late == 0 {
				late = 600 * time.Millisecond
			}
			time.Sleep(late)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		case r.Method == http.MethodPut && p.badGatewayPuts.Add(-1) >= 0:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
		case p.notImplemented.Load():
			http.Error(w, "Unsupported method ('PUT')", http.StatusNotImplemented)
		case r.Method == http.MethodPut && p.unavailablePuts.Add(-1) >= 0:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"the lock store cannot write (a test's); the change was not made"}`))
		case r.Method == http.MethodDelete && p.denyDeletes.Load():
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"wrong user or password"}`))
		case r.Method == http.MethodDelete && p.dropDeletes.Add(-1) >= 0:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			hangUp(w)
		case r.Method == http.MethodDelete && p.failDeletes.Add(-1) >= 0:
			hangUp(w)
		case r.Method == http.MethodDelete && p.stallDeletes.Add(-1) >= 0:
			select { // longer than the client waits
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			hangUp(w)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// TestAnswersLostAndReleasesRetried: a lock granted whose answer is lost is
// found by reading the lock back, and named (locker lock, pool acquire:
// their key and holder may be another command's too) rather than reported
// as a plain failure that a script would never release; locker run retries
// its release while the server cannot be reached, and exits 1 when a lock
// without a lease stays held.
func TestAnswersLostAndReleasesRetried(t *testing.T) {
	// Not parallel: it sets releaseRetries and attemptTime, which run reads.
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	const maybe = `the server may have granted the hold without the answer reaching the caller: `
	p.dropPuts.Store(1)
	locker(t, ctx, env, "lock", "x", "--key", "k").want(t, 1, `^$`, maybe+`"x" is held under key "k" by holder "k" \(fence 1\)`)
	if l, _ := cl.Get(ctx, "x"); l.LockedBy["k"] != 1 {
		t.Fatalf("after a lost answer: %+v, want one hold", l)
	}
	// Taken once already: the lost answer of a second take is counted
	// from there.
	p.dropPuts.Store(1)
	locker(t, ctx, env, "lock", "x", "--key", "k").want(t, 1, `^$`, maybe+`"x" is held under key "k"`)
	if l, _ := cl.Get(ctx, "x"); l.LockedBy["k"] != 2 {
		t.Fatalf("after a second lost answer: %+v, want two holds", l)
	}

	// A pool member granted with its answer lost: the one whose count
	// went up is named.
	for _, m := range []string{"env-1", "env-2"} {
		if _, err := cl.AddMember(ctx, "envs", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.dropPuts.Store(1)
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "b").want(t, 1, `^$`, maybe+`"env-1" is held under key "b"`)
	p.dropPuts.Store(1)
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "b").want(t, 1, `^$`, maybe+`"env-2" is held under key "b"`)
	// A refusal whose answer is lost stays a failure: nothing went up.
	p.dropPuts.Store(1)
	locker(t, ctx, env, "run", "--pool", "envs", "--key", "c", "--wait", "0", "--", "true").want(t, 1, `^$`, `^locker run: cannot reach locker at .* \(EOF\)\n$`)
	p.dropPuts.Store(1)
	locker(t, ctx, env, "lock", "x", "--key", "other", "--wait", "0").want(t, 1, `^$`, `^locker lock: cannot reach locker at .* \(EOF\)\n$`)

	// locker unlock whose answer is lost may have released: it reads
	// the lock back, and finds it done (not sent again: the second hold
	// of the key stays). With --retry 0 it asks once, and says so.
	cl.Lock(ctx, "z", client.LockOptions{Key: "k"})
	cl.Lock(ctx, "z", client.LockOptions{Key: "k"})
	p.dropDeletes.Store(1)
	locker(t, ctx, env, "unlock", "z", "--key", "k").want(t, 0, `^unlocked 'z' once; 'k' still holds it 1 more time\(s\)\n$`, `(?s)^locker unlock: the answer to the release of 'z' was lost \(cannot reach locker at .*\): it may have been made; .*that release was made`)
	p.dropDeletes.Store(1)
	locker(t, ctx, env, "unlock", "z", "--key", "k", "--retry", "0").want(t, 1, `^$`, `^locker unlock: cannot reach locker at .*; the answer was lost on the way, and the release may have been done: see 'locker status z' before unlocking again\n$`)
	if l, _ := cl.Get(ctx, "z"); !l.Free() {
		t.Fatalf("after two releases of two holds, their answers lost: %+v, want it free", l)
	}

	// locker run: the take's answer lost, then its first releases.
	p.dropPuts.Store(1)
	p.failDeletes.Store(2)
	locker(t, ctx, env, "run", "y", "--ttl", "0", "--", "true").want(t, 0, `^$`, `^locker run: could not release 'y' \(cannot reach locker .*\); trying again for up to 1m0s \(a signal stops it\)\n$`)
	if l, _ := cl.Get(ctx, "y"); !l.Free() {
		t.Fatalf("run did not release y: %+v", l)
	}

	// A release that never gets through: without a lease the lock stays
	// held, and a command that succeeded exits 1.
	defer func(d time.Duration) { releaseRetries = d }(releaseRetries)
	releaseRetries = 500 * time.Millisecond
	p.failDeletes.Store(1000)
	locker(t, ctx, env, "run", "z", "--ttl", "0", "--key", "k", "--holder", "h", "--", "true").want(t, 1, `^$`,
		`could not release 'z': cannot reach locker .*; it has no lease and stays held until released \(locker unlock z --key k --holder h\)\n$`)
	// With a lease it frees itself: the command's status stands.
	locker(t, ctx, env, "run", "w", "--ttl", "2s", "--", "true").want(t, 0, `^$`, `; its lease ends within 2s\n$`)

	// A release refused for another reason (the server's credentials
	// changed meanwhile) is not tried again; without a lease the lock
	// stays held, and says how to release it.
	p.failDeletes.Store(0)
	p.denyDeletes.Store(true)
	locker(t, ctx, env, "run", "u", "--ttl", "0", "--key", "k", "--holder", "h", "--", "true").want(t, 1, `^$`,
		`^locker run: could not release 'u': the server refused the credentials: .*; it has no lease and stays held until released \(locker unlock u --key k --holder h\)\n$`)
	p.denyDeletes.Store(false)

	// A server that takes the release and hangs is one that cannot be
	// reached: tried again, and reported.
	p.failDeletes.Store(0)
	defer func(d time.Duration) { attemptTime = d }(attemptTime)
	attemptTime = 100 * time.Millisecond
	p.stallDeletes.Store(1000)
	locker(t, ctx, env, "run", "v", "--ttl", "0", "--key", "k", "--holder", "h", "--", "true").want(t, 1, `^$`,
		`could not release 'v': cannot reach locker .* \(no answer within 100ms\); it has no lease and stays held until released \(locker unlock v --key k --holder h\)\n$`)
}

// TestLockSaysWhyItRetries: a wait that goes on because the server
// refuses for now says why (it used to say only "waiting", as if the lock
// were held); a server that is not Locker (501) is not waited on for ever.
func TestLockSaysWhyItRetries(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	p.unavailablePuts.Store(2)
	locker(t, ctx, env, "lock", "x", "--key", "k").want(t, 0, `^locked 'x' with key 'k'`,
		`^locker lock: the server cannot serve this now: the lock store cannot write \(a test's\); the change was not made \(HTTP 503\); trying again in \d`)
	p.notImplemented.Store(true)
	done := make(chan result, 1)
	go func() { done <- locker(t, ctx, env, "lock", "y", "--key", "k") }()
	select {
	case r := <-done:
		r.want(t, 1, `^$`, `^locker lock: the server answered HTTP 501 \(Unsupported method \('PUT'\)\), not as a Locker server does: is --url \(or LOCKER_URL\) a Locker server's address\?\n$`)
	case <-time.After(10 * time.Second):
		t.Fatal("locker lock waits for ever on a server that answers 501")
	}
}

// TestRunReleaseAnswerLostReleasesOnce: a release whose answer is lost may
// have been done; locker run reads the lock back rather than send it again,
// which would give back a second hold under the same key (here the
// script's own, taken before locker run re-entered the lock).
func TestRunReleaseAnswerLostReleasesOnce(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	locker(t, ctx, env, "lock", "re", "--key", "K").want(t, 0, `^locked 're'`, `^$`)
	p.dropDeletes.Store(1)
	locker(t, ctx, env, "run", "re", "--key", "K", "--holder", "K", "--", "true").want(t, 0, `^$`, `could not release 're'`)
	if l, _ := cl.Get(ctx, "re"); l.Key != "K" || l.LockedBy["K"] != 1 {
		t.Fatalf("after locker run's release with its answer lost: %+v, want the script's own hold left", l)
	}
}

// TestGatewayErrorsAreReadBack: a proxy's 502 may come after the server
// granted the hold; the commands that wait (lock, pool acquire, run) read
// the lock back and never send the PUT again, which would take a second
// hold that one unlock does not give back. locker run, whose holder is its
// own, carries on with the hold; lock and pool acquire, whose key and
// holder another command may share (and its hold would look the same),
// exit 1 naming the hold, and leave it for the user to judge: claimed, the
// release of a command that never got it would end the other's hold.
func TestGatewayErrorsAreReadBack(t *testing.T) {
	t.Parallel()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	p.badGatewayPuts.Store(1)
	locker(t, ctx, env, "lock", "d", "--key", "kd").want(t, 1, `^$`, `^locker lock: the answer to the request for lock 'd' was lost, and the lock shows a hold of key 'kd', holder 'kd', taken meanwhile: .*release it with 'locker unlock d --key kd --holder kd'`)
	if l, _ := cl.Get(ctx, "d"); l.LockedBy["kd"] != 1 {
		t.Fatalf("one lock through a 502 left %+v; want the one hold the server granted", l)
	}
	locker(t, ctx, env, "unlock", "d", "--key", "kd").want(t, 0, ``, `^$`)
	if l, _ := cl.Get(ctx, "d"); !l.Free() {
		t.Fatalf("one lock and one unlock through a 502 left %+v", l)
	}

	for _, m := range []string{"m1", "m2"} {
		if _, err := cl.AddMember(ctx, "p", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.badGatewayPuts.Store(1)
	locker(t, ctx, env, "pool", "acquire", "p", "--key", "pk").want(t, 1, `^$`, `^locker pool acquire: the answer to the request for a member of pool 'p' was lost, and member 'm1' shows a hold of key 'pk', holder 'pk', taken meanwhile: .*release it with 'locker unlock m1 --key pk --holder pk'`)
	if pl, _ := cl.Pool(ctx, "p"); pl.Free != 1 {
		t.Fatalf("one pool acquire through a 502 holds %d of 2 members", 2-pl.Free)
	}

	p.badGatewayPuts.Store(1)
	locker(t, ctx, env, "run", "r", "--ttl", "0", "--", "true").want(t, 0, `^$`, `^$`)
	if l, _ := cl.Get(ctx, "r"); !l.Free() {
		t.Fatalf("locker run through a 502 left %+v", l)
	}
}

// TestRunOwnKeyWithAGivenHolder: locker run --holder H without --key takes
// the lock under a key of its own (HOSTNAME:PID:RANDOM), which no other call
// can share: a hold of that key granted with its answer lost is this run's,
// used rather than reported as perhaps another's and left held.
func TestRunOwnKeyWithAGivenHolder(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	env := map[string]string{"LOCKER_URL": p.URL}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	p.dropPuts.Store(1)
	locker(t, ctx, env, "run", "x", "--holder", "deploy", "--", "sh", "-c", `echo "ran $LOCKER_HOLDER"`).want(t, 0, `^ran deploy\n$`, `^$`)
	if l, _ := cl.Get(ctx, "x"); !l.Free() {
		t.Fatalf("after locker run: %+v, want it released", l)
	}
	for _, m := range []string{"env-1", "env-2"} {
		if _, err := cl.AddMember(ctx, "envs", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.dropPuts.Store(1)
	locker(t, ctx, env, "run", "--pool", "envs", "--holder", "deploy", "--", "sh", "-c", `echo "ran $LOCKER_LOCK"`).want(t, 0, `^ran env-1\n$`, `^$`)
	if l, _ := cl.Get(ctx, "env-1"); !l.Free() {
		t.Fatalf("after locker run --pool: %+v, want it released", l)
	}
}

// TestLockRedirectSaysWhereTo: a server address that redirects a change
// with 301 (http to https, say) is refused by the client, whose error says
// where to: the command printed it inside "the server answered HTTP 301
// (...), not as a Locker server does: is --url a Locker server's
// address?", which said it twice and cast doubt on an address that is
// right but for its scheme.
func TestLockRedirectSaysWhereTo(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, url+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer redir.Close()
	env := map[string]string{"LOCKER_URL": redir.URL}
	locker(t, context.Background(), env, "lock", "x", "--key", "k").want(t, 1, `^$`,
		`^locker lock: the server answered PUT \S+ with a redirect \(HTTP 301\) to \S+, which would send it as a GET: nothing was changed; use the address it redirects to as the server's URL: `+regexp.QuoteMeta(url)+` \(--url, or LOCKER_URL\)\n$`)
}
