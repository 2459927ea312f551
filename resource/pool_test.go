package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
)

// The resource with source.pool, driven as Concourse drives it: each build
// has a directory of artifacts, one subdirectory per step; a put runs
// `out <build dir>` and then the implicit get `in <build dir>/<step>` with
// the version the put emitted; a later job's get (passed: [...]) runs `in`
// with that version in its own build. Concourse passes BUILD_* variables
// to both.

// build is one build of a job.
type build struct {
	t      *testing.T
	dir    string
	env    []string
	source obj
}

func newBuild(t *testing.T, source obj, job string, number, id int) *build {
	t.Helper()
	return &build{t: t, dir: t.TempDir(), source: source, env: []string{
		"BUILD_ID=" + fmt.Sprint(id), "BUILD_NAME=" + fmt.Sprint(number), "BUILD_JOB_NAME=" + job,
		"BUILD_PIPELINE_NAME=envs", "BUILD_TEAM_NAME=main", "ATC_EXTERNAL_URL=http://ci.example.com",
	}}
}

// key is the key the resource makes from the build's variables.
func (b *build) key() string {
	v := map[string]string{}
	for _, kv := range b.env {
		k, val, _ := strings.Cut(kv, "=")
		v[k] = val
	}
	return fmt.Sprintf("%s/%s/%s/%s (build %s)", v["BUILD_TEAM_NAME"], v["BUILD_PIPELINE_NAME"], v["BUILD_JOB_NAME"], v["BUILD_NAME"], v["BUILD_ID"])
}

// startPut starts a put step's out.
func (b *build) startPut(params obj) *proc {
	b.t.Helper()
	return startEnv(b.t, binary, request(b.source, params, nil), b.env, "out", b.dir)
}

// put runs a put step named step: out, then the implicit get into
// <build dir>/<step>. It fails the test if either fails.
func (b *build) put(step string, params obj) answer {
	b.t.Helper()
	r := b.startPut(params).wait()
	if r.code != 0 {
		b.t.Fatalf("put %s %v failed (exit %d):\n%s", step, params, r.code, r.stderr)
	}
	a := decodeAnswer(b.t, r)
	b.get(step, a.Version)
	return a
}

