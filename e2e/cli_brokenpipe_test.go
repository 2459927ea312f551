package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIStdoutNobodyReads: a command that takes a hold and finds nobody
// reading its stdout (`locker pool acquire envs --key k | false`: the pipe
// is closed before the member's name is written) gives the hold back and
// exits 1, as when stdout fails otherwise. Go kills a program whose write to
// a closed pipe on stdout fails (SIGPIPE) unless told not to: the command
// died then with the hold kept, and nobody knew which member it was.
func TestCLIStdoutNobodyReads(t *testing.T) {
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
