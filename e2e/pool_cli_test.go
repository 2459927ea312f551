package e2e

// The pool commands of the CLI through the real binary: locker pool
// add/ls/acquire/rm, locker run --pool, and locker import-pool-repo.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// pcliRun runs the binary as a client and fails the test unless it exits
// with code and its output matches.
func pcliRun(t *testing.T, env []string, code int, stdoutRE, stderrRE string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, got, err := cliExec(env, args...)
	if err != nil || got != code || !regexp.MustCompile(stdoutRE).MatchString(stdout) || !regexp.MustCompile(stderrRE).MatchString(stderr) {
		t.Fatalf("locker %s: exit %d %v\nstdout: %s\nstderr: %s\nwant exit %d, stdout =~ %s, stderr =~ %s",
			strings.Join(args, " "), got, err, stdout, stderr, code, stdoutRE, stderrRE)
	}
	return stdout, stderr
}

func TestPoolCLICommands(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=secret"})
	env := []string{"LOCKER_URL=" + s.URL, "LOCKER_USER=ci", "LOCKER_PASS=secret"}
	c := cliClient(t, strings.Replace(s.URL, "://", "://ci:secret@", 1))
	ctx := context.Background()

	pcliRun(t, env, 0, `^'aws-1' is a member of pool 'envs' \(free\)`, `^$`, "pool", "add", "envs", "aws-1", "--metadata", `{"region":"us-east-1","account":"1234"}`)
	md := filepath.Join(t.TempDir(), "md")
	os.WriteFile(md, []byte(`{"region": "eu-west-1"}`), 0o644)
	pcliRun(t, env, 0, `metadata: \{"region":"eu-west-1"\}\n$`, `^$`, "pool", "add", "envs", "aws-2", "--metadata-file", md)

	// A script takes a member by name from stdout, and its metadata with
	// --json.
	name, _ := pcliRun(t, env, 0, `^aws-1\n$`, `^$`, "pool", "acquire", "envs", "--key", "build-1", "--ttl", "10m")
	out, _ := pcliRun(t, env, 0, `"name": "aws-2"`, `^$`, "pool", "acquire", "envs", "--key", "build-2", "--json")
	var got struct {
		Name     string
		Fence    uint64
		Metadata struct{ Region string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != "aws-2" || got.Metadata.Region != "eu-west-1" || got.Fence == 0 {
		t.Fatalf("--json: %+v %v\n%s", got, err, out)
	}
	pcliRun(t, env, 3, `^$`, `^locker pool acquire: every member of pool 'envs' is held \(2 of 2\)\n$`, "pool", "acquire", "envs", "--key", "build-3", "--wait", "0")

	pcliRun(t, env, 0, `^POOL +FREE +MEMBER +STATE +KEY +HOLDERS +HELD FOR +METADATA\nenvs +0/2 +aws-1 +held +build-1 +build-1 x1 +\S+ +\{"region":"us-east-1","account":"1234"\}\n +aws-2 +held +build-2 `, `^$`, "pool", "ls")
	out, _ = pcliRun(t, env, 0, ``, `^$`, "pool", "ls", "envs", "--json")
	var p struct {
		Members map[string]struct{ Key string }
		Free    int
		Total   int
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Total != 2 || p.Free != 0 || p.Members["aws-1"].Key != "build-1" {
		t.Fatalf("ls --json: %+v %v\n%s", p, err, out)
	}

	// A blocked acquire gets the member released with the ordinary unlock.
	done := make(chan string, 1)
	go func() {
		stdout, stderr, code, err := cliExec(env, "pool", "acquire", "envs", "--key", "build-3", "--wait", "1m")
		done <- fmt.Sprintf("%d %v %s%s", code, err, stdout, stderr)
	}()
	cliWait(t, "the acquire waits", func() bool { p, err := c.Pool(ctx, "envs"); return err == nil && p.Waiters == 1 })
	pcliRun(t, env, 0, `free now`, `^$`, "unlock", strings.TrimSpace(name), "--key", "build-1")
	if r := <-done; r != "0 <nil> aws-1\n" {
		t.Fatalf("the waiting acquire: %q", r)
	}

	pcliRun(t, env, 3, `^$`, `release it first \('locker unlock aws-2 --key build-2'\), or remove it with --force`, "pool", "rm", "envs", "aws-2")
	// --force --fence: only the holds taken under that fence token.
	held, err := c.Get(ctx, "aws-2")
	if err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprint(held.Fence - 1)
	pcliRun(t, env, 3, `^$`, `taken again since fence `+stale+`: it is held by key .*; nothing was forced or removed`, "pool", "rm", "envs", "aws-2", "--force", "--fence", stale)
	pcliRun(t, env, 2, `^$`, `--fence goes with --force`, "pool", "rm", "envs", "aws-2", "--fence", stale)
	pcliRun(t, env, 0, `^removed 'aws-2' from pool 'envs'; it is free\n$`, `^$`, "pool", "rm", "envs", "aws-2", "--force", "--fence", fmt.Sprint(held.Fence))
	if pl, err := c.Pool(ctx, "envs"); err != nil || pl.Total != 1 || pl.Members[0].Name != "aws-1" {
		t.Fatalf("after rm: %+v %v", pl, err)
	}
	// Wrong credentials: said in words.
	pcliRun(t, []string{"LOCKER_URL=" + s.URL}, 1, `^$`, `^locker pool ls: the server refused the credentials`, "pool", "ls")
}

// locker run --pool: the command gets the member's name, pool, fence and
// metadata, holds the member while it runs, and releases it after. Several
// runs at once over a pool of two never share a member.
func TestPoolCLIRun(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, nil)
	env := []string{"LOCKER_URL=" + s.URL}
	c := cliClient(t, s.URL)
	ctx := context.Background()
	for i, region := range []string{"us-east-1", "eu-west-1"} {
		pcliRun(t, env, 0, ``, `^$`, "pool", "add", "envs", fmt.Sprintf("env-%d", i+1), "--metadata", `{"region":"`+region+`"}`)
	}

	dir := t.TempDir()
	script := `echo "$LOCKER_LOCK|$LOCKER_POOL|$LOCKER_FENCE|$LOCKER_METADATA" > ` + dir + `/env; touch ` + dir + `/started; while [ ! -e ` + dir + `/go ]; do sleep 0.02; done`
	cmd, out := cliStart(t, env, "run", "--pool", "envs", "--key", "job", "--", "sh", "-c", script)
	cliWait(t, "the command runs", func() bool { return exists(filepath.Join(dir, "started")) })
	b, _ := os.ReadFile(filepath.Join(dir, "env"))
	if string(b) != `env-1|envs|1|{"region":"us-east-1"}`+"\n" {
		t.Fatalf("the command's environment: %q", b)
	}
	if l, err := c.Get(ctx, "env-1"); err != nil || l.Key != "job" {
		t.Fatalf("not held while the command runs: %+v %v", l, err)
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("locker run: %v\n%s", err, out)
	}
	if l, err := c.Get(ctx, "env-1"); err != nil || !l.Free() {
		t.Fatalf("not released after the command: %+v %v", l, err)
	}

	// Six runs at once, two members: each marks its member in use with an
	// atomic mkdir, which fails if another run has it.
	inUse := filepath.Join(t.TempDir(), "in-use")
	os.Mkdir(inUse, 0o755)
	work := `mkdir "$1/$LOCKER_LOCK" || { echo "$LOCKER_LOCK is in use by another run" >&2; exit 1; }; echo "$LOCKER_LOCK" >> "$1/../log"; sleep 0.1; rmdir "$1/$LOCKER_LOCK"`
	var wg sync.WaitGroup
	errs := make(chan string, 6)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stdout, stderr, code, err := cliExec(env, "run", "--pool", "envs", "--key", fmt.Sprint("worker-", w), "--wait", "2m", "--", "sh", "-c", work, "sh", inUse)
			if err != nil || code != 0 {
				errs <- fmt.Sprintf("worker %d: exit %d %v\n%s%s", w, code, err, stdout, stderr)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	log, _ := os.ReadFile(filepath.Join(inUse, "..", "log"))
	if n := strings.Count(string(log), "\n"); n != 6 {
		t.Fatalf("%d runs ran their command, want 6:\n%s", n, log)
	}
	if p, err := c.Pool(ctx, "envs"); err != nil || p.Free != 2 || p.Waiters != 0 {
		t.Fatalf("after the runs: %+v %v", p, err)
	}
}

// locker import-pool-repo moves a pool-resource repository's layout into
// the server, and may be run again.
func TestPoolCLIImportRepo(t *testing.T) {
	s := startServer(t, nil)
	env := []string{"LOCKER_URL=" + s.URL}
	c := cliClient(t, s.URL)
	ctx := context.Background()
	repo := t.TempDir()
	for path, content := range map[string]string{
		"envs/unclaimed/env-1":    `{"host": "10.0.0.1"}`,
		"envs/unclaimed/.gitkeep": "",
		"envs/claimed/env-2":      "host: 10.0.0.2\n",
		"envs/claimed/.gitkeep":   "",
		".git/config":             "[core]\n",
	} {
		full := filepath.Join(repo, path)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pcliRun(t, env, 0, `(?s)env-2: added \(claimed in the repository\); claimed with key 'imported-from-pool-repo'\n.*1 pool\(s\), 2 lock\(s\): 2 added.*release one with: locker unlock NAME --key imported-from-pool-repo\n$`, `^$`, "import-pool-repo", repo)
	p, err := c.Pool(ctx, "envs")
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 2 || p.Free != 1 || string(p.Member("env-1").Metadata) != `{"host":"10.0.0.1"}` || string(p.Member("env-2").Metadata) != `"host: 10.0.0.2\n"` || p.Member("env-2").Key != "imported-from-pool-repo" {
		t.Fatalf("imported: %+v", p)
	}
	// Again: nothing duplicated.
	pcliRun(t, env, 0, `(?s)env-2: already a member \(claimed in the repository\); claimed already\n.*0 added, 0 updated, 2 unchanged; 0 claimed`, `^$`, "import-pool-repo", repo)
	if l, _ := c.Get(ctx, "env-2"); l.LockedBy["imported-from-pool-repo"] != 1 {
		t.Fatalf("claimed twice: %+v", l)
	}
	// The pool is usable at once: a run gets the free member.
	pcliRun(t, env, 0, `^env-1 \{"host":"10.0.0.1"\}\n$`, `^$`, "run", "--pool", "envs", "--", "sh", "-c", `echo "$LOCKER_LOCK $LOCKER_METADATA"`)
}
