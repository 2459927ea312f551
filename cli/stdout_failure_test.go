package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// failingWriter is a stdout that cannot be written: a full disk
// (> /dev/full), a closed file.
type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("no space left on device") }

// runFailingStdout runs the command with a stdout that cannot be written.
func runFailingStdout(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return lockerTo(context.Background(), failingWriter{}, env, args...)
}

// What a command prints on stdout is its result, which scripts capture
// (member=$(locker pool acquire ...), locker list > locks.txt): when it
// cannot be written, the command fails (exit 1) rather than exit 0 with
// nothing written. lock and pool acquire give back what they took, so that
// exit 1 means, as it does otherwise, that nothing is held: the caller
// never learnt of the hold (for pool acquire, not even which member).
func TestStdoutWriteFailure(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.AddMember(ctx, "envs", "aws-1", nil); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"lock", "prod", "--key", "k"},
		{"lock", "prod", "--key", "k", "--ttl", "1h", "--json"},
		{"pool", "acquire", "envs", "--key", "k"},
		{"pool", "acquire", "envs", "--key", "k", "--json"},
	} {
		r := runFailingStdout(t, env, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "stdout") || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "released it") {
			t.Fatalf("%q with stdout unwritable: exit %d, stderr %q; want exit 1, saying so, and the hold released", args, r.code, r.stderr)
		}
		for _, name := range []string{"prod", "aws-1"} {
			if l, err := cl.Get(ctx, name); err == nil && !l.Free() {
				t.Fatalf("%q with stdout unwritable left %s held: %+v", args, name, l)
			}
		}
	}

	// A hold the same key and holder had before is not the one given
	// back: only this command's (one count).
	if _, err := cl.Lock(ctx, "prod", client.LockOptions{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	runFailingStdout(t, env, "lock", "prod", "--key", "k").want(t, 1, `^$`, `released it`)
	if l, _ := cl.Get(ctx, "prod"); l.LockedBy["k"] != 1 {
		t.Fatalf("the earlier hold was given back too: %+v", l)
	}

	for _, args := range [][]string{
		{"list"}, {"list", "--json"}, {"status", "prod"}, {"history", "prod"}, {"pool", "ls"},
	} {
		if r := runFailingStdout(t, env, args...); r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("%q with stdout unwritable: exit %d, stderr %q; want exit 1, saying why", args, r.code, r.stderr)
		}
	}
}
