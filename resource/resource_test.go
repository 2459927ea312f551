package resource_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// src is a source for the server with a short retry_delay.
func src(s *server, lock string) obj {
	return obj{"locker_uri": s.URL, "lock_name": lock, "retry_delay": "100ms"}
}

func lockParams(key, holder string) obj {
	p := obj{"lock_op": "lock", "key": key}
	if holder != "" {
		p["locked_by"] = holder
	}
	return p
}

func unlockParams(key, holder string) obj {
	p := obj{"lock_op": "unlock", "key": key}
	if holder != "" {
		p["locked_by"] = holder
	}
	return p
}

// TestLockInUnlock: out takes the lock, in shows it, out gives it back, in
// shows it free; versions and metadata say so.
func TestLockInUnlock(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "prod deploy/1") // a name that needs escaping

	r := mustRun(t, request(source, lockParams("deploy-a", "job-1"), nil), "out", t.TempDir())
	a := decodeAnswer(t, r)
	l := get(t, c, "prod deploy/1")
	if l.Key != "deploy-a" || l.LockedBy["job-1"] != 1 || len(l.LockedBy) != 1 {
		t.Fatalf("after lock, the server has %+v", l)
	}
	if a.Version["key"] != "deploy-a" || a.Version["state"] != "held" || a.Version["fence"] != "1" || a.Version["holders"] != `{"job-1":1}` {
		t.Errorf("lock's version %v", a.Version)
	}
	for name, want := range map[string]string{"lock": "prod deploy/1", "operation": "lock", "key": "deploy-a", "holder": "job-1", "fence": "1", "state": "held", "holders": "job-1"} {
		if got := a.meta(name); got != want {
			t.Errorf("lock's metadata %s = %q, want %q (all: %v)", name, got, want, a.Metadata)
		}
	}
	if !strings.Contains(a.meta("response"), "locked") {
		t.Errorf("metadata has no server response: %v", a.Metadata)
	}
	if !strings.Contains(r.stderr, `took lock "prod deploy/1" with key "deploy-a" as "job-1"`) {
		t.Errorf("stderr does not say the lock was taken:\n%s", r.stderr)
	}

	// in, with the version out emitted (the implicit get after a put).
	dir := filepath.Join(t.TempDir(), "lock-dir") // in creates it
	r = mustRun(t, request(source, nil, a.Version), "in", dir)
	ia := decodeAnswer(t, r)
	if !maps.Equal(ia.Version, a.Version) {
		t.Errorf("in answered version %v, want the requested %v", ia.Version, a.Version)
	}
	files := map[string]string{"name": "prod deploy/1", "key": "deploy-a", "locked": "true", "fence": "1", "holders": "job-1"}
	for f, want := range files {
		if got := readFile(t, dir, f); got != want {
			t.Errorf("in's %s file = %q, want %q", f, got, want)
		}
	}
	var lj map[string]any
	if err := json.Unmarshal([]byte(readFile(t, dir, "lock")), &lj); err != nil {
		t.Fatalf("in's lock file is not JSON: %v", err)
	}
	if lj["key"] != "deploy-a" || lj["locked_by"].(map[string]any)["job-1"] != float64(1) || lj["fence"] != float64(1) {
		t.Errorf("in's lock file: %v", lj)
	}
	if ia.meta("key") != "deploy-a" || ia.meta("state") != "held" || ia.meta("lock") != "prod deploy/1" {
		t.Errorf("in's metadata: %v", ia.Metadata)
	}

	r = mustRun(t, request(source, unlockParams("deploy-a", "job-1"), nil), "out", t.TempDir())
	ua := decodeAnswer(t, r)
	if l := get(t, c, "prod deploy/1"); !l.Free() {
		t.Fatalf("after unlock, the server has %+v", l)
	}
	if ua.Version["state"] != "free" || ua.Version["key"] != "" || ua.Version["fence"] != "1" || ua.Version["holders"] != "{}" {
		t.Errorf("unlock's version %v", ua.Version)
	}
	if ua.meta("operation") != "unlock" || ua.meta("state") != "free" {
		t.Errorf("unlock's metadata %v", ua.Metadata)
	}

	r = mustRun(t, request(source, nil, ua.Version), "in", dir)
	for f, want := range map[string]string{"key": "", "locked": "false", "holders": "", "name": "prod deploy/1"} {
		if got := readFile(t, dir, f); got != want {
			t.Errorf("after unlock, in's %s file = %q, want %q", f, got, want)
		}
	}
}

