package e2e

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Concourse resource (cmd/locker-resource) run as Concourse runs it —
// a process with the request as JSON on stdin — against the real server
// binary.

var (
	resourceOnce   sync.Once
	resourceBinary string
	resourceErr    error
)

// buildResource builds cmd/locker-resource once, next to the locker binary
// (in the directory TestMain removes at the end).
func buildResource(t *testing.T) string {
	t.Helper()
	resourceOnce.Do(func() {
		resourceBinary = filepath.Join(filepath.Dir(binary), "locker-resource")
		args := []string{"build", "-o", resourceBinary}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../cmd/locker-resource")...).CombinedOutput()
		if err != nil {
			resourceErr = err
			t.Logf("building locker-resource: %s", out)
		}
	})
	if resourceErr != nil {
		t.Fatalf("building locker-resource: %v", resourceErr)
	}
	return resourceBinary
}

// resourceRun is one run of the resource.
type resourceRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startResource starts `locker-resource <command> [dir]` with stdin.
func startResource(t *testing.T, stdin string, args ...string) *resourceRun {
	t.Helper()
	r := &resourceRun{t: t, done: make(chan struct{})}
	r.cmd = exec.Command(buildResource(t), args...)
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0"}
	r.cmd.Stdin = strings.NewReader(stdin)
	r.cmd.Stdout = syncWriter{&r.mu, &r.stdout}
	r.cmd.Stderr = syncWriter{&r.mu, &r.stderr}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
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
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (r *resourceRun) output() (stdout, stderr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stdout.String(), r.stderr.String()
}

// wait waits for the end and returns stdout, stderr and the exit code.
func (r *resourceRun) wait() (string, string, int) {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(2 * time.Minute):
		r.cmd.Process.Kill()
		<-r.done
		_, e := r.output()
		r.t.Fatalf("%v did not finish within 2 minutes:\n%s", r.cmd.Args, e)
	}
	o, e := r.output()
	return o, e, r.code
}

