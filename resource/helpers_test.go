package resource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/internal/testwaits"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// binary is the locker-resource binary, built once for the package's tests:
// every test runs it as Concourse does, a process with JSON on stdin.
var binary string

func TestMain(m *testing.M) {
	testwaits.Parallel(4) // the tests marked t.Parallel mostly wait
	dir, err := os.MkdirTemp("", "locker-resource-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "locker-resource")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "../cmd/locker-resource")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building locker-resource:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a Locker server built from the real packages (file store, lock
// service, HTTP API) behind an httptest server. requests counts the
// requests it was sent.
type server struct {
	*httptest.Server
	requests atomic.Int64
}

type serverOpts struct {
	auth httpapi.Credentials
	// admin, if set, is the only user who may force a release.
	admin httpapi.Credentials
	tls   bool
	// wrap, if set, wraps the API's handler (to break connections, etc.).
	wrap func(http.Handler) http.Handler
	// defaultTTL is the server's LOCKER_DEFAULT_TTL.
	defaultTTL time.Duration
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	store, err := filestore.Open(filepath.Join(t.TempDir(), "locks.yml"), filestore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := lockservice.New(store, lockservice.Config{DefaultTTL: o.defaultTTL})
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		cancel()
		store.Close()
		t.Fatal(err)
	}
	s := &server{}
	var h http.Handler = httpapi.New(svc, httpapi.Config{Auth: o.auth, Admin: o.admin})
	if o.wrap != nil {
		h = o.wrap(h)
	}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	})
	s.Server = httptest.NewUnstartedServer(counted)
	s.Config.ErrorLog = quietLog // TLS handshakes refused on purpose
	if o.tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(func() {
		svc.Close()
		s.CloseClientConnections()
		s.Close()
		cancel()
		store.Close()
	})
	return s
}

// certPEM is the PEM of the server's certificate (httptest's own CA).
func (s *server) certPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

// client is a client of the server for the test's own checks.
func (s *server) client(t *testing.T, user, pass string) *client.Client {
	t.Helper()
	o := client.Options{URL: s.URL, User: user, Pass: pass}
	if s.TLS != nil {
		o.CACert = []byte(s.certPEM())
	}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var quietLog = log.New(io.Discard, "", 0)

// get reads a lock through the client; a lock never seen is free.
func get(t *testing.T, c *client.Client, name string) *client.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.Get(ctx, name)
	if errors.Is(err, client.ErrNotFound) {
		return &client.Lock{Name: name, State: "free", LockedBy: map[string]int{}}
	}
	if err != nil {
		t.Fatalf("GET lock %q: %v", name, err)
	}
	return l
}

// obj is a JSON object.
type obj = map[string]any

// request builds what Concourse sends on stdin.
func request(source obj, params obj, version map[string]string) []byte {
	r := obj{"source": source}
	if params != nil {
		r["params"] = params
	}
	if version != nil {
		r["version"] = version
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// result is a finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// proc is a run of the binary.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	res    result
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start runs the program (the binary, or a link to it) with args and
// stdin, as Concourse would.
func start(t *testing.T, program string, stdin []byte, args ...string) *proc {
	t.Helper()
	return startEnv(t, program, stdin, nil, args...)
}

// startEnv is start with more environment variables (KEY=VALUE), such as
// the BUILD_* ones Concourse sets.
func startEnv(t *testing.T, program string, stdin []byte, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(program, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "GORACE=atexit_sleep_ms=0"}, env...)
	p.cmd.Stdin = bytes.NewReader(stdin)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.res = result{stdout: p.stdout.String(), stderr: p.stderr.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			p.res.code = ee.ExitCode()
		} else if err != nil {
			p.res.code = -1
			p.res.stderr += "\n(wait: " + err.Error() + ")"
		}
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the run to end (failing the test after 2 minutes).
func (p *proc) wait() result {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%v did not finish within 2 minutes; stderr:\n%s", p.cmd.Args, p.res.stderr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) stderrSoFar() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitStderr waits until the run has printed want on stderr.
func (p *proc) waitStderr(want string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderrSoFar(), want) {
			return
		}
		if !p.running() {
			r := p.wait()
			p.t.Fatalf("%v ended (exit %d) without printing %q; stderr:\n%s\nstdout:\n%s", p.cmd.Args, r.code, want, r.stderr, r.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("%v did not print %q within 30s; stderr:\n%s", p.cmd.Args, want, p.stderrSoFar())
}

// run runs the binary as `locker-resource cmd args...` to the end.
func run(t *testing.T, stdin []byte, cmd string, args ...string) result {
	t.Helper()
	return start(t, binary, stdin, append([]string{cmd}, args...)...).wait()
}

// mustRun runs the binary and fails the test if it fails.
func mustRun(t *testing.T, stdin []byte, cmd string, args ...string) result {
	t.Helper()
	r := run(t, stdin, cmd, args...)
	if r.code != 0 {
		t.Fatalf("%s %v failed (exit %d); stderr:\n%s", cmd, args, r.code, r.stderr)
	}
	return r
}

// answer is what in and out print.
type answer struct {
	Version  map[string]string `json:"version"`
	Metadata []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"metadata"`
}

func decodeAnswer(t *testing.T, r result) answer {
	t.Helper()
	var a answer
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("stdout is not a version and metadata (%v):\n%s", err, r.stdout)
	}
	if a.Version == nil {
		t.Fatalf("no version in %s", r.stdout)
	}
	return a
}

func (a answer) meta(name string) string {
	for _, m := range a.Metadata {
		if m.Name == name {
			return m.Value
		}
	}
	return ""
}

func decodeVersions(t *testing.T, r result) []map[string]string {
	t.Helper()
	var vs []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &vs); err != nil {
		t.Fatalf("check's stdout is not a list of versions (%v):\n%s", err, r.stdout)
	}
	return vs
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// grantWithoutAnswer wraps a server so that a PUT to path (while on is
// true, or always when on is nil) is granted but never answered, as when
// a build is aborted in that moment: the grant is signalled on granted.
func grantWithoutAnswer(path string, granted chan<- struct{}, on *atomic.Bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && r.URL.Path == path && (on == nil || on.Load()) {
				h.ServeHTTP(httptest.NewRecorder(), r)
				granted <- struct{}{}
				<-r.Context().Done()
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}
