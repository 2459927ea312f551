package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func TestPoolCommands(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	locker(t, ctx, env, "pool", "ls").want(t, 0, `^no pools`, `^$`)
	locker(t, ctx, env, "pool", "add", "envs", "aws-1", "--metadata", `{"region": "us-east-1"}`).
		want(t, 0, `^'aws-1' is a member of pool 'envs' \(free\); metadata: \{"region":"us-east-1"\}\n$`, `^$`)
	mdFile := filepath.Join(t.TempDir(), "aws-2")
	os.WriteFile(mdFile, []byte("host: 10.0.0.2\nuser: ci\n"), 0o600)
	locker(t, ctx, env, "pool", "add", "--metadata-file", mdFile, "envs", "aws-2").
		want(t, 0, `^'aws-2' is a member of pool 'envs' \(free\); metadata: host: 10.0.0.2 user: ci\n$`, `^$`)
	locker(t, ctx, env, "pool", "add", "envs", "aws-3").want(t, 0, `metadata: -\n$`, `^$`)
	if l, _ := cl.Get(ctx, "aws-2"); string(l.Metadata) != `"host: 10.0.0.2\nuser: ci\n"` {
		t.Fatalf("metadata from a text file: %s", l.Metadata)
	}

	// acquire prints the member's name alone: the one free longest.
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "job-a", "--ttl", "1h").want(t, 0, `^aws-1\n$`, `^$`)
	r := locker(t, ctx, env, "pool", "acquire", "envs", "--key", "job-b", "--holder", "build-7", "--json")
	r.want(t, 0, `"name": "aws-2"`, `^$`)
	var got client.Lock
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Name != "aws-2" || got.LockedBy["build-7"] != 1 || got.Fence == 0 || string(got.Metadata) != `"host: 10.0.0.2\nuser: ci\n"` {
		t.Fatalf("--json: %+v, %v\n%s", got, err, r.stdout)
	}

	// ls: one table, the pool's name and count on its first row.
	r = locker(t, ctx, env, "pool", "ls")
	r.want(t, 0, `^POOL +FREE +MEMBER +STATE +KEY +HOLDERS +HELD FOR +METADATA\n`+
		`envs +1/3 +aws-1 +held +job-a +job-a x1 +\d+s +\{"region":"us-east-1"\}\n`+
		` +aws-2 +held +job-b +build-7 x1 +\d+s +host: 10.0.0.2 user: ci\n`+
		` +aws-3 +free +- +- +- +-\n$`, `^$`)
	locker(t, ctx, env, "pool", "ls", "envs").want(t, 0, `(?m)^envs +1/3 +aws-1`, `^$`)
	r = locker(t, ctx, env, "pool", "ls", "--json")
	var pools map[string]struct {
		Name    string                 `json:"name"`
		Members map[string]client.Lock `json:"members"`
		Free    int                    `json:"free"`
		Total   int                    `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &pools); err != nil || pools["envs"].Total != 3 || pools["envs"].Free != 1 || pools["envs"].Members["aws-1"].Key != "job-a" || !sameJSON(pools["envs"].Members["aws-1"].Metadata, json.RawMessage(`{"region":"us-east-1"}`)) {
		t.Fatalf("ls --json: %+v, %v\n%s", pools, err, r.stdout)
	}
	r = locker(t, ctx, env, "pool", "ls", "envs", "--json")
	if !strings.Contains(r.stdout, `"total": 3`) || !strings.Contains(r.stdout, `"aws-3": {`) {
		t.Fatalf("ls POOL --json:\n%s", r.stdout)
	}
	locker(t, ctx, env, "pool", "ls", "nope").want(t, 1, `^$`, `^locker pool ls: pool 'nope' has no members \(add some with 'locker pool add nope MEMBER'\)\n$`)

	// All held: exit 3 at once with --wait 0, or after the wait.
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "job-c").want(t, 0, `^aws-3\n$`, `^$`)
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "job-d", "--wait", "0").
		want(t, 3, `^$`, `^locker pool acquire: every member of pool 'envs' is held \(3 of 3\)\n$`)
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "job-d", "--wait", "200ms").
		want(t, 3, `^$`, `^locker pool acquire: gave up after waiting 200ms: every member of pool 'envs' is held \(3 of 3\)\n$`)
	locker(t, ctx, env, "pool", "acquire", "nope", "--key", "k").want(t, 1, `^$`, `has no members`)

	// Waiting by default until one is released, with progress in verbose.
	done := make(chan result, 1)
	go func() { done <- locker(t, ctx, env, "pool", "acquire", "envs", "--key", "job-e", "-v") }()
	waitUntil(t, func() bool { p, err := cl.Pool(ctx, "envs"); return err == nil && p.Waiters == 1 })
	locker(t, ctx, env, "unlock", "aws-2", "--key", "job-b", "--holder", "build-7").want(t, 0, `free now`, `^$`)
	(<-done).want(t, 0, `^aws-2\n$`, `locked 'aws-2' from pool 'envs' with key 'job-e'`)

	// Removal: refused while held, with --force allowed.
	locker(t, ctx, env, "pool", "rm", "envs", "aws-1").
		want(t, 3, `^$`, `^locker pool rm: member 'aws-1' of pool 'envs' is held by 'job-a' \(key 'job-a'\) since \d\d:\d\d; release it first \('locker unlock aws-1 --key job-a'\), or remove it with --force\n$`)
	locker(t, ctx, env, "pool", "rm", "envs", "aws-1", "--force").want(t, 0, `^removed 'aws-1' from pool 'envs'; it is free\n$`, `^$`)
	if l, _ := cl.Get(ctx, "aws-1"); !l.Free() || len(l.Pools) != 0 {
		t.Fatalf("after rm --force: %+v", l)
	}
	locker(t, ctx, env, "pool", "rm", "envs", "aws-1").want(t, 1, `^$`, `is not a member of pool`)
	// Metadata update of a held member keeps it held.
	locker(t, ctx, env, "pool", "add", "envs", "aws-3", "--metadata", `"x"`).want(t, 0, `\(held by 'job-c' \(key 'job-c'\)\); metadata: x\n$`, `^$`)
}

// Metadata is anyone's text: a JSON string holding terminal control
// characters (ESC, BEL, the C1 CSI) is shown with them escaped by
// locker pool ls and locker pool add, never written to the terminal as
// they are.
func TestPoolMetadataControlCharacters(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	md := `"a\u001b[31mred\u001b]0;title\u0007\u009b2J\u007fz"`
	shown := `a\\x1b\[31mred\\x1b\]0;title\\a\\u009b2J\\x7fz`
	r := locker(t, ctx, env, "pool", "add", "envs", "m1", "--metadata", md)
	r.want(t, 0, `; metadata: `+shown+`\n$`, `^$`)
	r = locker(t, ctx, env, "pool", "ls")
	r.want(t, 0, ` +m1 +free +- +- +- +`+shown+`\n$`, `^$`)
	for _, out := range []string{r.stdout} {
		for _, c := range out {
			if c != '\n' && (c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
				t.Fatalf("pool ls wrote the control character %U:\n%q", c, out)
			}
		}
	}
}

func TestPoolCommandLineMistakes(t *testing.T) {
	env := map[string]string{"LOCKER_URL": "http://127.0.0.1:1"}
	ctx := context.Background()
	locker(t, ctx, env, "pool").want(t, 2, `^$`, `locker pool needs a command`)
	locker(t, ctx, env, "pool", "frob").want(t, 2, `^$`, `unknown pool command "frob"`)
	locker(t, ctx, env, "pool", "--help").want(t, 0, `^Usage: locker pool COMMAND`, `^$`)
	locker(t, ctx, env, "pool", "acquire", "--help").want(t, 0, `^Usage: locker pool acquire POOL`, `^$`)
	locker(t, ctx, env, "pool", "acquire", "envs").want(t, 2, `^$`, `--key is required`)
	locker(t, ctx, env, "pool", "add", "envs").want(t, 2, `^$`, `give the pool and the member`)
	locker(t, ctx, env, "pool", "add", "envs", "m", "--metadata", "us-east-1").want(t, 2, `^$`, `--metadata is not valid JSON: .*quote it as JSON`)
	locker(t, ctx, env, "pool", "add", "envs", "m", "--metadata", "1", "--metadata-file", "f").want(t, 2, `^$`, `not both`)
	locker(t, ctx, env, "pool", "add", "envs", "m", "--metadata-file", "/nonexistent").want(t, 2, `^$`, `--metadata-file: open /nonexistent: no such file`)
	locker(t, ctx, env, "pool", "rm", "envs").want(t, 2, `^$`, `give the pool and the member`)
	locker(t, ctx, env, "pool", "ls", "a", "b").want(t, 2, `^$`, `at most one pool`)
	locker(t, ctx, env, "pool", "ls").want(t, 1, `^$`, `^locker pool ls: cannot reach locker at http://127.0.0.1:1 \(connection refused\)`)
	locker(t, ctx, env, "run", "--pool", "envs").want(t, 2, `^$`, `no command to run: locker run --pool POOL`)
	locker(t, ctx, env, "run", "--pool=", "--", "true").want(t, 2, `^$`, `--pool needs a pool name`)
	locker(t, ctx, env, "run", "prod", "--pool", "envs", "--", "true").want(t, 2, `^$`, `give a lock NAME or --pool POOL, not both`)
	locker(t, ctx, env, "import-pool-repo").want(t, 2, `^$`, `give the directory`)
}

func TestGivesPool(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--pool", "envs", "--", "true"}, true},
		{[]string{"--key", "k", "-pool=envs", "make"}, true},
		{[]string{"--key", "--pool", "prod", "--", "true"}, false}, // "--pool" is the key
		{[]string{"-v", "--pool", "envs", "make"}, true},
		{[]string{"prod", "--pool", "envs", "--", "true"}, false},
		{[]string{"prod", "make", "--pool", "x"}, false},
		{[]string{"--", "cmd", "--pool", "x"}, false},
	} {
		c := newClientCmd("run", "", func(string) string { return "" }, nil, nil)
		c.fs.String("key", "", "")
		c.fs.String("pool", "", "")
		if got := givesPool(c, tc.args); got != tc.want {
			t.Errorf("givesPool(%q) = %v", tc.args, got)
		}
	}
}