func (r *resourceRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// waitFor waits until the run has printed want on stderr.
func (r *resourceRun) waitFor(want string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, e := r.output(); strings.Contains(e, want) {
			return
		}
		if !r.running() {
			o, e, code := r.wait()
			r.t.Fatalf("%v ended (exit %d) without printing %q:\n%s\n%s", r.cmd.Args, code, want, e, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, e := r.output()
	r.t.Fatalf("%v did not print %q within 30s:\n%s", r.cmd.Args, want, e)
}

// put runs out with the source and params as JSON, like a put step, and
// returns its answer; it fails the test if out fails.
func put(t *testing.T, source, params string) resourceAnswer {
	t.Helper()
	o, e, code := startResource(t, `{"source":`+source+`,"params":`+params+`}`, "out", t.TempDir()).wait()
	if code != 0 {
		t.Fatalf("put %s failed (exit %d):\n%s", params, code, e)
	}
	return decodeResourceAnswer(t, o)
}

type resourceAnswer struct {
	Version  map[string]string `json:"version"`
	Metadata []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"metadata"`
}

func decodeResourceAnswer(t *testing.T, stdout string) resourceAnswer {
	t.Helper()
	var a resourceAnswer
	if err := json.Unmarshal([]byte(stdout), &a); err != nil || a.Version == nil {
		t.Fatalf("not a version and metadata (%v): %s", err, stdout)
	}
	return a
}

// stillWaiting fails the test if r ended within a moment.
func stillWaiting(t *testing.T, r *resourceRun, why string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	if !r.running() {
		_, e, code := r.wait()
		t.Fatalf("%s, but it ended (exit %d):\n%s", why, code, e)
	}
}

func resourceLockState(t *testing.T, url, name string) lockView {
	t.Helper()
	return getLocksAuth(t, url, "test", "test")[name]
}

type lockView struct {
	Key      string         `json:"key"`
	LockedBy map[string]int `json:"locked_by"`
	Fence    int            `json:"fence"`
}

func getLocksAuth(t *testing.T, url, user, pass string) map[string]lockView {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/locks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]lockView
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The original locker-resource README's two examples, with their source
// and params exactly as written there (docs/concourse.md has them as
// pipelines; TestResourceREADMEExamplesInDocs checks they agree), fed to the
// binary in the order their jobs would run — against a server with the
// README's credentials.

// readmeSource is the examples' source, with the test server's URL.
func readmeSource(url string) string {
	return `{"locker_uri":"` + url + `","username":"test","password":"test","lock_name":"myLock"}`
}

// The examples' params. exclusive-job-2's unlock in the original README
// says key exclusive-job-1 (a slip: docs/concourse.md fixes it).
const (
	exJob1Lock      = `{"key":"exclusive-job-1","lock_op":"lock"}`
	exJob1Unlock    = `{"key":"exclusive-job-1","lock_op":"unlock"}`
	exJob2Lock      = `{"key":"exclusive-job-2","lock_op":"lock"}`
	exJob2Unlock    = `{"key":"exclusive-job-2","lock_op":"unlock"}`
	coex1Lock       = `{"key":"can-coexist","locked_by":"coexisting-1","lock_op":"lock"}`
	coex1Unlock     = `{"key":"can-coexist","locked_by":"coexisting-1","lock_op":"unlock"}`
	coex2Lock       = `{"key":"can-coexist","locked_by":"coexisting-2","lock_op":"lock"}`
	coex2Unlock     = `{"key":"can-coexist","locked_by":"coexisting-2","lock_op":"unlock"}`
	exclusiveLock   = `{"key":"cannot-coexist","locked_by":"exclusive-job","lock_op":"lock"}`
	exclusiveUnlock = `{"key":"cannot-coexist","locked_by":"exclusive-job","lock_op":"unlock"}`
)

// TestResourceREADMEExamplesInDocs: the pipelines in docs/concourse.md's
// section on the original README's examples have the source and params the
// tests below run.
func TestResourceREADMEExamplesInDocs(t *testing.T) {
	b, err := os.ReadFile("../docs/concourse.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## The original README's examples")
	if start < 0 {
		t.Fatal("no section on the original README's examples in docs/concourse.md")
	}
	end := strings.Index(doc[start+3:], "\n## ")
	section := doc[start : start+3+end]
	blocks := strings.Split(section, "```yaml")[1:]
	want := [][]string{
		{exJob1Lock, exJob1Unlock, exJob2Lock, exJob2Unlock},
		{coex1Lock, coex1Unlock, coex2Lock, coex2Unlock, exclusiveLock, exclusiveUnlock},
	}
	if len(blocks) != len(want) {
		t.Fatalf("%d pipelines in the section, want %d", len(blocks), len(want))
	}
	field := regexp.MustCompile(`^\s+(locker_uri|username|password|lock_name|key|locked_by|lock_op): (\S+)$`)
	for i, block := range blocks {
		block = block[:strings.Index(block, "```")]
		var params []map[string]string
		source := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			if strings.TrimSpace(line) == "params:" {
				params = append(params, map[string]string{})
				continue
			}
			m := field.FindStringSubmatch(line)
			switch {
			case m == nil:
			case m[1] == "key" || m[1] == "locked_by" || m[1] == "lock_op":
				params[len(params)-1][m[1]] = m[2]
			default:
				source[m[1]] = m[2]
			}
		}
		var src map[string]string
		json.Unmarshal([]byte(readmeSource("http://10.10.10.10:8910")), &src)
		if !maps.Equal(source, src) {
			t.Errorf("pipeline %d: source %v, the tests use %v", i+1, source, src)
		}
		var got, exp []string
		for _, p := range params {
			got = append(got, mustMarshal(p))
		}
		for _, p := range want[i] {
			var m map[string]string
			json.Unmarshal([]byte(p), &m)
			exp = append(exp, mustMarshal(m))
		}
		if strings.Join(got, "\n") != strings.Join(exp, "\n") {
			t.Errorf("pipeline %d: params\n%s\nthe tests use\n%s", i+1, strings.Join(got, "\n"), strings.Join(exp, "\n"))
		}
	}
}

func TestResourceREADMEExclusiveLocking(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, []string{"AUTH_USER=test", "AUTH_PASS=test"})
	source := readmeSource(s.URL)

	// exclusive-job-1 takes the lock.
	a := put(t, source, exJob1Lock)
	if a.Version["key"] != "exclusive-job-1" || resourceLockState(t, s.URL, "myLock").Key != "exclusive-job-1" {
		t.Fatalf("after exclusive-job-1's lock: %v, server %+v", a.Version, resourceLockState(t, s.URL, "myLock"))
	}
	// The implicit get after the put.
	dir := t.TempDir()
	o, e, code := startResource(t, `{"source":`+source+`,"version":`+mustMarshal(a.Version)+`}`, "in", dir).wait()
	if code != 0 {
		t.Fatalf("in failed:\n%s", e)
	}
	if got := decodeResourceAnswer(t, o).Version; !maps.Equal(got, a.Version) {
		t.Errorf("in answered %v, want %v", got, a.Version)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "locked")); string(b) != "true" {
		t.Errorf("locked file %q", b)
	}

	// exclusive-job-2 waits for it...
	job2 := startResource(t, `{"source":`+source+`,"params":`+exJob2Lock+`}`, "out", t.TempDir())
	job2.waitFor(`lock "myLock" is held by key "exclusive-job-1"`)
	stillWaiting(t, job2, "exclusive-job-2 must wait while exclusive-job-1 holds the lock")

	// ...until exclusive-job-1 unlocks.
	put(t, source, exJob1Unlock)
	o, e, code = job2.wait()
	if code != 0 {
		t.Fatalf("exclusive-job-2's lock failed:\n%s", e)
	}
	if v := decodeResourceAnswer(t, o).Version; v["key"] != "exclusive-job-2" {
		t.Errorf("exclusive-job-2's version %v", v)
	}

	// The README's exclusive-job-2 unlocks with key exclusive-job-1 (a
	// slip in the README): that is someone else's key, refused clearly.
	// docs/concourse.md has it fixed.
	_, e, code = startResource(t, `{"source":`+source+`,"params":`+exJob1Unlock+`}`, "out", t.TempDir()).wait()
	if code == 0 || !strings.Contains(e, `cannot unlock "myLock" with key "exclusive-job-1": it is held by key "exclusive-job-2"`) {
		t.Errorf("the README's unlock with the wrong key: exit %d\n%s", code, e)
	}
	put(t, source, exJob2Unlock)
	if l := resourceLockState(t, s.URL, "myLock"); l.Key != "" {
		t.Errorf("after both jobs, the server has %+v", l)
	}
}

