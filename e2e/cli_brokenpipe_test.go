package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLIStdoutNobodyReads: a command that takes a hold and finds nobody
// reading its stdout (`locker pool acquire envs --key k | false`: the pipe
// is closed before the member's name is written) gives the hold back and
// exits 1, as when stdout fails otherwise. Go kills a program whose write to
// a closed pipe on stdout fails (SIGPIPE) unless told not to: the command
// died then with the hold kept, and nobody knew which member it was.
func TestCLIStdoutNobodyReads(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, nil)
	env := []string{"LOCKER_URL=" + s.URL}
	pcliRun(t, env, 0, ``, `^$`, "pool", "add", "envs", "aws-1")
	c := cliClient(t, s.URL)

	for _, args := range [][]string{
		{"lock", "deploy", "--key", "k", "--wait", "10s"},
		{"lock", "deploy", "--key", "k", "--wait", "10s", "--json"},
		{"pool", "acquire", "envs", "--key", "k", "--wait", "10s"},
		{"pool", "acquire", "envs", "--key", "k", "--wait", "10s", "--json"},
	} {
		// A hold left by one stops the rest: they would wait on it.
		ok := t.Run(strings.Join(args, " "), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close() // nobody reads
			cmd := exec.Command(binary, args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0"}, env...)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = w, &stderr
			err = cmd.Run()
			w.Close()
			ee, _ := err.(*exec.ExitError)
			if ee == nil || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v (want 1, not a signal)\nstderr: %s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "could not write the result to stdout") || !strings.Contains(stderr.String(), "released it") {
				t.Errorf("stderr does not say the result was not written and the hold given back:\n%s", stderr.String())
			}
			for _, name := range []string{"deploy", "aws-1"} {
				l, err := c.Get(context.Background(), name)
				if err != nil {
					t.Fatal(err)
				}
				if l.Key != "" || len(l.LockedBy) != 0 {
					t.Fatalf("%s is still held: %+v", name, l)
				}
			}
		})
		if !ok {
			break
		}
	}
}

// TestCLIRunStderrNobodyReads: locker run whose stderr is a pipe nobody
// reads any more (`locker run -v ... 2>&1 | tee log`, tee killed by the
// same SIGTERM as the job) still runs COMMAND, passes the signal on, waits
// for it and gives the lock back. Go's default for a write to a closed
// pipe on stderr (SIGPIPE) killed it at its first message: the command
// was never started, or killed mid-cleanup (SIGKILL, as locker run died),
// and the lock stayed held until its lease ran out (for ever with --ttl 0).
func TestCLIRunStderrNobodyReads(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, nil)
	c := cliClient(t, s.URL)
	for _, ttl := range []string{"1m", "0"} {
		dir := t.TempDir()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close() // nobody reads
		script := `trap 'sleep 0.3; touch "$0/cleaned"; exit 3' TERM; touch "$0/started"; while :; do sleep 0.05; done`
		cmd := exec.Command(binary, "run", "-v", "bp", "--ttl", ttl, "--", "sh", "-c", script, dir)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0", "LOCKER_URL=" + s.URL}
		cmd.Stderr = w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(10 * time.Second)
		for !exists(filepath.Join(dir, "started")) {
			select {
			case err := <-exited:
				t.Fatalf("--ttl %s: locker run ended (%v) before the command started", ttl, err)
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("--ttl %s: the command did not start within 10s", ttl)
			case <-time.After(20 * time.Millisecond):
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		err = <-exited
		ee, _ := err.(*exec.ExitError)
		if ee == nil || ee.ExitCode() != 3 {
			t.Errorf("--ttl %s: exit %v, want 3, the command's", ttl, err)
		}
		if !exists(filepath.Join(dir, "cleaned")) {
			t.Errorf("--ttl %s: the command did not finish its cleanup", ttl)
		}
		if l, err := c.Get(context.Background(), "bp"); err != nil || !l.Free() {
			t.Fatalf("--ttl %s: the lock was not given back: %+v %v", ttl, l, err)
		}
	}

	// COMMAND itself still starts with SIGPIPE at its default: `yes`
	// writing to a closed stdout dies of it (128+13), as without locker run.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd := exec.Command(binary, "run", "bp", "--", "yes")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0", "LOCKER_URL=" + s.URL}
	cmd.Stdout = w
	err = cmd.Run()
	w.Close()
	if ee, _ := err.(*exec.ExitError); ee == nil || ee.ExitCode() != 141 {
		t.Errorf("yes to a closed pipe under locker run: %v, want exit 141", err)
	}
}
