package cli_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/cli"
)

// migrateSplit runs `locker migrate` in process, its output and its errors
// apart.
func migrateSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = cli.Run(bgCtx, append([]string{"locker", "migrate"}, args...), func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}

// A migration that takes a while tells the operator how far it got, on
// stderr, at most every few seconds: here every lock, with the interval
// made 0. One that ends sooner says nothing of it.
func TestMigrateReportsItsProgress(t *testing.T) {
	src := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, src)
	n := len(read(t, src).locks)

	restore := cli.SetMigrateProgressEvery(0)
	stdout, stderr, err := migrateSplit(t, "--from", src, "--to", filepath.Join(t.TempDir(), "a.yml"))
	restore()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"read 1 of ", "copied 1 of ", "copied 2 of "} {
		if !strings.Contains(stderr, want+strings.TrimSpace(cli.Thousands(n))+" locks") {
			t.Errorf("no %q on stderr:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout, " of ") {
		t.Errorf("progress on stdout:\n%s", stdout)
	}

	defer cli.SetMigrateProgressEvery(time.Hour)()
	stdout, stderr, err = migrateSplit(t, "--from", src, "--to", filepath.Join(t.TempDir(), "b.yml"))
	if err != nil || stderr != "" || !strings.Contains(stdout, "copied ") {
		t.Errorf("a quick migration: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 40000: "40,000", 1234567: "1,234,567"} {
		if got := cli.Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
