package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Concourse resource with source.pool — pool-resource's workflow — run
// as Concourse runs it, against the real locker binary: each build has a
// directory with one subdirectory per step; a put runs `out <build dir>`,
// then the implicit get `in <build dir>/<step>`; Concourse sets BUILD_*
// variables for both.

// poolBuild is one build of a job.
type poolBuild struct {
	t      *testing.T
	dir    string
	env    []string
	source string
}

func newPoolBuild(t *testing.T, source, job string, number, id int) *poolBuild {
	return &poolBuild{t: t, dir: t.TempDir(), source: source, env: []string{
		fmt.Sprintf("BUILD_ID=%d", id), fmt.Sprintf("BUILD_NAME=%d", number), "BUILD_JOB_NAME=" + job,
		"BUILD_PIPELINE_NAME=envs", "BUILD_TEAM_NAME=main",
	}}
}

// key is the key the resource makes from the build's variables.
func (b *poolBuild) key() string {
	v := map[string]string{}
	for _, kv := range b.env {
		k, val, _ := strings.Cut(kv, "=")
		v[k] = val
	}
	return fmt.Sprintf("main/envs/%s/%s (build %s)", v["BUILD_JOB_NAME"], v["BUILD_NAME"], v["BUILD_ID"])
}

// start runs `locker-resource <args>` with stdin and the build's
// variables.
func (b *poolBuild) start(stdin string, args ...string) *resourceRun {
	b.t.Helper()
	r := &resourceRun{t: b.t, done: make(chan struct{})}
	r.cmd = exec.Command(buildResource(b.t), args...)
	r.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0"}, b.env...)
	r.cmd.Stdin = strings.NewReader(stdin)
	r.cmd.Stdout = syncWriter{&r.mu, &r.stdout}
	r.cmd.Stderr = syncWriter{&r.mu, &r.stderr}
	if err := r.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
		close(r.done)
	}()
	b.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (b *poolBuild) startPut(params string) *resourceRun {
	b.t.Helper()
	return b.start(`{"source":`+b.source+`,"params":`+params+`}`, "out", b.dir)
}

// put runs a put step: out, then the implicit get into <build dir>/<step>.
func (b *poolBuild) put(step, params string) resourceAnswer {
	b.t.Helper()
	o, e, code := b.startPut(params).wait()
	if code != 0 {
		b.t.Fatalf("put %s %s failed (exit %d):\n%s", step, params, code, e)
	}
	a := decodeResourceAnswer(b.t, o)
	b.get(step, a.Version)
	return a
}

// get runs a get step with a version.
func (b *poolBuild) get(step string, version map[string]string) {
	b.t.Helper()
	_, e, code := b.start(`{"source":`+b.source+`,"version":`+mustMarshal(version)+`}`, "in", filepath.Join(b.dir, step)).wait()
	if code != 0 {
		b.t.Fatalf("get %s %v failed (exit %d):\n%s", step, version, code, e)
	}
}

func (b *poolBuild) file(step, name string) string {
	b.t.Helper()
	c, err := os.ReadFile(filepath.Join(b.dir, step, name))
	if err != nil {
		b.t.Fatal(err)
	}
	return string(c)
}