// TestCheck: check follows the one configured lock, and nothing else.
func TestCheck(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := src(s, "app")
	check := func(v map[string]string) []map[string]string {
		t.Helper()
		var stdin []byte
		if v == nil {
			stdin = request(source, nil, nil)
		} else {
			stdin = request(source, nil, v)
		}
		return decodeVersions(t, mustRun(t, stdin, "check"))
	}

	// A lock never used: one version, free.
	vs := check(nil)
	if len(vs) != 1 || vs[0]["state"] != "free" || vs[0]["fence"] != "0" {
		t.Fatalf("check of an unused lock: %v", vs)
	}
	free0 := vs[0]
	if vs := check(free0); len(vs) != 1 || !maps.Equal(vs[0], free0) {
		t.Fatalf("check with the current version: %v, want just %v", vs, free0)
	}

	// Another lock changing makes no new version of this one.
	mustRun(t, request(src(s, "other"), lockParams("x", ""), nil), "out", t.TempDir())
	if vs := check(free0); len(vs) != 1 || !maps.Equal(vs[0], free0) {
		t.Fatalf("after another lock changed: %v, want just %v", vs, free0)
	}

	mustRun(t, request(source, lockParams("k", "h1"), nil), "out", t.TempDir())
	vs = check(free0)
	if len(vs) != 1 || maps.Equal(vs[0], free0) || vs[0]["key"] != "k" || vs[0]["holders"] != `{"h1":1}` {
		t.Fatalf("after a lock, check from the old version: %v", vs)
	}
	held := vs[0]
	if vs := check(held); len(vs) != 1 || !maps.Equal(vs[0], held) {
		t.Fatalf("check with the current held version: %v", vs)
	}
	if vs := check(nil); len(vs) != 1 || !maps.Equal(vs[0], held) {
		t.Fatalf("check without a version: %v, want %v", vs, held)
	}
	// A second holder under the key is a change too.
	mustRun(t, request(source, lockParams("k", "h2"), nil), "out", t.TempDir())
	shared := check(held)[0]
	if shared["state"] != "shared" || shared["holders"] != `{"h1":1,"h2":1}` {
		t.Fatalf("shared version %v", shared)
	}

	mustRun(t, request(source, unlockParams("k", "h1"), nil), "out", t.TempDir())
	mustRun(t, request(source, unlockParams("k", "h2"), nil), "out", t.TempDir())
	free1 := check(shared)[0]
	if free1["state"] != "free" || maps.Equal(free1, free0) {
		t.Fatalf("free again: %v; it must differ from the first free version %v", free1, free0)
	}
	// The original resource's version ({"ref": ...}) is not current.
	if vs := check(map[string]string{"ref": "0123abcd"}); len(vs) != 1 || !maps.Equal(vs[0], free1) {
		t.Fatalf("check from an original resource's version: %v", vs)
	}
}

