package cli

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/internal/cutproxy"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestWaitThroughAProxyWithAShortTimeout: a wait cut short by a proxy's
// read timeout says so and names both remedies (not "the server cannot
// serve this now ... try again later"); --wait-chunk, or
// LOCKER_WAIT_CHUNK, below the proxy's timeout waits through it, for lock,
// pool acquire and run.
func TestWaitThroughAProxyWithAShortTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	cl, _ := client.New(client.Options{URL: url})
	env := map[string]string{"LOCKER_URL": cutproxy.New(t, url, 1500*time.Millisecond).URL}
	if _, err := cl.Lock(ctx, "slow", client.LockOptions{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	remedies := `.*HTTP 504.* waited \d+s of the 20s .*proxy or load balancer whose read \(or idle\) timeout, about 2s, is shorter than .*raise the proxy's read timeout above 20s .*or set --wait-chunk \(or LOCKER_WAIT_CHUNK\) below it, e\.g\. --wait-chunk 1s`
	locker(t, ctx, env, "lock", "slow", "--key", "me", "--wait", "20s").want(t, 1, `^$`, `^locker lock: `+remedies)
	locker(t, ctx, env, "run", "slow", "--wait", "20s", "--", "true").want(t, 1, `^$`, `^locker run: `+remedies)

	// In parts below the proxy's timeout: the lock is released after
	// 2.5s, and the wait gets it.
	release := func() {
		go func() {
			time.Sleep(2500 * time.Millisecond)
			cl.Unlock(ctx, "slow", "a", "")
		}()
	}
	release()
	locker(t, ctx, env, "lock", "slow", "--key", "me", "--wait", "20s", "--wait-chunk", "1s").want(t, 0, `^locked 'slow'`, `^$`)
	cl.Unlock(ctx, "slow", "me", "")
	cl.Lock(ctx, "slow", client.LockOptions{Key: "a"})
	release()
	chunked := map[string]string{"LOCKER_URL": env["LOCKER_URL"], "LOCKER_WAIT_CHUNK": "1s"}
	locker(t, ctx, chunked, "run", "slow", "--wait", "20s", "--", "true").want(t, 0, `^$`, `^$`)

	cl.AddMember(ctx, "p", "m1", nil)
	cl.Lock(ctx, "m1", client.LockOptions{Key: "a"})
	go func() {
		time.Sleep(2500 * time.Millisecond)
		cl.Unlock(ctx, "m1", "a", "")
	}()
	locker(t, ctx, env, "pool", "acquire", "p", "--key", "me", "--wait", "20s", "--wait-chunk=1s").want(t, 0, `^m1\n$`, `^$`)

	// Bad values: exit 2, naming the flag or the variable; only the
	// commands that wait read the variable.
	locker(t, ctx, env, "lock", "x", "--key", "k", "--wait-chunk", "0").want(t, 2, `^$`, `--wait-chunk`)
	locker(t, ctx, env, "lock", "x", "--key", "k", "--wait-chunk", "200ms").want(t, 2, `^$`, `--wait-chunk 200ms is too short`)
	bad := map[string]string{"LOCKER_URL": url, "LOCKER_WAIT_CHUNK": "soon"}
	locker(t, ctx, bad, "lock", "x", "--key", "k").want(t, 2, `^$`, `LOCKER_WAIT_CHUNK="soon"`)
	locker(t, ctx, bad, "ls").want(t, 0, ``, `^$`)
	for _, c := range []string{"lock", "run", "pool acquire"} {
		locker(t, ctx, nil, append(strings.Fields(c), "--help")...).want(t, 0, `(?s)--wait-chunk D .*LOCKER_WAIT_CHUNK`, `^$`)
	}
}

// TestShortenedLeaseWarns: a lease the server cuts below --ttl (its
// LOCKER_MAX_TTL) is said on stderr, also with --json (whose stdout stays
// JSON), by lock, pool acquire and run (once).
func TestShortenedLeaseWarns(t *testing.T) {
	ctx := context.Background()
	url := testServer(t, httpapi.Config{}, lockservice.Config{MaxTTL: 2 * time.Second})
	env := map[string]string{"LOCKER_URL": url}
	warn := `warning: the server cut the lease to 2s, shorter than the 1h0m0s asked with --ttl \(its maximum lease, LOCKER_MAX_TTL\)`
	locker(t, ctx, env, "lock", "m3", "--key", "k", "--ttl", "1h").want(t, 0, `^locked 'm3' .*lease ends in [12]s\)\n$`, `^locker lock: `+warn+`[^\n]*\n$`)
	r := locker(t, ctx, env, "lock", "m4", "--key", "k", "--ttl", "1h", "--json")
	r.want(t, 0, `^\{`, `^locker lock: `+warn+`[^\n]*\n$`)
	// A lease within the maximum, or none asked: nothing said.
	locker(t, ctx, env, "lock", "m5", "--key", "k", "--ttl", "2s").want(t, 0, `^locked`, `^$`)
	locker(t, ctx, env, "lock", "m6", "--key", "k").want(t, 0, `^locked`, `^$`)
	// Re-entrant: the hold's second take is judged too.
	locker(t, ctx, env, "lock", "m3", "--key", "k", "--ttl", "1h").want(t, 0, `count 2`, `^locker lock: `+warn)

	cl, _ := client.New(client.Options{URL: url})
	cl.AddMember(ctx, "p", "pm", nil)
	locker(t, ctx, env, "pool", "acquire", "p", "--key", "k", "--ttl", "1h").want(t, 0, `^pm\n$`, `^locker pool acquire: `+warn+`[^\n]*\n$`)

	r = locker(t, ctx, env, "run", "r", "--ttl", "1h", "--", "sleep", "1")
	r.want(t, 0, `^$`, `^locker run: `+warn+`[^\n]*\n$`)
	if !regexp.MustCompile(`renew`).MatchString(r.stderr) {
		t.Fatalf("locker run's warning does not say the lease is renewed: %s", r.stderr)
	}
}

func TestShown(t *testing.T) {
	for in, want := range map[string]string{
		"prod-deploy":      "prod-deploy",
		"ümlaut name 日本 🚀": "ümlaut name 日本 🚀",
		"\u202eevil-rtl":   `\u202eevil-rtl`,
		"a\u200bb":         `a\u200bb`,
		"a\u2066b\u2069":   `a\u2066b\u2069`,
		"\x1b[31mred":      `\x1b[31mred`,
		"tab\there\n":      `tab\there\n`,
		"nbsp\u00a0x":      `nbsp\u00a0x`,
		"filler\u115f":     `filler\u115f`,
		"vs\ufe0f":         `vs\ufe0f`,
		"ls\u2028ps\u2029": `ls\u2028ps\u2029`,
		"braille\u2800":    `braille\u2800`,
		"tag\U000e0041":    `tag\U000e0041`,
		"soft\u00adhyphen": `soft\u00adhyphen`,
		"c1\u009b":         `c1\u009b`,
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestServerTextShownEscaped: names, keys, holders and pool metadata with
// characters that reorder or hide text (a right-to-left override made
// "\u202eevil-rtl" read "ltr-live") are printed escaped by ls, status,
// history, pool ls and in messages; --json prints them as the server sent
// them.
func TestServerTextShownEscaped(t *testing.T) {
	ctx := context.Background()
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	cl, _ := client.New(client.Options{URL: url})
	name, key, holder := "\u202eevil-rtl", "k\u200bey", "h\u2066older"
	if _, err := cl.Lock(ctx, name, client.LockOptions{Key: key, Holder: holder}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddMember(ctx, "p\u200d", name, []byte(`{"region":"us\u202e-east"}`)); err != nil {
		t.Fatal(err)
	}
	raw := regexp.MustCompile("[\u202e\u200b\u200d\u2066]")
	for _, args := range [][]string{
		{"ls"},
		{"status", name},
		{"history", name},
		{"pool", "ls"},
		{"lock", name, "--key", "other", "--wait", "0"},
		{"pool", "acquire", "p\u200d", "--key", "other", "--wait", "0"},
		{"pool", "add", "p\u200d", name},
		{"unlock", name, "--key", key, "--holder", "nobody"},
	} {
		r := locker(t, ctx, env, args...)
		if raw.MatchString(r.stdout + r.stderr) {
			t.Errorf("locker %q prints the server's text raw:\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout+r.stderr, `\u`) {
			t.Errorf("locker %q shows no escape:\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"ls", "--json"}, {"status", name, "--json"}, {"pool", "ls", "--json"}} {
		r := locker(t, ctx, env, args...)
		if !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, key) || !strings.Contains(r.stdout, holder) {
			t.Errorf("locker %q does not print the server's text as it is: %s", args, r.stdout)
		}
	}
}

// TestWaitingLineOwnHold: while the lock is read back after a lost answer,
// it shows the wait's own key and holder: the progress line says it is
// this run's hold (or, for a key and holder another command may share, a
// hold of them), not "held by" as if another had it.
func TestWaitingLineOwnHold(t *testing.T) {
	now := time.Now()
	other := &client.Lock{Name: "prod", Key: "a", LockedBy: map[string]int{"a": 1}, Since: now.Add(-time.Minute)}
	mine := &client.Lock{Name: "prod", Key: "host:1:ab", LockedBy: map[string]int{"host:1:ab": 1}, Since: now}
	run := client.LockOptions{Key: "host:1:ab", Holder: "host:1:ab", OwnKey: true}
	if got := waitingLine("prod", other, "run", run, 5*time.Second, now); got != "waiting for lock 'prod', held by 'a' (key 'a') for 1m00s; waited 5s" {
		t.Errorf("another's hold: %q", got)
	}
	if got := waitingLine("prod", mine, "run", run, 5*time.Second, now); !strings.HasPrefix(got, "waiting for lock 'prod': it shows this run's hold") || strings.Contains(got, "held by") {
		t.Errorf("this run's hold, read back: %q", got)
	}
	lock := client.LockOptions{Key: "host:1:ab"}
	if got := waitingLine("prod", mine, "lock", lock, 5*time.Second, now); !strings.HasPrefix(got, "waiting for lock 'prod': it shows a hold of this command's key and holder") {
		t.Errorf("a hold of locker lock's key and holder, read back: %q", got)
	}
}

// TestExplainCut: a wait cut by a gateway's 504 is most likely a proxy's
// timeout; one cut by a 502 or a closed connection may as well be a server
// that failed or restarted, and says so.
func TestExplainCut(t *testing.T) {
	gw := &client.APIError{StatusCode: http.StatusGatewayTimeout, Message: "<html>504 Gateway Time-out</html>"}
	msg, code := explain(&client.WaitCutError{Asked: 5 * time.Minute, After: time.Minute, Err: gw})
	if code != exitError || !strings.Contains(msg, "answered HTTP 504 (Gateway Timeout) after the request had waited 1m0s of the 5m0s") || !strings.Contains(msg, "most likely a proxy or load balancer whose read (or idle) timeout, about 1m0s, is shorter") || !strings.Contains(msg, "--wait-chunk 45s") {
		t.Errorf("a 504 after a minute: %d %s", code, msg)
	}
	closed := &client.ConnError{URL: "http://x", Err: io.EOF}
	msg, _ = explain(&client.WaitCutError{Asked: 5 * time.Minute, After: time.Minute, Err: closed})
	if !strings.Contains(msg, "closed the connection after") || !strings.Contains(msg, "the server may have failed or restarted; or, if this happens each time after about 1m0s, a proxy") {
		t.Errorf("a connection closed after a minute: %s", msg)
	}
}