func TestResourceREADMESharedLocking(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, []string{"AUTH_USER=test", "AUTH_PASS=test"})
	source := readmeSource(s.URL)

	// coexisting-1 and coexisting-2 run together.
	put(t, source, coex1Lock)
	a := put(t, source, coex2Lock)
	if a.Version["state"] != "shared" {
		t.Fatalf("two holders of can-coexist: %v", a.Version)
	}
	if l := resourceLockState(t, s.URL, "myLock"); l.LockedBy["coexisting-1"] != 1 || l.LockedBy["coexisting-2"] != 1 {
		t.Fatalf("the server has %+v", l)
	}

	// exclusive-job waits for both.
	ex := startResource(t, `{"source":`+source+`,"params":`+exclusiveLock+`}`, "out", t.TempDir())
	ex.waitFor("waiting for it")
	put(t, source, coex1Unlock)
	stillWaiting(t, ex, "exclusive-job must wait while coexisting-2 holds the lock")
	put(t, source, coex2Unlock)
	o, e, code := ex.wait()
	if code != 0 {
		t.Fatalf("exclusive-job's lock failed:\n%s", e)
	}
	if v := decodeResourceAnswer(t, o).Version; v["key"] != "cannot-coexist" || v["holders"] != `{"exclusive-job":1}` {
		t.Errorf("exclusive-job's version %v", v)
	}
	put(t, source, exclusiveUnlock)

	// check follows this lock only.
	o, e, code = startResource(t, `{"source":`+source+`}`, "check").wait()
	if code != 0 {
		t.Fatalf("check failed:\n%s", e)
	}
	var vs []map[string]string
	if err := json.Unmarshal([]byte(o), &vs); err != nil || len(vs) != 1 || vs[0]["state"] != "free" {
		t.Fatalf("check: %s (%v)", o, err)
	}
}