// putFails runs out and fails the test if it succeeds.
func (b *build) putFails(params obj) result {
	b.t.Helper()
	r := b.startPut(params).wait()
	if r.code == 0 {
		b.t.Fatalf("put %v succeeded; stdout %s\nstderr:\n%s", params, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		b.t.Errorf("a failed put printed %q", r.stdout)
	}
	return r
}

// get runs a get step named step with version.
func (b *build) get(step string, version map[string]string) answer {
	b.t.Helper()
	r := startEnv(b.t, binary, request(b.source, nil, version), b.env, "in", filepath.Join(b.dir, step)).wait()
	if r.code != 0 {
		b.t.Fatalf("get %s %v failed (exit %d):\n%s", step, version, r.code, r.stderr)
	}
	a := decodeAnswer(b.t, r)
	if !maps.Equal(a.Version, version) {
		b.t.Errorf("get %s answered version %v, want %v", step, a.Version, version)
	}
	return a
}

// file reads <build dir>/<step>/<name>.
func (b *build) file(step, name string) string {
	b.t.Helper()
	return readFile(b.t, filepath.Join(b.dir, step), name)
}

// task writes files into <build dir>/<output>, like a task's output.
func (b *build) task(output string, files map[string]string) {
	b.t.Helper()
	dir := filepath.Join(b.dir, output)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

func poolSource(s *server, pool string) obj {
	return obj{"locker_uri": s.URL, "pool": pool, "retry_delay": "100ms"}
}

func getPool(t *testing.T, c *client.Client, pool string) *client.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Pool(ctx, pool)
	if errors.Is(err, client.ErrNotFound) {
		return &client.Pool{Name: pool}
	}
	if err != nil {
		t.Fatalf("GET pool %q: %v", pool, err)
	}
	return p
}

func member(t *testing.T, c *client.Client, pool, name string) *client.Lock {
	t.Helper()
	m := getPool(t, c, pool).Member(name)
	if m == nil {
		t.Fatalf("%q is not a member of pool %q", name, pool)
	}
	return m
}

// waitPoolWaiters waits until n requests wait for a member of the pool.
func waitPoolWaiters(t *testing.T, c *client.Client, pool string, n int, p *proc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for getPool(t, c, pool).Waiters != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiter(s) on pool %q, want %d; the resource says:\n%s", getPool(t, c, pool).Waiters, pool, n, p.stderrSoFar())
		}
		if !p.running() {
			r := p.wait()
			t.Fatalf("the put ended (exit %d) instead of waiting:\n%s", r.code, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stillRunning fails the test if p ends within a moment.
func stillRunning(t *testing.T, p *proc, why string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	if !p.running() {
		r := p.wait()
		t.Fatalf("%s, but the put ended (exit %d):\n%s", why, r.code, r.stderr)
	}
}

// The metadata of the members the tests add, as pool-resource lock files:
// any text (YAML here), JSON, or nothing.
const (
	yamlMetadata = "host: aws-1.example.com\nregion: us-east-1\n"
	jsonMetadata = "{\"host\": \"aws-2.example.com\", \"zones\": [\"a\", \"b\"]}\n"
)

// addMembers adds aws-1 (YAML text), aws-2 (JSON) and aws-3 (empty), the
// way a pool-resource pipeline does: a task writes name and metadata, a
// put adds them.
func addMembers(b *build) {
	b.t.Helper()
	for name, md := range map[string]string{"aws-1": yamlMetadata, "aws-2": jsonMetadata, "aws-3": ""} {
		b.task("new-"+name, map[string]string{"name": name + "\n", "metadata": md})
		a := b.put("add-"+name, obj{"add": "new-" + name})
		if a.Version["name"] != name || a.Version["op"] != "add" || a.Version["metadata"] == "" {
			b.t.Errorf("add's version %v", a.Version)
		}
		if a.meta("pool") != "aws" || a.meta("name") != name || a.meta("operation") != "add" || a.meta("state") != "free" {
			b.t.Errorf("add's metadata %v", a.Metadata)
		}
	}
}

// TestPoolFlow: members added with add; two acquires get two different
// members; their gets write name and metadata as pool-resource's get does
// (plus key, fence and the single lock's files); a release from another
// job, with the directory of its get; claim; update; remove.
func TestPoolFlow(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "aws")

	setup := newBuild(t, source, "create-envs", 1, 100)
	addMembers(setup)
	p := getPool(t, c, "aws")
	if p.Total != 3 || p.Free != 3 {
		t.Fatalf("after three adds, the pool is %+v", p)
	}
	var md map[string]any
	if err := json.Unmarshal(p.Member("aws-2").Metadata, &md); err != nil || md["host"] != "aws-2.example.com" {
		t.Errorf("aws-2's metadata on the server: %s (%v)", p.Member("aws-2").Metadata, err)
	}
	var text string
	if err := json.Unmarshal(p.Member("aws-1").Metadata, &text); err != nil || text != yamlMetadata {
		t.Errorf("aws-1's metadata on the server: %s, want the text as a JSON string", p.Member("aws-1").Metadata)
	}
	// The implicit get after an add writes the member too.
	if got := setup.file("add-aws-1", "metadata"); got != yamlMetadata {
		t.Errorf("get after add: metadata %q", got)
	}

	// Two builds acquire: two different members, each held with its
	// build's key.
	deploy1 := newBuild(t, source, "deploy", 1, 201)
	deploy2 := newBuild(t, source, "deploy", 2, 202)
	a1 := deploy1.put("aws-environments", obj{"acquire": true})
	a2 := deploy2.put("aws-environments", obj{"acquire": true})
	n1, n2 := a1.Version["name"], a2.Version["name"]
	if n1 == "" || n2 == "" || n1 == n2 {
		t.Fatalf("two acquires got %v and %v", a1.Version, a2.Version)
	}
	if a1.Version["fence"] == "" || a1.Version["fence"] == a2.Version["fence"] || a1.Version["key"] != deploy1.key() || a1.Version["state"] != "held" || a1.Version["op"] != "" {
		t.Errorf("acquire's versions %v, %v: want name, fence and the hold (state, key, holders), fences differ", a1.Version, a2.Version)
	}
	for _, tc := range []struct {
		b    *build
		name string
		a    answer
	}{{deploy1, n1, a1}, {deploy2, n2, a2}} {
		m := member(t, c, "aws", tc.name)
		// Held under the build's key, by a holder of the step's own: the
		// key and a random part.
		holders := m.Holders()
		if m.Key != tc.b.key() || len(holders) != 1 || !regexp.MustCompile(`^`+regexp.QuoteMeta(tc.b.key())+` #[0-9a-f]{6}$`).MatchString(holders[0]) || fmt.Sprint(m.Fence) != tc.a.Version["fence"] {
			t.Errorf("%s on the server: %+v; want held by the build's key %q, by a holder of the step's own", tc.name, m, tc.b.key())
		}
		for k, want := range map[string]string{"pool": "aws", "name": tc.name, "operation": "acquire", "key": tc.b.key(), "fence": tc.a.Version["fence"], "state": "held"} {
			if got := tc.a.meta(k); got != want {
				t.Errorf("acquire's metadata %s = %q, want %q", k, got, want)
			}
		}
		// The get after the put: pool-resource's files, and ours.
		files := map[string]string{"name": tc.name + "\n", "key": tc.b.key(), "fence": tc.a.Version["fence"], "locked": "true", "holders": holders[0], "holder": holders[0]}
		for f, want := range files {
			if got := tc.b.file("aws-environments", f); got != want {
				t.Errorf("%s: get's %s file = %q, want %q", tc.name, f, got, want)
			}
		}
		wantMD := map[string]string{"aws-1": yamlMetadata, "aws-3": ""}
		got := tc.b.file("aws-environments", "metadata")
		if tc.name == "aws-2" {
			var v map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil || v["host"] != "aws-2.example.com" || len(v["zones"].([]any)) != 2 {
				t.Errorf("aws-2's metadata file %q is not its JSON (%v)", got, err)
			}
		} else if got != wantMD[tc.name] {
			t.Errorf("%s's metadata file = %q, want %q", tc.name, got, wantMD[tc.name])
		}
	}

	// A task written for pool-resource reads the files unchanged.
	outb, err := exec.Command("sh", "-c", `echo "lock $(cat "$1/name") has $(wc -c < "$1/metadata") bytes"`, "sh", filepath.Join(deploy1.dir, "aws-environments")).Output()
	if out := string(outb); err != nil || !strings.HasPrefix(out, "lock "+n1+" has ") {
		t.Errorf("a pool-resource task's output: %q (%v)", out, err)
	}

	// The test job (another build) gets deploy1's version (passed:
	// [deploy]) and releases it with that get's directory.
	test1 := newBuild(t, source, "test", 1, 301)
	test1.get("aws-environments", a1.Version)
	if got := test1.file("aws-environments", "key"); got != deploy1.key() {
		t.Errorf("the test job's get: key %q, want deploy's %q", got, deploy1.key())
	}
	rel := test1.put("release", obj{"release": "aws-environments"})
	if rel.Version["name"] != n1 || rel.Version["op"] != "release" || rel.Version["fence"] != a1.Version["fence"] {
		t.Errorf("release's version %v", rel.Version)
	}
	if m := member(t, c, "aws", n1); !m.Free() {
		t.Fatalf("after the release, %s is %+v", n1, m)
	}
	if n := getPool(t, c, "aws").Free; n != 2 {
		t.Errorf("%d free after the release, want 2", n)
	}

	// Releasing again (an ensure: that runs twice, say) is no error.
	r := test1.startPut(obj{"release": "aws-environments"}).wait()
	if r.code != 0 || !strings.Contains(r.stderr, "is free: nothing to release") {
		t.Errorf("a second release: exit %d\n%s", r.code, r.stderr)
	}

	// Claim a specific member: the free one of aws-1..3 that is not n2.
	free := ""
	for _, n := range []string{"aws-1", "aws-2", "aws-3"} {
		if n != n2 && member(t, c, "aws", n).Free() {
			free = n
			break
		}
	}
	claimer := newBuild(t, source, "special", 1, 401)
	cl := claimer.put("env", obj{"claim": free, "key": "special-tests", "locked_by": "special-job"})
	if cl.Version["name"] != free || cl.Version["key"] != "special-tests" || cl.Version["holders"] != `{"special-job":1}` || cl.Version["state"] != "held" || cl.Version["op"] != "" {
		t.Errorf("claim's version %v", cl.Version)
	}
	if m := member(t, c, "aws", free); m.Key != "special-tests" || m.LockedBy["special-job"] != 1 {
		t.Errorf("after claim, %s is %+v", free, m)
	}
	if got := claimer.file("env", "holders"); got != "special-job" {
		t.Errorf("claim's get: holders %q", got)
	}
	// Its release finds the key and the holder in the directory.
	claimer.put("release-env", obj{"release": "env"})
	if m := member(t, c, "aws", free); !m.Free() {
		t.Errorf("after releasing the claim, %s is %+v", free, m)
	}

	// Claiming a lock that is not a member fails, saying what the members are.
	r = claimer.putFails(obj{"claim": "aws-9"})
	if !strings.Contains(r.stderr, `cannot claim "aws-9": "aws-9" is not a member of pool "aws" (its members: aws-1, aws-2, aws-3)`) {
		t.Errorf("claim of a non-member:\n%s", r.stderr)
	}
	// So does removing one, in a sentence ("cannot remove "aws-9" is not
	// a member" was none).
	claimer.task("gone", map[string]string{"name": "aws-9\n"})
	r = claimer.putFails(obj{"remove": "gone"})
	if !strings.Contains(r.stderr, `cannot remove "aws-9": "aws-9" is not a member of pool "aws" (its members: aws-1, aws-2, aws-3)`) {
		t.Errorf("remove of a non-member:\n%s", r.stderr)
	}

	// Update: new metadata, at once, and the next get shows it.
	setup.task("aws-3-v2", map[string]string{"name": "aws-3", "metadata": "region: eu-west-1\n"})
	up := setup.put("update-aws-3", obj{"update": "aws-3-v2"})
	if up.Version["op"] != "update" || up.Version["name"] != "aws-3" {
		t.Errorf("update's version %v", up.Version)
	}
	if got := setup.file("update-aws-3", "metadata"); got != "region: eu-west-1\n" {
		t.Errorf("after update, metadata %q", got)
	}

	// Remove: a member held by another build is refused, clearly, and
	// stays; a free one goes.
	setup.task("rm-held", map[string]string{"name": n2, "metadata": ""})
	r = setup.putFails(obj{"remove": "rm-held"})
	if !strings.Contains(r.stderr, fmt.Sprintf("cannot remove %q from pool \"aws\": it is held by key %q", n2, deploy2.key())) {
		t.Errorf("removing a held member:\n%s", r.stderr)
	}
	if m := member(t, c, "aws", n2); m.Key != deploy2.key() {
		t.Errorf("after the refused remove, %s is %+v", n2, m)
	}
	// Which member is free here depends on the order acquire handed them
	// out (the one free longest first), so pick a free one.
	freeMember := ""
	for _, n := range []string{"aws-1", "aws-2", "aws-3"} {
		if m := member(t, c, "aws", n); m != nil && m.Key == "" {
			freeMember = n
			break
		}
	}
	if freeMember == "" {
		t.Fatalf("no free member left to remove: %+v", getPool(t, c, "aws"))
	}
	setup.task("rm-free", map[string]string{"name": freeMember, "metadata": ""})
	rm := setup.put("remove-free", obj{"remove": "rm-free"})
	if rm.Version["op"] != "remove" || rm.Version["name"] != freeMember {
		t.Errorf("remove's version %v", rm.Version)
	}
	if p := getPool(t, c, "aws"); p.Member(freeMember) != nil || p.Total != 2 {
		t.Errorf("after remove, the pool is %+v", p)
	}
	// pool-resource's get after a remove writes no metadata: the lock is gone.
	if _, err := os.Stat(filepath.Join(setup.dir, "remove-free", "metadata")); !os.IsNotExist(err) {
		t.Errorf("the get after remove wrote a metadata file (%v)", err)
	}
}

// TestPoolContention: when every member is held, acquire waits in the
// server's queue, and gets the member the moment it is released.
func TestPoolContention(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "solo")
	setup := newBuild(t, source, "setup", 1, 1)
	setup.task("m", map[string]string{"name": "only-env", "metadata": `{"n":1}`})
	setup.put("add", obj{"add": "m"})

	a := newBuild(t, source, "deploy", 1, 11)
	first := a.put("env", obj{"acquire": true})
	b := newBuild(t, source, "deploy", 2, 12)
	waiting := b.startPut(obj{"acquire": true})
	waiting.waitStderr(`acquiring a member of pool "solo"`)
	waitPoolWaiters(t, c, "solo", 1, waiting)
	if !strings.Contains(waiting.stderrSoFar(), fmt.Sprintf(`all 1 member(s) held ("only-env" by key %q)`, a.key())) {
		t.Errorf("the waiting put does not say who holds the members:\n%s", waiting.stderrSoFar())
	}
	stillRunning(t, waiting, "the only member is held")

	a.put("release", obj{"release": "env"})
	r := waiting.wait()
	if r.code != 0 {
		t.Fatalf("the waiting acquire failed (exit %d):\n%s", r.code, r.stderr)
	}
	second := decodeAnswer(t, r)
	if second.Version["name"] != "only-env" || second.Version["fence"] == first.Version["fence"] {
		t.Errorf("the second acquire: %v (the first %v)", second.Version, first.Version)
	}
	if m := member(t, c, "solo", "only-env"); m.Key != b.key() {
		t.Errorf("the member is %+v, want held by %q", m, b.key())
	}
	if p := getPool(t, c, "solo"); p.Waiters != 0 {
		t.Errorf("%d waiter(s) left", p.Waiters)
	}

	// An old directory cannot release the new acquisition, even with the
	// same key: its fence is the old one.
	b.task("stale", map[string]string{"name": "only-env\n", "key": b.key(), "fence": first.Version["fence"]})
	rr := b.putFails(obj{"release": "stale"})
	if !strings.Contains(rr.stderr, "has been released and taken again since stale was read (fence "+first.Version["fence"]) {
		t.Errorf("a stale release:\n%s", rr.stderr)
	}
	if m := member(t, c, "solo", "only-env"); m.Key != b.key() {
		t.Errorf("after the stale release, the member is %+v", m)
	}
	// And a get of the first acquisition's version fails, as
	// pool-resource's does for a lock no longer held.
	late := newBuild(t, source, "test", 1, 13)
	gr := startEnv(t, binary, request(source, nil, first.Version), late.env, "in", filepath.Join(late.dir, "env")).wait()
	if gr.code == 0 || !strings.Contains(gr.stderr, "is no longer held by the acquisition of this version") {
		t.Errorf("get of an acquisition that ended: exit %d\n%s", gr.code, gr.stderr)
	}

	// With source.timeout, acquire gives up and leaves the queue.
	timed := poolSource(s, "solo")
	timed["timeout"] = "1s"
	tb := &build{t: t, dir: t.TempDir(), source: timed, env: newBuild(t, timed, "x", 1, 14).env}
	tr := tb.putFails(obj{"acquire": true})
	if !strings.Contains(tr.stderr, `gave up waiting for a member of pool "solo" after 1s (source.timeout); the pool has all 1 member(s) held`) || strings.Contains(tr.stderr, "last error") {
		t.Errorf("timeout:\n%s", tr.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for getPool(t, c, "solo").Waiters != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the timed-out acquire stayed in the queue")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPoolAcquireWaitsForMembers: acquire on a pool without members waits
// (as pool-resource does) until one is added, and says so.
func TestPoolAcquireWaitsForMembers(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := poolSource(s, "later")
	b := newBuild(t, source, "deploy", 1, 1)
	p := b.startPut(obj{"acquire": true})
	p.waitStderr(`: the pool has no members`)
	p.waitStderr(`pool "later" has no members (the server has no pools yet); waiting for one to be added`)
	setup := newBuild(t, source, "setup", 1, 2)
	setup.task("m", map[string]string{"name": "late-env", "metadata": "x"})
	setup.put("add", obj{"add": "m"})
	r := p.wait()
	if r.code != 0 {
		t.Fatalf("acquire failed (exit %d):\n%s", r.code, r.stderr)
	}
	if a := decodeAnswer(t, r); a.Version["name"] != "late-env" {
		t.Errorf("version %v", a.Version)
	}
}

// TestPoolAddClaimedAndRemoveOwn: add_claimed adds a member held by the
// build from the start; the build can remove a member it holds (as
// pool-resource removes a claimed lock), from the directory of its put.
func TestPoolAddClaimedAndRemoveOwn(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "vsphere")
	b := newBuild(t, source, "create-env", 5, 55)
	b.task("new-env", map[string]string{"name": "f3cb3823\n", "metadata": "datacenter: dc1\n"})
	a := b.put("env", obj{"add_claimed": "new-env"})
	if a.Version["name"] != "f3cb3823" || a.Version["key"] != b.key() || a.Version["op"] != "" || a.meta("operation") != "add_claimed" {
		t.Errorf("add_claimed's answer %v %v", a.Version, a.Metadata)
	}
	m := member(t, c, "vsphere", "f3cb3823")
	if m.Key != b.key() || getPool(t, c, "vsphere").Free != 0 {
		t.Fatalf("after add_claimed: %+v", m)
	}
	if got := b.file("env", "metadata"); got != "datacenter: dc1\n" {
		t.Errorf("metadata %q", got)
	}
	// Another build cannot remove it with the directory of its own copy.
	other := newBuild(t, source, "other", 1, 56)
	other.task("env", map[string]string{"name": "f3cb3823", "key": "someone-else"})
	r := other.putFails(obj{"remove": "env"})
	if !strings.Contains(r.stderr, "cannot remove \"f3cb3823\" from pool \"vsphere\": it is held by key") {
		t.Errorf("remove by another key:\n%s", r.stderr)
	}
	// The build that holds it removes it: released and removed at once.
	rm := b.put("removed", obj{"remove": "env"})
	if rm.Version["op"] != "remove" {
		t.Errorf("remove's version %v", rm.Version)
	}
	if p := getPool(t, c, "vsphere"); p.Total != 0 {
		t.Errorf("after remove, the pool is %+v", p)
	}
	if l := get(t, c, "f3cb3823"); !l.Free() {
		t.Errorf("the removed member is still held: %+v", l)
	}
}

// TestPoolRemoveRetryKeepsAnotherHold: a remove of a member held by this
// build's directory, retried after a 503 while the member was released and
// taken by another build, does not force that build's hold away: the
// removal carries the directory's fence, which the server checks (a review
// found the retry forcing the new holder out).
func TestPoolRemoveRetryKeepsAnotherHold(t *testing.T) {
	f := newFlaky(http.MethodDelete, "503")
	f.prefix = "/pool/"
	s := startServer(t, serverOpts{wrap: f.wrap})
	c := s.client(t, "", "")
	source := poolSource(s, "vsphere")
	b := newBuild(t, source, "create-env", 5, 55)
	b.task("new-env", map[string]string{"name": "env-9", "metadata": "dc: 1\n"})
	b.put("env", obj{"add_claimed": "new-env"})
	f.afterDrop = func() {
		ctx := context.Background()
		if _, err := c.Unlock(ctx, "env-9", b.key(), ""); err != nil {
			t.Errorf("release meanwhile: %v", err)
		}
		if _, err := c.Lock(ctx, "env-9", client.LockOptions{Key: "other-build"}); err != nil {
			t.Errorf("the other build's lock: %v", err)
		}
	}
	r := b.putFails(obj{"remove": "env"})
	if !strings.Contains(r.stderr, "taken meanwhile") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if l := get(t, c, "env-9"); l.Key != "other-build" || !inPoolT(l, "vsphere") {
		t.Fatalf("the other build's member after the remove: %+v", l)
	}
}

func inPoolT(l *client.Lock, pool string) bool {
	for _, p := range l.Pools {
		if p == pool {
			return true
		}
	}
	return false
}

// TestPoolCheck: check follows the pool: a new version when a member is
// added, taken, released or given new metadata, the requested one while
// nothing changed; a get of such a version writes the pool as JSON.
func TestPoolCheck(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := poolSource(s, "checked")
	check := func(v map[string]string) []map[string]string {
		t.Helper()
		return decodeVersions(t, mustRun(t, request(source, nil, v), "check"))
	}
	// An empty pool (or a typo in source.pool) says so on stderr, with
	// the server's pools.
	other := newBuild(t, poolSource(s, "other"), "j", 9, 9)
	other.task("m", map[string]string{"name": "o1", "metadata": ""})
	other.put("add", obj{"add": "m"})
	r := mustRun(t, request(source, nil, nil), "check")
	if !strings.Contains(r.stderr, `pool "checked" has no members (the server's pools: other)`) {
		t.Errorf("check of an empty pool says:\n%s", r.stderr)
	}
	vs := decodeVersions(t, r)
	if len(vs) != 1 || vs[0]["total"] != "0" || vs[0]["digest"] == "" {
		t.Fatalf("check of an empty pool: %v", vs)
	}
	empty := vs[0]
	if vs := check(empty); len(vs) != 1 || !maps.Equal(vs[0], empty) {
		t.Fatalf("check with the current version: %v", vs)
	}
	// Other pools and locks changing make no new version.
	mustRun(t, request(src(s, "unrelated"), lockParams("k", ""), nil), "out", t.TempDir())
	if vs := check(empty); !maps.Equal(vs[0], empty) {
		t.Fatalf("after an unrelated lock changed: %v", vs)
	}

	b := newBuild(t, source, "j", 1, 1)
	b.task("m", map[string]string{"name": "e1", "metadata": "v1"})
	b.put("add", obj{"add": "m"})
	added := check(empty)[0]
	if maps.Equal(added, empty) || added["total"] != "1" || added["free"] != "1" {
		t.Fatalf("after add: %v", added)
	}
	if vs := check(added); len(vs) != 1 || !maps.Equal(vs[0], added) {
		t.Fatalf("unchanged: %v", vs)
	}
	b.put("env", obj{"acquire": true})
	held := check(added)[0]
	if maps.Equal(held, added) || held["free"] != "0" {
		t.Fatalf("after acquire: %v", held)
	}
	b.put("rel", obj{"release": "env"})
	released := check(held)[0]
	if maps.Equal(released, held) || maps.Equal(released, added) || released["free"] != "1" {
		t.Fatalf("after release: %v (before: %v, first free: %v)", released, held, added)
	}
	b.task("m2", map[string]string{"name": "e1", "metadata": "v2"})
	b.put("up", obj{"update": "m2"})
	updated := check(released)[0]
	if maps.Equal(updated, released) {
		t.Fatalf("after update: %v", updated)
	}
	// A put's version is not the pool's: check answers the current one.
	if vs := check(map[string]string{"name": "e1", "fence": "1"}); !maps.Equal(vs[0], updated) {
		t.Errorf("check from a put's version: %v", vs)
	}

	dir := filepath.Join(t.TempDir(), "pool-state")
	a := decodeAnswer(t, mustRun(t, request(source, nil, updated), "in", dir))
	if !maps.Equal(a.Version, updated) || a.meta("free") != "1" || a.meta("total") != "1" {
		t.Errorf("in of a pool version: %v %v", a.Version, a.Metadata)
	}
	var p client.Pool
	if err := json.Unmarshal([]byte(readFile(t, dir, "pool")), &p); err != nil || p.Member("e1") == nil || string(p.Member("e1").Metadata) != `"v2"` {
		t.Errorf("the pool file: %+v (%v)", p, err)
	}
}

// TestPoolBadParams: every bad source or params for a pool fails with a
// message that says what to fix, before a request reaches the server.
func TestPoolBadParams(t *testing.T) {
	s := startServer(t, serverOpts{})
	source := poolSource(s, "aws")
	outDir := t.TempDir()
	mk := func(name string, files map[string]string) {
		os.MkdirAll(filepath.Join(outDir, name), 0o755)
		for f, content := range files {
			os.WriteFile(filepath.Join(outDir, name, f), []byte(content), 0o644)
		}
	}
	mk("no-name", map[string]string{"metadata": "x"})
	mk("no-metadata", map[string]string{"name": "e"})
	mk("no-key", map[string]string{"name": "e", "metadata": "x"})
	mk("empty-name", map[string]string{"name": "\n", "metadata": "x"})
	mk("big", map[string]string{"name": "e", "metadata": strings.Repeat("x", 70<<10)})
	buildEnv := newBuild(t, source, "j", 1, 1).env
	with := func(k string, v any) obj {
		o := poolSource(s, "aws")
		o[k] = v
		return o
	}

	for _, tc := range []struct {
		name   string
		source obj
		params obj
		noEnv  bool
		want   []string
	}{
		{"lock_name and pool", with("lock_name", "l"), obj{"acquire": true}, false, []string{"source has both lock_name and pool: set only one of them"}},
		{"bosh_lock and pool", with("bosh_lock", "https://10.0.0.6:25555"), obj{"acquire": true}, false, []string{"source has both bosh_lock and pool"}},
		{"pool with a control character", with("pool", "a\tb"), obj{"acquire": true}, false, []string{"source.pool must not contain control characters"}},
		{"pool-resource's uri", obj{"uri": "git@github.com:concourse/locks.git", "branch": "master", "pool": "aws"}, obj{"acquire": true}, false, []string{"source.locker_uri is missing", "source.uri is pool-resource's git repository"}},
		{"no params", source, nil, false, []string{"params are missing: a put to a pool needs one of params.acquire: true, claim: <member>"}},
		{"no operation", source, obj{"key": "k"}, false, []string{"params has no operation: set one of params.acquire: true"}},
		{"acquire false", source, obj{"acquire": false}, false, []string{"params has no operation"}},
		{"two operations", source, obj{"acquire": true, "release": "no-key"}, false, []string{"params has several operations (acquire, release): a put does one"}},
		{"lock_op with a pool", source, obj{"lock_op": "lock", "key": "k"}, false, []string{"params.lock_op is for a single lock", "params has no operation"}},
		{"acquire outside a build without key", source, obj{"acquire": true}, true, []string{"params.key is missing, and there is no Concourse build to make one from (no BUILD_ID): set params.key to the key to acquire the member with"}},
		{"empty key", source, obj{"acquire": true, "key": ""}, false, []string{"params.key is empty"}},
		{"empty claim", source, obj{"claim": ""}, false, []string{"params.claim is empty: set it to the name of the member to take"}},
		{"claim with a control character", source, obj{"claim": "a\nb"}, false, []string{"params.claim must not contain control characters"}},
		{"release of a missing directory", source, obj{"release": "aws-environments"}, false, []string{`params.release is "aws-environments", but there is no such directory in the build (there are: big, empty-name, no-key, no-metadata, no-name)`}},
		{"release without a name file", source, obj{"release": "no-name"}, false, []string{"has no name file"}},
		{"release without a key file", source, obj{"release": "no-key"}, false, []string{"has no key file, so the key the member was taken with is unknown"}},
		{"add without a metadata file", source, obj{"add": "no-metadata"}, false, []string{"has no metadata file"}},
		{"add_claimed without a name file", source, obj{"add_claimed": "no-name"}, false, []string{"has no name file"}},
		{"update with an empty name", source, obj{"update": "empty-name"}, false, []string{"its name file is empty"}},
		{"remove of a missing directory", source, obj{"remove": "nope"}, false, []string{`params.remove is "nope", but there is no such directory`}},
		{"metadata too big", source, obj{"add": "big"}, false, []string{"the metadata file cannot be used", "the limit is 65536"}},
		{"release not a string", source, obj{"release": true}, false, []string{"params.release must be a string, not a boolean"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.requests.Load()
			env := buildEnv
			if tc.noEnv {
				env = nil
			}
			r := startEnv(t, binary, request(tc.source, tc.params, nil), env, "out", outDir).wait()
			if r.code == 0 {
				t.Fatalf("exit 0; stdout %s", r.stdout)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
			if n := s.requests.Load() - before; n != 0 {
				t.Errorf("%d request(s) reached the server", n)
			}
		})
	}
}

// TestPoolKeyFromParams: with params.key, the key is that, whatever the
// build; an unknown param is a warning.
func TestPoolKeyFromParams(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "p")
	b := newBuild(t, source, "j", 1, 1)
	b.task("m", map[string]string{"name": "e", "metadata": ""})
	b.put("add", obj{"add": "m"})
	r := b.startPut(obj{"acquire": true, "key": "fixed-key", "depth": 1}).wait()
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: ignoring unknown setting params.depth") {
		t.Errorf("no warning for an unknown param:\n%s", r.stderr)
	}
	if m := member(t, c, "p", "e"); m.Key != "fixed-key" {
		t.Errorf("member %+v", m)
	}
}

// TestPoolNumbersAreText: as with a single lock, a number where a name or
// key is expected (YAML's key: 42, pool: 7, claim: 2024) is taken as its
// text, as the original resources' jq -r did.
func TestPoolNumbersAreText(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "7")
	source["pool"] = 7
	b := newBuild(t, source, "j", 1, 1)
	b.task("m", map[string]string{"name": "2024", "metadata": ""})
	b.put("add", obj{"add": "m"})
	if r := b.startPut(obj{"claim": 2024, "key": 42}).wait(); r.code != 0 {
		t.Fatalf("claim with numbers: exit %d:\n%s", r.code, r.stderr)
	}
	if m := member(t, c, "7", "2024"); m.Key != "42" {
		t.Errorf("member %+v, want it held under key 42", m)
	}
}

// poolDropper sits in front of the real server and, once, lets a PUT to
// /pool/<pool> reach the server and then drops the connection: the member
// is granted, the answer lost.
func poolDropper(pool string) (wrap func(http.Handler) http.Handler, dropped *atomic.Int32) {
	dropped = new(atomic.Int32)
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && r.URL.Path == "/pool/"+pool && dropped.Add(1) == 1 {
				h.ServeHTTP(httptest.NewRecorder(), r)
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			h.ServeHTTP(w, r)
		})
	}, dropped
}