// TestContend: a second out waits while another key holds the lock, says who
// holds it and for how long it has waited, and gets the lock as soon as it
// is released.
func TestContend(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "contended")
	mustRun(t, request(source, lockParams("A", "job-a"), nil), "out", t.TempDir())

	b := start(t, binary, request(source, lockParams("B", "job-b"), nil), "out", t.TempDir())
	b.waitStderr(`lock "contended" is held by key "A" (holders: "job-a")`)
	// It waits in the server's queue.
	deadline := time.Now().Add(10 * time.Second)
	for get(t, c, "contended").Waiters != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no waiter on the server; the resource says:\n%s", b.stderrSoFar())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The holder takes the lock again (re-entry never waits): the progress
	// report says so, with the time waited.
	mustRun(t, request(source, lockParams("A", "job-a"), nil), "out", t.TempDir())
	b.waitStderr(`it is held by key "A" (holders: "job-a" x2)`)
	if !strings.Contains(b.stderrSoFar(), "so far") {
		t.Errorf("no time waited in the progress report:\n%s", b.stderrSoFar())
	}
	mustRun(t, request(source, unlockParams("A", "job-a"), nil), "out", t.TempDir())
	time.Sleep(200 * time.Millisecond)
	if !b.running() {
		r := b.wait()
		t.Fatalf("B took the lock while job-a still holds it (exit %d):\n%s", r.code, r.stderr)
	}
	mustRun(t, request(source, unlockParams("A", "job-a"), nil), "out", t.TempDir())
	r := b.wait()
	if r.code != 0 {
		t.Fatalf("B failed (exit %d):\n%s", r.code, r.stderr)
	}
	a := decodeAnswer(t, r)
	if a.Version["key"] != "B" || a.meta("holder") != "job-b" {
		t.Errorf("B's answer: %v %v", a.Version, a.Metadata)
	}
	if l := get(t, c, "contended"); l.Key != "B" || l.LockedBy["job-b"] != 1 {
		t.Errorf("the server has %+v", l)
	}
}

// TestSharedKey: holders with one key share the lock; a holder with another
// key waits until the last of them has released it.
func TestSharedKey(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "shared")
	mustRun(t, request(source, lockParams("can-coexist", "coexisting-1"), nil), "out", t.TempDir())
	mustRun(t, request(source, lockParams("can-coexist", "coexisting-2"), nil), "out", t.TempDir())
	l := get(t, c, "shared")
	if l.State != "shared" || len(l.LockedBy) != 2 {
		t.Fatalf("two holders with one key: %+v", l)
	}
	dir := t.TempDir()
	mustRun(t, request(source, nil, nil), "in", dir)
	if got := readFile(t, dir, "holders"); got != "coexisting-1\ncoexisting-2" {
		t.Errorf("holders file %q", got)
	}

	ex := start(t, binary, request(source, lockParams("cannot-coexist", "exclusive-job"), nil), "out", t.TempDir())
	ex.waitStderr("waiting for it")
	mustRun(t, request(source, unlockParams("can-coexist", "coexisting-1"), nil), "out", t.TempDir())
	time.Sleep(200 * time.Millisecond)
	if !ex.running() {
		t.Fatalf("the exclusive job took the lock while coexisting-2 holds it:\n%s", ex.wait().stderr)
	}
	mustRun(t, request(source, unlockParams("can-coexist", "coexisting-2"), nil), "out", t.TempDir())
	if r := ex.wait(); r.code != 0 {
		t.Fatalf("exclusive job failed:\n%s", r.stderr)
	}
	if l := get(t, c, "shared"); l.Key != "cannot-coexist" {
		t.Errorf("the server has %+v", l)
	}
}