// TestResourceTLSAndAuthAgainstBinary: the server with HTTPS and basic
// auth; the resource with ca_cert and credentials. The password never shows.
func TestResourceTLSAndAuthAgainstBinary(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	certFile, keyFile, _ := selfSignedCert(t)
	const pass = "correct-horse-battery"
	s := startServer(t, []string{"SSL_CERT=" + certFile, "SSL_KEY=" + keyFile, "AUTH_USER=ci", "AUTH_PASS=" + pass})
	caPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]any{"locker_uri": s.URL, "username": "ci", "password": pass, "ca_cert": string(caPEM), "lock_name": "tls-lock", "retry_delay": "200ms"}
	source := mustMarshal(src)
	var all strings.Builder

	a := put(t, source, `{"key":"deploy","lock_op":"lock"}`)
	if a.Version["key"] != "deploy" {
		t.Fatalf("version %v", a.Version)
	}
	waiter := startResource(t, `{"source":`+source+`,"params":{"key":"other","lock_op":"lock"}}`, "out", t.TempDir())
	waiter.waitFor(`held by key "deploy"`)
	put(t, source, `{"key":"deploy","lock_op":"unlock"}`)
	o, e, code := waiter.wait()
	all.WriteString(o + e)
	if code != 0 {
		t.Fatalf("the waiter failed:\n%s", e)
	}
	dir := t.TempDir()
	o, e, code = startResource(t, `{"source":`+source+`}`, "in", dir).wait()
	all.WriteString(o + e)
	if b, _ := os.ReadFile(filepath.Join(dir, "key")); code != 0 || string(b) != "other" {
		t.Fatalf("in: exit %d, key %q\n%s", code, b, e)
	}

	// Without ca_cert: refused, with a hint.
	delete(src, "ca_cert")
	_, e, code = startResource(t, `{"source":`+mustMarshal(src)+`}`, "check").wait()
	all.WriteString(e)
	if code == 0 || !strings.Contains(e, "source.ca_cert") {
		t.Errorf("without ca_cert: exit %d\n%s", code, e)
	}
	// Wrong password.
	src["ca_cert"], src["password"] = string(caPEM), "x"+pass
	_, e, code = startResource(t, `{"source":`+mustMarshal(src)+`,"params":{"key":"k","lock_op":"lock"}}`, "out", t.TempDir()).wait()
	all.WriteString(e)
	if code == 0 || !strings.Contains(e, "check source.username and source.password") {
		t.Errorf("wrong password: exit %d\n%s", code, e)
	}
	if strings.Contains(all.String(), pass) {
		t.Errorf("the password shows in the output:\n%s", all.String())
	}
}

func mustMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestRedirectedAddress: a locker_uri or LOCKER_URL that answers with a
// redirect (an http to https redirect in front of the server, say) must
// never make the resource or the CLI report a change that was not made.
// Go follows 301/302/303 as a GET, whose 200 is the lock's state.
func TestRedirectedAddress(t *testing.T) {
	s := startServer(t, []string{"AUTH_USER=test", "AUTH_PASS=test"})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer redirect.Close()
	put(t, readmeSource(s.URL), exJob1Lock)

	for _, params := range []string{exJob2Lock, exJob1Unlock} {
		_, e, code := startResource(t, `{"source":`+readmeSource(redirect.URL)+`,"params":`+params+`}`, "out", t.TempDir()).wait()
		if code == 0 || !strings.Contains(e, "redirect") || !strings.Contains(e, "as the server's URL: "+s.URL+" (HTTP 301)") {
			t.Errorf("put %s through a 301: exit %d\n%s", params, code, e)
		}
	}
	env := []string{"LOCKER_URL=" + redirect.URL, "LOCKER_USER=test", "LOCKER_PASS=test"}
	for _, args := range [][]string{
		{"lock", "myLock", "--key", "cli", "--wait", "0"},
		{"unlock", "myLock", "--key", "exclusive-job-1"},
	} {
		_, e, code, err := cliExec(env, args...)
		if err != nil || code == 0 || !strings.Contains(e, "redirect") {
			t.Errorf("locker %v through a 301: exit %d, %v\n%s", args, code, err, e)
		}
	}
	if l := resourceLockState(t, s.URL, "myLock"); l.Key != "exclusive-job-1" || l.LockedBy["exclusive-job-1"] != 1 {
		t.Errorf("after the redirected requests the lock is %+v, want held once by exclusive-job-1", l)
	}
}