func TestRunPool(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "aws-1", json.RawMessage(`{"region":"us-east-1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddMember(ctx, "envs", "aws-2", nil); err != nil {
		t.Fatal(err)
	}

	// The command sees the member, the pool and the metadata; the member is
	// held while it runs (checked from inside), then released. Without
	// "--", the first word that is not a flag starts the command.
	dir := t.TempDir()
	r := locker(t, ctx, env, "run", "--pool", "envs", "--key", "k", "--holder", "me", "sh", "-c",
		`echo "$LOCKER_LOCK $LOCKER_POOL $LOCKER_FENCE $LOCKER_KEY $LOCKER_HOLDER $LOCKER_METADATA"; touch `+dir+`/ran`)
	r.want(t, 0, `^aws-1 envs 1 k me \{"region":"us-east-1"\}\n$`, `^$`)
	if l, _ := cl.Get(ctx, "aws-1"); !l.Free() {
		t.Fatalf("not released: %+v", l)
	}
	// The next run gets the member free longest: aws-2, without metadata.
	locker(t, ctx, env, "run", "--key", "k", "--pool", "envs", "-v", "--", "sh", "-c", `echo "$LOCKER_LOCK [$LOCKER_METADATA]"`).
		want(t, 0, `^aws-2 \[\]\n$`, `(?s)holding 'aws-2' from pool 'envs' \(key 'k', fence 2\); running sh.*released 'aws-2'\n$`)

	// Held during the run, exit status passed on, released after a failure.
	held := make(chan result, 1)
	go func() {
		held <- locker(t, ctx, env, "run", "--pool", "envs", "--key", "k2", "--", "sh", "-c", `touch `+dir+`/started; while [ ! -e `+dir+`/go ]; do sleep 0.02; done; exit 4`)
	}()
	waitUntil(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	if l, _ := cl.Get(ctx, "aws-1"); l.Key != "k2" {
		t.Fatalf("not held during the run: %+v", l)
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o600)
	(<-held).want(t, 4, `^$`, `^$`)
	if p, _ := cl.Pool(ctx, "envs"); p.Free != 2 {
		t.Fatalf("not released after a failure: %+v", p)
	}

	// All held: waits, or exit 3 with --wait 0.
	for _, n := range []string{"aws-1", "aws-2"} {
		if _, err := cl.Lock(ctx, n, client.LockOptions{Key: "other"}); err != nil {
			t.Fatal(err)
		}
	}
	locker(t, ctx, env, "run", "--pool", "envs", "--wait", "0", "--", "true").want(t, 3, `^$`, `^locker run: every member of pool 'envs' is held \(2 of 2\)\n$`)
	done := make(chan result, 1)
	go func() { done <- locker(t, ctx, env, "run", "--pool", "envs", "--", "sh", "-c", `echo "$LOCKER_LOCK"`) }()
	waitUntil(t, func() bool { p, err := cl.Pool(ctx, "envs"); return err == nil && p.Waiters == 1 })
	if _, err := cl.Unlock(ctx, "aws-2", "other", ""); err != nil {
		t.Fatal(err)
	}
	(<-done).want(t, 0, `^aws-2\n$`, `^$`)
	locker(t, ctx, env, "run", "--pool", "nope", "--", "true").want(t, 1, `^$`, `pool 'nope' has no members`)
}

// The lease of a member taken by locker run --pool is kept alive.
func TestRunPoolKeepsLeaseAlive(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "aws-1", nil); err != nil {
		t.Fatal(err)
	}
	locker(t, ctx, env, "run", "--pool", "envs", "--key", "k", "--ttl", "300ms", "--", "sleep", "1.2").want(t, 0, `^$`, `^$`)
	h, err := cl.History(ctx, "aws-1")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range h {
		if ev.Type != "added" {
			types = append(types, ev.Type)
		}
	}
	if s := strings.Join(types, " "); !strings.HasPrefix(s, "acquired refreshed") || !strings.HasSuffix(s, "released") || strings.Contains(s, "expired") {
		t.Fatalf("history: %s", s)
	}
}

// A server without pools: a clear message, not a puzzling 404.
func TestPoolCommandsOldServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r) // the original locker's plain-text 404
	}))
	defer srv.Close()
	env := map[string]string{"LOCKER_URL": srv.URL}
	ctx := context.Background()
	want := `the server at ` + srv.URL + ` does not support pools: .*upgrade it`
	locker(t, ctx, env, "pool", "ls").want(t, 1, `^$`, `^locker pool ls: `+want)
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "k").want(t, 1, `^$`, `^locker pool acquire: `+want)
	locker(t, ctx, env, "pool", "add", "envs", "m").want(t, 1, `^$`, `^locker pool add: `+want)
	locker(t, ctx, env, "run", "--pool", "envs", "--", "true").want(t, 1, `^$`, `^locker run: `+want)
}

// poolRepo makes a pool-resource repository layout: files maps a path to
// its content.
func poolRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportPoolRepo(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	repo := poolRepo(t, map[string]string{
		"aws/unclaimed/aws-1":      `{"region": "us-east-1"}` + "\n",
		"aws/unclaimed/aws-2":      "plain text\n",
		"aws/unclaimed/.gitkeep":   "",
		"aws/claimed/aws-3":        `{"region": "eu-west-1"}`,
		"aws/claimed/.gitkeep":     "",
		"vsphere/claimed/vs-1":     "",
		"vsphere/unclaimed/.keep":  "",
		".git/HEAD":                "ref: refs/heads/master\n",
		".git/x/claimed/ghost":     "not a lock",
		"README.md":                "pools\n",
		"nested/gcp/unclaimed/g-1": "[1, 2]",
	})

	// A dry run changes nothing.
	r := locker(t, ctx, env, "import-pool-repo", repo, "--dry-run")
	r.want(t, 0, `(?s)^dry run: nothing is changed\n.*aws-3: would be added \(claimed in the repository\); would be claimed with key 'imported-from-pool-repo'\n.*5 lock\(s\): 5 would be added`, `^$`)
	if pools, _ := cl.Pools(ctx); len(pools) != 0 {
		t.Fatalf("the dry run changed the server: %+v", pools)
	}

	r = locker(t, ctx, env, "import-pool-repo", repo)
	r.want(t, 0, `^pool 'aws':\n`+
		`  aws-1: added \(unclaimed in the repository\)\n`+
		`  aws-2: added \(unclaimed in the repository\)\n`+
		`  aws-3: added \(claimed in the repository\); claimed with key 'imported-from-pool-repo'\n`+
		`pool 'nested/gcp':\n`+
		`  g-1: added \(unclaimed in the repository\)\n`+
		`pool 'vsphere':\n`+
		`  vs-1: added \(claimed in the repository\); claimed with key 'imported-from-pool-repo'\n`+
		`3 pool\(s\), 5 lock\(s\): 5 added, 0 updated, 0 unchanged; 2 claimed and 0 released with key 'imported-from-pool-repo'\n`+
		`claimed locks are held with key 'imported-from-pool-repo'; release one with: locker unlock NAME --key imported-from-pool-repo\n$`, `^$`)
	pools, err := cl.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 3 || pools[0].Name != "aws" || pools[1].Name != "nested/gcp" || pools[2].Name != "vsphere" {
		t.Fatalf("pools: %+v", pools)
	}
	aws := pools[0]
	if aws.Total != 3 || aws.Free != 2 {
		t.Fatalf("aws: %+v", aws)
	}
	for name, want := range map[string]string{"aws-1": `{"region":"us-east-1"}`, "aws-2": `"plain text\n"`, "aws-3": `{"region":"eu-west-1"}`} {
		if got := string(aws.Member(name).Metadata); got != want {
			t.Errorf("%s metadata %s, want %s", name, got, want)
		}
	}
	if m := aws.Member("aws-3"); m.Key != "imported-from-pool-repo" || m.LockedBy["imported-from-pool-repo"] != 1 {
		t.Fatalf("aws-3 not claimed: %+v", m)
	}
	if m := pools[2].Member("vs-1"); m.Free() || string(m.Metadata) != `""` {
		t.Fatalf("vs-1: %+v %s", m, m.Metadata)
	}
	if string(pools[1].Member("g-1").Metadata) != `[1,2]` {
		t.Fatalf("g-1: %s", pools[1].Member("g-1").Metadata)
	}

	// The imported claim is released as the output says.
	locker(t, ctx, env, "unlock", "vs-1", "--key", "imported-from-pool-repo").want(t, 0, `free now`, `^$`)
	locker(t, ctx, env, "lock", "vs-1", "--key", "imported-from-pool-repo").want(t, 0, ``, `^$`)

	// Meanwhile: the repository changes (aws-1's metadata, aws-3 released,
	// aws-2 claimed), and a job holds aws-1 in Locker.
	os.WriteFile(filepath.Join(repo, "aws/unclaimed/aws-1"), []byte(`{"region": "us-east-2"}`), 0o644)
	os.Rename(filepath.Join(repo, "aws/claimed/aws-3"), filepath.Join(repo, "aws/unclaimed/aws-3"))
	os.Rename(filepath.Join(repo, "aws/unclaimed/aws-2"), filepath.Join(repo, "aws/claimed/aws-2"))
	if _, err := cl.Lock(ctx, "aws-1", client.LockOptions{Key: "job"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddMember(ctx, "aws", "aws-9", nil); err != nil {
		t.Fatal(err)
	}

	// Running it again: metadata updated, claims not duplicated, an
	// imported claim the repository dropped released, others' holds kept.
	r = locker(t, ctx, env, "import-pool-repo", repo)
	r.want(t, 0, `^pool 'aws':\n`+
		`  aws-1: metadata updated \(unclaimed in the repository\); held on the server by 'job' \(key 'job'\): left as it is\n`+
		`  aws-2: already a member \(claimed in the repository\); claimed with key 'imported-from-pool-repo'\n`+
		`  aws-3: already a member \(unclaimed in the repository\); released \(claimed by an earlier import\)\n`+
		`pool 'nested/gcp':\n`+
		`  g-1: already a member \(unclaimed in the repository\)\n`+
		`pool 'vsphere':\n`+
		`  vs-1: already a member \(claimed in the repository\); claimed already\n`+
		`3 pool\(s\), 5 lock\(s\): 0 added, 1 updated, 4 unchanged; 1 claimed and 1 released with key 'imported-from-pool-repo'\n`+
		`left alone: 1 member\(s\) on the server that the repository does not have: pool 'aws': 'aws-9'\n`+
		`claimed locks`, `^$`)
	p, _ := cl.Pool(ctx, "aws")
	if m := p.Member("aws-1"); m.Key != "job" || string(m.Metadata) != `{"region":"us-east-2"}` {
		t.Fatalf("aws-1: %+v", m)
	}
	if m := p.Member("aws-2"); m.LockedBy["imported-from-pool-repo"] != 1 {
		t.Fatalf("aws-2: %+v", m)
	}
	if m := p.Member("aws-3"); !m.Free() {
		t.Fatalf("aws-3: %+v", m)
	}
	if l, _ := cl.Get(ctx, "vs-1"); l.LockedBy["imported-from-pool-repo"] != 1 {
		t.Fatalf("vs-1 claimed twice? %+v", l)
	}
}

func TestImportPoolRepoRefusals(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})

	// One name in two pools is one lock in Locker: refused, unless
	// prefixed.
	repo := poolRepo(t, map[string]string{
		"a/unclaimed/env-1": "1",
		"b/claimed/env-1":   "2",
		"b/unclaimed/env-2": "3",
	})
	locker(t, ctx, env, "import-pool-repo", repo).want(t, 1, `^$`, `^locker import-pool-repo: lock names are server-wide in Locker, and these are in more than one pool: 'env-1' \(pools 'a', 'b'\); nothing was imported\. Use --prefix-pool`)
	if pools, _ := cl.Pools(ctx); len(pools) != 0 {
		t.Fatalf("imported despite the refusal: %+v", pools)
	}
	locker(t, ctx, env, "import-pool-repo", repo, "--prefix-pool", "--key", "migration").want(t, 0, `(?m)^  b/env-1: added \(claimed in the repository\); claimed with key 'migration'$`, `^$`)
	if l, _ := cl.Get(ctx, "b/env-1"); l.Key != "migration" || l.Pools[0] != "b" || string(l.Metadata) != "2" {
		t.Fatalf("b/env-1: %+v", l)
	}

	locker(t, ctx, env, "import-pool-repo", t.TempDir()).want(t, 1, `^$`, `no pool-resource locks in .*: expected files POOL/claimed/NAME or POOL/unclaimed/NAME`)
	locker(t, ctx, env, "import-pool-repo", "/nonexistent").want(t, 1, `^$`, `reading the repository: /nonexistent: no such file or directory`)

	// A member the server refuses is reported, the others imported.
	big := poolRepo(t, map[string]string{
		"p/unclaimed/ok":  "{}",
		"p/unclaimed/big": strings.Repeat("x", 70<<10),
	})
	// A dry run says so too (not "would be added"), and neither counts
	// it among the added.
	locker(t, ctx, env, "import-pool-repo", big, "--dry-run").want(t, 1, `(?s)  big: FAILED: metadata is .*  ok: would be added.*2 lock\(s\): 1 would be added, 0 would be updated, 0 unchanged.*; 1 FAILED\n`, `^$`)
	locker(t, ctx, env, "import-pool-repo", big).want(t, 1, `(?s)  big: FAILED: the server refused the request: metadata is .*  ok: added.*2 lock\(s\): 1 added, 0 updated, 0 unchanged.*; 1 FAILED\n`, `^$`)
	if l, err := cl.Get(ctx, "ok"); err != nil || l.Pools[0] != "p" {
		t.Fatalf("ok: %+v, %v", l, err)
	}
}

// Waiting for a pool stops on interruption without taking a member.
func TestPoolAcquireInterrupted(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	cl, _ := client.New(client.Options{URL: url})
	bg := context.Background()
	cl.AddMember(bg, "envs", "e1", nil)
	cl.Lock(bg, "e1", client.LockOptions{Key: "a"})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	go func() {
		// Cancel once the command waits (or after 10s: the test then
		// fails on its output).
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if p, err := cl.Pool(bg, "envs"); err == nil && p.Waiters == 1 {
				break
			}
		}
		cancel()
	}()
	locker(t, ctx, env, "pool", "acquire", "envs", "--key", "b").want(t, 130, `^$`, `^locker pool acquire: interrupted: gave up waiting for a member of pool 'envs' \(none was taken\)\n$`)
	if l, _ := cl.Get(bg, "e1"); l.Key != "a" {
		t.Fatalf("%+v", l)
	}
}