// TestLockTimeout: with source.timeout, out gives up, says who holds the
// lock, and leaves the server's queue.
func TestLockTimeout(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "busy")
	mustRun(t, request(source, lockParams("A", ""), nil), "out", t.TempDir())
	source["timeout"] = "1s"
	r := run(t, request(source, lockParams("B", ""), nil), "out", t.TempDir())
	if r.code == 0 {
		t.Fatalf("out succeeded on a held lock:\n%s", r.stdout)
	}
	for _, want := range []string{`gave up waiting for lock "busy" after 1s (source.timeout)`, `held by key "A"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "last error") {
		t.Errorf("the timeout repeats the server's answer to the last short wait:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("a failed out printed %q", r.stdout)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get(t, c, "busy").Waiters != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the waiter stayed in the server's queue")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l := get(t, c, "busy"); l.Key != "A" {
		t.Errorf("the server has %+v", l)
	}
}

// TestAbortWhileWaiting: when Concourse aborts the build (SIGTERM), a waiting
// out stops, and never takes the lock afterwards.
func TestAbortWhileWaiting(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "abort")
	mustRun(t, request(source, lockParams("A", ""), nil), "out", t.TempDir())
	p := start(t, binary, request(source, lockParams("B", ""), nil), "out", t.TempDir())
	p.waitStderr("waiting for it")
	p.cmd.Process.Signal(syscall.SIGTERM) // what Concourse sends on abort
	r := p.wait()
	if r.code == 0 {
		t.Fatalf("an aborted out succeeded:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	mustRun(t, request(source, unlockParams("A", ""), nil), "out", t.TempDir())
	time.Sleep(300 * time.Millisecond)
	if l := get(t, c, "abort"); !l.Free() || l.Waiters != 0 {
		t.Errorf("after the abort and A's unlock, the server has %+v", l)
	}
}

// TestAbortAsGrantedSaysSo: a step stopped (the build aborted) just as the
// server granted its lock cannot give the hold back (another build of a
// job that is not serial holds the same way), so it says the lock may be
// its own and how to release it, rather than only that it stopped (a
// resource review found such locks held with nobody told).
func TestAbortAsGrantedSaysSo(t *testing.T) {
	granted := make(chan struct{}, 1)
	s := startServer(t, serverOpts{wrap: grantWithoutAnswer("/lock/slow", granted, nil)})
	c := s.client(t, "", "")
	p := start(t, binary, request(src(s, "slow"), lockParams("B", "b1"), nil), "out", t.TempDir())
	<-granted
	p.cmd.Process.Signal(syscall.SIGTERM) // the build is aborted
	r := p.wait()
	if r.code == 0 {
		t.Fatalf("an aborted out succeeded:\n%s", r.stdout)
	}
	for _, want := range []string{`may have granted "slow" to this step just as it stopped`, `held under key "B" by holder "b1" (fence 1)`, `locker unlock slow --key B --holder b1`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if l := get(t, c, "slow"); l.LockedBy["b1"] != 1 {
		t.Errorf("the hold was not left for the user: %+v", l)
	}
}

// TestGetWithParamsWarns: a get takes no params; one given some (get:
// written for put:) says they are ignored, rather than let the pipeline
// believe it holds the lock. Empty params say nothing.
func TestGetWithParamsWarns(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "g")
	r := mustRun(t, request(source, lockParams("x", ""), nil), "in", filepath.Join(t.TempDir(), "d"))
	if !strings.Contains(r.stderr, `warning: a get of this resource takes no params and ignores these ({"key":"x","lock_op":"lock"}); to lock, unlock, acquire or release, use a put step with them`) {
		t.Errorf("a get with a put's params:\n%s", r.stderr)
	}
	if l, err := c.Get(context.Background(), "g"); err == nil && !l.Free() {
		t.Errorf("a get took the lock: %+v", l)
	}
	r = mustRun(t, request(source, obj{}, nil), "in", filepath.Join(t.TempDir(), "d"))
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("a get with empty params warned:\n%s", r.stderr)
	}
}

// TestUnlock: someone else's key fails with a clear message; a free lock or
// a holder that holds nothing is no error (an ensure: after a failed lock
// must not fail too), with a warning for the latter.
func TestUnlock(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, "u")

	r := mustRun(t, request(source, unlockParams("A", ""), nil), "out", t.TempDir())
	if !strings.Contains(r.stderr, `lock "u" is free: nothing to release`) {
		t.Errorf("unlocking a free lock:\n%s", r.stderr)
	}
	decodeAnswer(t, r)

	mustRun(t, request(source, lockParams("A", "a1"), nil), "out", t.TempDir())
	r = run(t, request(source, unlockParams("B", ""), nil), "out", t.TempDir())
	if r.code == 0 {
		t.Fatal("unlock with another key succeeded")
	}
	for _, want := range []string{`cannot unlock "u" with key "B"`, `held by key "A" (holders: "a1")`, "params.key must be the key the lock was taken with", "HTTP 423"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	r = mustRun(t, request(source, unlockParams("A", "a2"), nil), "out", t.TempDir())
	if !strings.Contains(r.stderr, `warning: "a2" holds nothing on lock "u" under key "A"`) {
		t.Errorf("unlocking with a holder that holds nothing:\n%s", r.stderr)
	}
	if l := get(t, c, "u"); l.LockedBy["a1"] != 1 {
		t.Errorf("the server has %+v", l)
	}

	// Counted re-entry: two locks, two unlocks.
	mustRun(t, request(source, lockParams("A", "a1"), nil), "out", t.TempDir())
	mustRun(t, request(source, unlockParams("A", "a1"), nil), "out", t.TempDir())
	if l := get(t, c, "u"); l.LockedBy["a1"] != 1 {
		t.Fatalf("after lock x2, unlock x1: %+v", l)
	}
	mustRun(t, request(source, unlockParams("A", "a1"), nil), "out", t.TempDir())
	if l := get(t, c, "u"); !l.Free() {
		t.Fatalf("after lock x2, unlock x2: %+v", l)
	}
}

// TestLockByAndKeyWithQuotes: the original README's lock_by spelling works,
// and keys with characters the original's string-built JSON broke on.
func TestLockByAndKeyWithQuotes(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := src(s, `we"ird`)
	key := `key with "quotes" and \backslash`
	mustRun(t, request(source, obj{"lock_op": "lock", "key": key, "lock_by": `by "me"`}, nil), "out", t.TempDir())
	if l := get(t, c, `we"ird`); l.Key != key || l.LockedBy[`by "me"`] != 1 {
		t.Fatalf("the server has %+v", l)
	}
	mustRun(t, request(source, obj{"lock_op": "unlock", "key": key, "lock_by": `by "me"`}, nil), "out", t.TempDir())
	if l := get(t, c, `we"ird`); !l.Free() {
		t.Fatalf("the server has %+v", l)
	}
}