// task writes a task's output directory.
func (b *poolBuild) task(output string, files map[string]string) {
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

// e2ePool is GET /pool/<pool> from the server.
type e2ePool struct {
	Members map[string]struct {
		Key      string          `json:"key"`
		LockedBy map[string]int  `json:"locked_by"`
		Fence    int             `json:"fence"`
		Metadata json.RawMessage `json:"metadata"`
	} `json:"members"`
	Free    int `json:"free"`
	Total   int `json:"total"`
	Waiters int `json:"waiters"`
}

func readPool(t *testing.T, s *server, pool string) e2ePool {
	t.Helper()
	var p e2ePool
	req, err := http.NewRequest("GET", s.URL+"/pool/"+pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("ci", "pools-pass")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 404 {
		return p
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /pool/%s: %d %s", pool, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestResourcePoolFlow: pool-resource's workflow with the Locker resource
// against the real server (with basic auth): add members; two acquires get
// two different members; a third waits in the server's queue until the
// test job releases one with the directory of its get; claim; update;
// remove.
func TestResourcePoolFlow(t *testing.T) {
	t.Parallel() // mostly waiting: beside the others (CI time)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=pools-pass"})
	source := mustMarshal(map[string]string{"locker_uri": s.URL, "username": "ci", "password": "pools-pass", "pool": "aws", "retry_delay": "200ms"})

	setup := newPoolBuild(t, source, "create-envs", 1, 10)
	setup.task("env-1", map[string]string{"name": "aws-1\n", "metadata": "host: aws-1.example.com\n"})
	setup.task("env-2", map[string]string{"name": "aws-2\n", "metadata": `{"host":"aws-2.example.com"}`})
	setup.put("add-1", `{"add":"env-1"}`)
	setup.put("add-2", `{"add":"env-2"}`)
	if p := readPool(t, s, "aws"); p.Total != 2 || p.Free != 2 {
		t.Fatalf("after two adds: %+v", p)
	}

	d1 := newPoolBuild(t, source, "deploy", 1, 21)
	d2 := newPoolBuild(t, source, "deploy", 2, 22)
	a1 := d1.put("aws-environments", `{"acquire":true}`)
	a2 := d2.put("aws-environments", `{"acquire":true}`)
	if a1.Version["name"] == a2.Version["name"] || a1.Version["name"] == "" || a2.Version["name"] == "" {
		t.Fatalf("two acquires: %v and %v", a1.Version, a2.Version)
	}
	// The gets wrote pool-resource's files.
	for _, c := range []struct {
		b *poolBuild
		v map[string]string
	}{{d1, a1.Version}, {d2, a2.Version}} {
		name := c.v["name"]
		if got := c.b.file("aws-environments", "name"); got != name+"\n" {
			t.Errorf("name file %q", got)
		}
		want := map[string]string{"aws-1": "host: aws-1.example.com\n", "aws-2": `{"host":"aws-2.example.com"}`}[name]
		if got := c.b.file("aws-environments", "metadata"); got != want {
			t.Errorf("%s's metadata file %q, want %q", name, got, want)
		}
		if got := c.b.file("aws-environments", "key"); got != c.b.key() {
			t.Errorf("%s's key file %q, want %q", name, got, c.b.key())
		}
		if got := readPool(t, s, "aws").Members[name]; got.Key != c.b.key() || fmt.Sprint(got.Fence) != c.v["fence"] {
			t.Errorf("%s on the server: %+v", name, got)
		}
	}

	// A third build waits: both members are held.
	d3 := newPoolBuild(t, source, "deploy", 3, 23)
	waiting := d3.startPut(`{"acquire":true}`)
	waiting.waitFor(`acquiring a member of pool "aws"`)
	deadline := time.Now().Add(30 * time.Second)
	for readPool(t, s, "aws").Waiters != 1 {
		if time.Now().After(deadline) || !waiting.running() {
			_, e := waiting.output()
			t.Fatalf("the third acquire does not wait in the server's queue:\n%s", e)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stillWaiting(t, waiting, "both members are held")

	// The test job gets d1's version (passed: [deploy]) and releases it.
	test := newPoolBuild(t, source, "test", 1, 31)
	test.get("aws-environments", a1.Version)
	test.put("release", `{"release":"aws-environments"}`)
	o, e, code := waiting.wait()
	if code != 0 {
		t.Fatalf("the third acquire failed (exit %d):\n%s", code, e)
	}
	a3 := decodeResourceAnswer(t, o)
	if a3.Version["name"] != a1.Version["name"] {
		t.Errorf("the third acquire got %v; the released member was %s", a3.Version, a1.Version["name"])
	}
	if m := readPool(t, s, "aws").Members[a1.Version["name"]]; m.Key != d3.key() {
		t.Errorf("the released member is now %+v, want held by %q", m, d3.key())
	}

	// d2 releases, a job claims that member by name, then releases it.
	d2.put("release", `{"release":"aws-environments"}`)
	claimer := newPoolBuild(t, source, "special", 1, 41)
	cl := claimer.put("env", `{"claim":"`+a2.Version["name"]+`"}`)
	if cl.Version["name"] != a2.Version["name"] || readPool(t, s, "aws").Members[a2.Version["name"]].Key != claimer.key() {
		t.Errorf("claim: %v", cl.Version)
	}
	claimer.put("release", `{"release":"env"}`)

	// Update the free member's metadata; the next get shows it.
	free := a2.Version["name"]
	setup.task("new-metadata", map[string]string{"name": free, "metadata": "host: replaced.example.com\n"})
	setup.put("update", `{"update":"new-metadata"}`)
	if got := setup.file("update", "metadata"); got != "host: replaced.example.com\n" {
		t.Errorf("after update: %q", got)
	}

	// Remove: the held member is refused with a clear message; the free
	// one goes.
	setup.task("held", map[string]string{"name": a1.Version["name"]})
	_, e, code = setup.startPut(`{"remove":"held"}`).wait()
	if code == 0 || !strings.Contains(e, fmt.Sprintf("cannot remove %q from pool \"aws\": it is held by key %q", a1.Version["name"], d3.key())) {
		t.Errorf("remove of a held member: exit %d\n%s", code, e)
	}
	setup.put("remove", `{"remove":"new-metadata"}`)
	p := readPool(t, s, "aws")
	if _, ok := p.Members[free]; ok || p.Total != 1 {
		t.Errorf("after remove: %+v", p)
	}

	// check follows the pool.
	o, e, code = setup.start(`{"source":`+source+`}`, "check").wait()
	var vs []map[string]string
	if code != 0 || json.Unmarshal([]byte(o), &vs) != nil || len(vs) != 1 || vs[0]["total"] != "1" || vs[0]["free"] != "0" {
		t.Errorf("check: exit %d %s\n%s", code, o, e)
	}
	if strings.Contains(o+e, "pools-pass") {
		t.Errorf("the password shows in the output")
	}
}