// TestPoolAcquireLostAnswer: when the connection breaks after the server
// gave a member, the resource reads the pool back and finds it: it does
// not take a second member.
func TestPoolAcquireLostAnswer(t *testing.T) {
	wrap, dropped := poolDropper("lossy")
	s := startServer(t, serverOpts{wrap: wrap})
	c := s.client(t, "", "")
	source := poolSource(s, "lossy")
	b := newBuild(t, source, "deploy", 1, 1)
	for _, n := range []string{"e1", "e2"} {
		b.task("new-"+n, map[string]string{"name": n, "metadata": ""})
		b.put("add-"+n, obj{"add": "new-" + n})
	}
	r := b.startPut(obj{"acquire": true}).wait()
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if dropped.Load() < 1 || !strings.Contains(r.stderr, "the answer was lost on the way") {
		t.Errorf("the lost answer is not noticed (%d PUTs):\n%s", dropped.Load(), r.stderr)
	}
	p := getPool(t, c, "lossy")
	if p.Free != 1 {
		t.Fatalf("%d of 2 members free: the resource took a second member", p.Free)
	}
	a := decodeAnswer(t, r)
	if m := p.Member(a.Version["name"]); m == nil || m.Key != b.key() || fmt.Sprint(m.Fence) != a.Version["fence"] {
		t.Errorf("version %v; the pool %+v", a.Version, p)
	}
}