// TestLinkNames: run through links named check, in and out, as the image
// lays the binary out in /opt/resource.
func TestLinkNames(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := src(s, "linked")
	opt := t.TempDir()
	for _, name := range []string{"check", "in", "out"} {
		if err := os.Symlink(binary, filepath.Join(opt, name)); err != nil {
			t.Fatal(err)
		}
	}
	runLink := func(name string, stdin []byte, args ...string) result {
		t.Helper()
		r := start(t, filepath.Join(opt, name), stdin, args...).wait()
		if r.code != 0 {
			t.Fatalf("%s failed (exit %d):\n%s", name, r.code, r.stderr)
		}
		return r
	}
	out := decodeAnswer(t, runLink("out", request(source, lockParams("k", ""), nil), t.TempDir()))
	vs := decodeVersions(t, runLink("check", request(source, nil, out.Version)))
	if len(vs) != 1 || !maps.Equal(vs[0], out.Version) {
		t.Errorf("check through the link: %v, want %v", vs, out.Version)
	}
	dir := t.TempDir()
	runLink("in", request(source, nil, out.Version), dir)
	if got := readFile(t, dir, "key"); got != "k" {
		t.Errorf("in through the link wrote key %q", got)
	}

	// Without a command: usage, and a failure.
	r := start(t, binary, nil).wait()
	if r.code == 0 || !strings.Contains(r.stderr, "usage: locker-resource check") {
		t.Errorf("no command: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = start(t, binary, nil, "--help").wait()
	if r.code != 0 || !strings.Contains(r.stdout, "usage:") {
		t.Errorf("--help: exit %d, stdout:\n%s", r.code, r.stdout)
	}
}

// TestOutVersionMatchesServer checks out's answer for a lock shared with a
// holder that the client package took.
func TestOutVersionMatchesServer(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	ctx := context.Background()
	if _, err := c.Lock(ctx, "m", client.LockOptions{Key: "k", Holder: "other"}); err != nil {
		t.Fatal(err)
	}
	a := decodeAnswer(t, mustRun(t, request(src(s, "m"), lockParams("k", "me"), nil), "out", t.TempDir()))
	if a.Version["state"] != "shared" || a.Version["holders"] != `{"me":1,"other":1}` || a.meta("holders") != "me, other" {
		t.Errorf("version %v, metadata %v", a.Version, a.Metadata)
	}
}
