// Package e2e tests Locker end to end: the real binary, started as a
// process, over real HTTP.
package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/internal/testwaits"
)

// binary is the locker binary built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	// Most of these tests wait (on timers, processes, a browser), and the
	// ones marked t.Parallel wait beside each other: more of them at once
	// than go test's default of one per core, unless -parallel says.
	testwaits.Parallel(4)
	dir, err := os.MkdirTemp("", "locker-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "locker")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "..")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building locker:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running locker process.
type server struct {
	t      testing.TB
	cmd    *exec.Cmd
	URL    string
	mu     sync.Mutex
	output strings.Builder
	exited chan struct{}
	err    error
}

// startServer starts the binary with env (KEY=VALUE, added to a clean
// environment) and args, and waits until it listens. PORT defaults to a
// free port; LOCKER_CONFIG to a file in a new temporary directory.
func startServer(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	s, err := tryStartServer(t, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tryStartServer(t testing.TB, env []string, args ...string) (*server, error) {
	t.Helper()
	return tryStartServerCmd(t, env, nil, args...)
}

// tryStartServerCmd is tryStartServer with prep, if not nil, called on the
// command before it starts (to run it as another user, say).
func tryStartServerCmd(t testing.TB, env []string, prep func(*exec.Cmd), args ...string) (*server, error) {
	t.Helper()
	if !hasEnv(env, "PORT") && !hasEnv(env, "LOCKER_LISTEN") {
		env = append(env, "LOCKER_LISTEN=127.0.0.1:0")
	}
	if !hasEnv(env, "LOCKER_CONFIG") && !hasEnv(env, "LOCKER_DATABASE_URL") {
		env = append(env, "LOCKER_CONFIG="+filepath.Join(t.TempDir(), "locks.yml"))
	}
	cmd := exec.Command(binary, args...)
	// A race-enabled binary sleeps a second at exit unless told not to.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0"}, env...)
	if prep != nil {
		prep(cmd)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{t: t, cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{s: s}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.output.WriteString(line + "\n")
			s.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "locker listening on "); ok {
				select {
				case urlc <- strings.Replace(rest, "[::]", "127.0.0.1", 1):
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Kill() })
	select {
	case s.URL = <-urlc:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("locker exited before listening (%v):\n%s", s.err, s.Output())
	case <-time.After(60 * time.Second):
		// Generous: the race detector makes replay ten times slower
		// (TestHoldersOfALockEndToEnd's 34 MB log: 1.5s without it, 15s
		// with it on a quiet machine), and a loaded one slower still.
		s.Kill()
		return nil, fmt.Errorf("locker did not start listening within 60s:\n%s", s.Output())
	}
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

type lockedWriter struct{ s *server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.output.Write(p)
}

// Output returns what the server printed so far (stdout and stderr).
func (s *server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// Kill ends the server with SIGKILL (no chance to clean up) and waits.
func (s *server) Kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// Stop sends SIGTERM and waits for the exit, returning its error.
func (s *server) Stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.err
	case <-time.After(30 * time.Second):
		s.Kill()
		return fmt.Errorf("locker did not stop within 30s of SIGTERM")
	}
}

// runLocker runs the binary to completion (for commands and refusals).
func runLocker(t testing.TB, env []string, args ...string) (output string, exitCode int) {
	t.Helper()
	return runLockerIn(t, "", env, args...)
}

// runLockerIn runs the binary to completion in dir ("": this process's).
func runLockerIn(t testing.TB, dir string, env []string, args ...string) (output string, exitCode int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0"}, env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// do sends a request with a JSON body (empty for none) and returns the
// status and body.
func do(t testing.TB, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