// TestPoolOnServerWithoutPools: against the original locker server (no
// pools), every pool operation fails saying so.
func TestPoolOnServerWithoutPools(t *testing.T) {
	srv := httptest.NewServer(&legacy{locks: map[string]*legacyLock{}, puts: map[string]int{}})
	defer srv.Close()
	source := obj{"locker_uri": srv.URL, "pool": "aws", "retry_delay": "100ms"}
	b := newBuild(t, source, "j", 1, 1)
	r := b.putFails(obj{"acquire": true})
	if !strings.Contains(r.stderr, "does not support pools") {
		t.Errorf("acquire:\n%s", r.stderr)
	}
	r = run(t, request(source, nil, nil), "check")
	if r.code == 0 || !strings.Contains(r.stderr, "does not support pools") {
		t.Errorf("check: exit %d\n%s", r.code, r.stderr)
	}
	b.task("m", map[string]string{"name": "e", "metadata": ""})
	r = b.putFails(obj{"add": "m"})
	if !strings.Contains(r.stderr, "does not support pools") {
		t.Errorf("add:\n%s", r.stderr)
	}
}

// TestPoolRemoveOwnNeedsForce: removing a member this build holds is a
// forced removal; when the server has an admin user and the resource is
// not it, the put fails saying what to do, and the member stays as it was.
func TestPoolRemoveOwnNeedsForce(t *testing.T) {
	s := startServer(t, serverOpts{auth: httpapi.Credentials{User: "ci", Pass: "ci-pass"}, admin: httpapi.Credentials{User: "admin", Pass: "admin-pass"}})
	c := s.client(t, "admin", "admin-pass")
	source := poolSource(s, "p")
	source["username"], source["password"] = "ci", "ci-pass"
	b := newBuild(t, source, "j", 1, 1)
	b.task("m", map[string]string{"name": "e", "metadata": ""})
	b.put("add", obj{"add": "m"})
	b.put("env", obj{"acquire": true})
	r := b.putFails(obj{"remove": "env"})
	if !strings.Contains(r.stderr, `cannot remove "e" from pool "p" while it is held: removing a held member releases it by force, which this server allows only to its admin user`) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if m := member(t, c, "p", "e"); m.Key != b.key() {
		t.Errorf("after the refused remove: %+v", m)
	}
	// Release, then remove: fine.
	b.put("rel", obj{"release": "env"})
	b.put("rm", obj{"remove": "env"})
	if p := getPool(t, c, "p"); p.Total != 0 {
		t.Errorf("after release and remove: %+v", p)
	}
}

// TestPoolReleaseImported: a lock that `locker import-pool-repo` imported
// as claimed (held with the key imported-from-pool-repo) is released by a
// job from a directory pool-resource wrote before the switch (name and
// metadata, no key file), with params.key.
func TestPoolReleaseImported(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	ctx := context.Background()
	if _, err := c.AddMember(ctx, "aws", "env-2", json.RawMessage(`"some: yaml\n"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, "env-2", client.LockOptions{Key: "imported-from-pool-repo", Holder: "imported-from-pool-repo"}); err != nil {
		t.Fatal(err)
	}
	b := newBuild(t, poolSource(s, "aws"), "test", 1, 1)
	b.task("aws-environments", map[string]string{"name": "env-2\n", "metadata": "some: yaml\n"})
	r := b.putFails(obj{"release": "aws-environments"})
	if !strings.Contains(r.stderr, "has no key file") || !strings.Contains(r.stderr, "or set params.key") {
		t.Errorf("release without a key:\n%s", r.stderr)
	}
	b.put("rel", obj{"release": "aws-environments", "key": "imported-from-pool-repo"})
	if m := member(t, c, "aws", "env-2"); !m.Free() {
		t.Errorf("after the release: %+v", m)
	}
}

// TestPoolDirectoriesOfReleasesHoldNothing: the implicit get after a
// release (or an add) writes a directory that holds nothing, so a second
// release from it (an ensure: after the release) or a remove from it
// leaves alone the build that took the member meanwhile; and a directory
// of an acquisition that has ended cannot release the next holder's,
// whatever its key.
func TestPoolDirectoriesOfReleasesHoldNothing(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "solo")
	setup := newBuild(t, source, "setup", 1, 1)
	setup.task("m", map[string]string{"name": "only-env", "metadata": `{"n":1}`})
	setup.put("m", obj{"add": "m"})

	a := newBuild(t, source, "deploy", 1, 11)
	first := a.put("env", obj{"acquire": true})
	b := newBuild(t, source, "deploy", 2, 12)
	waiting := b.startPut(obj{"acquire": true})
	waitPoolWaiters(t, c, "solo", 1, waiting)
	a.put("env", obj{"release": "env"}) // the put is named as the get was
	if r := waiting.wait(); r.code != 0 {
		t.Fatalf("the waiting acquire failed (exit %d):\n%s", r.code, r.stderr)
	}
	if m := member(t, c, "solo", "only-env"); m.Key != b.key() {
		t.Fatalf("the member is %+v, want held by %q", m, b.key())
	}
	for _, f := range []string{"key", "holders", "holder", "fence"} {
		if got := a.file("env", f); got != "" {
			t.Errorf("after the release, env/%s is %q, want empty", f, got)
		}
	}
	// The ensure: releases again from the release's directory.
	again := a.put("env", obj{"release": "env"})
	if m := member(t, c, "solo", "only-env"); m.Key != b.key() || m.Fence == 0 || fmt.Sprint(m.Fence) == first.Version["fence"] {
		t.Fatalf("a second release from the release's directory took the next build's member: %+v", m)
	}
	if !strings.Contains(again.Version["op"], "release") {
		t.Errorf("the second release's version: %v", again.Version)
	}
	// The add's directory holds nothing either: remove from it is refused
	// while another build holds the member.
	rr := setup.putFails(obj{"remove": "m"})
	if !strings.Contains(rr.stderr, "cannot remove") {
		t.Errorf("remove from the add's directory:\n%s", rr.stderr)
	}
	// The first acquisition's directory, from another build's get (with
	// that build's key): refused, since the member was taken again.
	other := newBuild(t, source, "test", 1, 13)
	other.task("old", map[string]string{"name": "only-env\n", "key": a.key(), "fence": first.Version["fence"]})
	rr = other.putFails(obj{"release": "old"})
	if !strings.Contains(rr.stderr, "has been released and taken again since old was read (fence "+first.Version["fence"]) {
		t.Errorf("a stale release with the old key:\n%s", rr.stderr)
	}
	if m := member(t, c, "solo", "only-env"); m.Key != b.key() {
		t.Fatalf("the member is %+v, want still held by %q", m, b.key())
	}
}

// TestPoolReleaseAfterUpdate: an update of the member the build took,
// put under the acquisition's name, leaves a directory that still shows
// the build's hold, so the release from it gives the member back (a
// review found the member left held for good); another build's update of
// it shows no hold, and releases nothing of the holder's.
func TestPoolReleaseAfterUpdate(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "envs")
	setup := newBuild(t, source, "setup", 1, 1)
	setup.task("m", map[string]string{"name": "e1", "metadata": `{"n":1}`})
	setup.put("m", obj{"add": "m"})

	a := newBuild(t, source, "deploy", 42, 1234)
	a.put("envs", obj{"acquire": true})
	a.task("out", map[string]string{"name": "e1\n", "metadata": `{"n":2}`})
	a.put("envs", obj{"update": "out"})
	if got := a.file("envs", "key"); got != a.key() {
		t.Fatalf("after the build's update of its member, envs/key is %q, want %q", got, a.key())
	}
	// Another build updates it meanwhile: its directory holds nothing.
	b := newBuild(t, source, "tweak", 1, 2000)
	b.task("out", map[string]string{"name": "e1\n", "metadata": `{"n":3}`})
	b.put("envs", obj{"update": "out"})
	if got := b.file("envs", "key"); got != "" {
		t.Fatalf("after another build's update, its envs/key is %q, want empty", got)
	}
	b.put("envs", obj{"release": "envs"})
	if m := member(t, c, "envs", "e1"); m.Key != a.key() {
		t.Fatalf("the other build's release took the member: %+v", m)
	}
	a.put("envs", obj{"release": "envs"})
	if m := member(t, c, "envs", "e1"); !m.Free() {
		t.Fatalf("the release after the update left the member %+v, want free", m)
	}
}

// TestPoolAbortAsGranted: a step stopped (the build aborted, or its
// source.timeout out) while the member the server just gave it is on its
// way back gives the member back; a step of the same build that acquired
// at once (same key) keeps its own.
func TestPoolAbortAsGranted(t *testing.T) {
	t.Parallel()
	granted := make(chan struct{}, 4)
	stalling := atomic.Bool{}
	stalling.Store(true)
	s := startServer(t, serverOpts{wrap: grantWithoutAnswer("/pool/slow", granted, &stalling)})
	c := s.client(t, "", "")
	source := poolSource(s, "slow")
	b := newBuild(t, source, "deploy", 1, 1)
	b.task("m", map[string]string{"name": "e1", "metadata": ""})
	b.put("m", obj{"add": "m"})

	p := b.startPut(obj{"acquire": true})
	<-granted
	p.cmd.Process.Signal(syscall.SIGTERM) // the build is aborted
	if r := p.wait(); r.code == 0 {
		t.Fatalf("the aborted acquire succeeded:\n%s", r.stderr)
	}
	if m := member(t, c, "slow", "e1"); !m.Free() {
		t.Fatalf("after the abort the member is %+v, want given back", m)
	}

	timed := poolSource(s, "slow")
	timed["timeout"] = "1s"
	tb := newBuild(t, timed, "deploy", 2, 2)
	if r := tb.startPut(obj{"acquire": true}).wait(); r.code == 0 {
		t.Fatalf("the timed-out acquire succeeded:\n%s", r.stderr)
	}
	if m := member(t, c, "slow", "e1"); !m.Free() {
		t.Fatalf("after the timeout the member is %+v, want given back", m)
	}

	// Two steps of one build acquire at once: the first gets the member,
	// the second's wait runs out; the first keeps it.
	stalling.Store(false)
	pb := newBuild(t, timed, "deploy", 3, 3)
	first := pb.put("first", obj{"acquire": true})
	if r := pb.startPut(obj{"acquire": true}).wait(); r.code == 0 {
		t.Fatalf("the second step got a member too:\n%s", r.stderr)
	}
	if m := member(t, c, "slow", "e1"); m.Key != pb.key() || fmt.Sprint(m.Fence) != first.Version["fence"] {
		t.Fatalf("after the second step timed out the member is %+v, want still the first step's", m)
	}
}

// TestPoolStepHolderEdges: an acquire's holder of its own (the key and a
// random part) must not break a release with params.key from a directory
// without a holders file (pool-resource's), nor an acquire whose key is
// near the length limit (found by a review of that holder).
func TestPoolStepHolderEdges(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.client(t, "", "")
	source := poolSource(s, "edge")
	b := newBuild(t, source, "deploy", 8, 1008)
	b.task("m", map[string]string{"name": "m1", "metadata": ""})
	b.put("m", obj{"add": "m"})

	b.put("got", obj{"acquire": true, "key": "envkey"})
	b.task("pr", map[string]string{"name": "m1\n"}) // no key, no holders file
	b.put("rel", obj{"release": "pr", "key": "envkey"})
	if m := member(t, c, "edge", "m1"); !m.Free() {
		t.Fatalf("a release with params.key from a directory without a holders file left %+v", m)
	}

	long := strings.Repeat("k", 508)
	b.put("got", obj{"acquire": true, "key": long})
	m := member(t, c, "edge", "m1")
	if m.Key != long || len(m.Holders()) != 1 || len(m.Holders()[0]) > 512 {
		t.Fatalf("an acquire with a 508-byte key: %+v", m)
	}
	b.put("rel", obj{"release": "got"})
	if m := member(t, c, "edge", "m1"); !m.Free() {
		t.Fatalf("the release left %+v", m)
	}
}

// TestPoolGetAfterAcquireWithTheServerAway: the get that Concourse runs
// after an acquire, when the server cannot be read, writes the member as
// the put's version has it (with a warning), as the single lock's get does
// (TestGetAfterPutWithTheServerAway), instead of failing the put with the
// member just taken held and no step left to release it: a release from
// that directory gives the member back once the server answers again. A
// get of a version that holds nothing (a release's) still fails.
func TestPoolGetAfterAcquireWithTheServerAway(t *testing.T) {
	f := newFlaky(http.MethodGet)
	s := startServer(t, serverOpts{wrap: f.wrap})
	c := s.client(t, "", "")
	source := poolSource(s, "away")
	b := newBuild(t, source, "deploy", 1, 1)
	b.task("new-e1", map[string]string{"name": "e1", "metadata": `{"host":"e1.example.com"}`})
	b.put("add-e1", obj{"add": "new-e1"})

	r := b.startPut(obj{"acquire": true}).wait()
	if r.code != 0 {
		t.Fatalf("acquire: exit %d\n%s", r.code, r.stderr)
	}
	a := decodeAnswer(t, r)
	m := member(t, c, "away", "e1")
	if m.Key != b.key() || len(m.LockedBy) != 1 {
		t.Fatalf("after the acquire, e1 is %+v", m)
	}
	holder := m.Holders()[0]

	f.always = "503" // the server goes away before the put's get
	dir := filepath.Join(b.dir, "env")
	g := startEnv(t, binary, request(source, nil, a.Version), b.env, "in", dir).wait()
	if g.code != 0 {
		t.Fatalf("the get after the acquire, with the server away, failed (exit %d): the put fails with e1 held:\n%s", g.code, g.stderr)
	}
	if !strings.Contains(g.stderr, "as this version has it") {
		t.Errorf("no warning:\n%s", g.stderr)
	}
	if got := decodeAnswer(t, g); !maps.Equal(got.Version, a.Version) {
		t.Errorf("in answered %v, want %v", got.Version, a.Version)
	}
	for file, want := range map[string]string{"name": "e1\n", "key": b.key(), "holders": holder, "holder": holder, "fence": fmt.Sprint(m.Fence), "locked": "true"} {
		if got := readFile(t, dir, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	// The server is back: the ensure: releases from that directory.
	f.always = ""
	b.put("release-env", obj{"release": "env"})
	if m := member(t, c, "away", "e1"); !m.Free() {
		t.Fatalf("after the release from the get's directory, e1 is %+v", m)
	}

	// A release's version holds nothing: with the server away, its get
	// still fails rather than make something up.
	rel := decodeAnswer(t, b.startPut(obj{"release": "env"}).wait())
	f.always = "503"
	if g := startEnv(t, binary, request(source, nil, rel.Version), b.env, "in", t.TempDir()).wait(); g.code == 0 {
		t.Errorf("a get of a release's version with the server away succeeded:\n%s", g.stderr)
	}
}
