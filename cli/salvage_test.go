package cli_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func salvage(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(bgCtx, append([]string{"locker", "salvage"}, args...), func(k string) string { return env[k] }, &out, &errb)
	return out.String() + errb.String(), err
}

// TestSalvageCommand: the command's exit codes and messages around the
// store's Salvage (tested in filestore and e2e): usage, help, nothing to
// do, a store in use.
func TestSalvageCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "locks.yml")
	populate(t, data)
	for _, c := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{nil, nil, 2, "locker salvage needs the data file"},
		{[]string{"a", "b"}, nil, 2, "takes one data file"},
		{nil, map[string]string{"LOCKER_DATABASE_URL": "postgres://x"}, 2, "for the file store"},
		{[]string{data}, map[string]string{"LOCKER_HISTORY": "x"}, 2, "LOCKER_HISTORY"},
		{[]string{"--help"}, nil, 0, "Usage: locker salvage [FILE]"},
		{[]string{data}, nil, 0, "nothing to salvage, no file changed"},
		{nil, map[string]string{"LOCKER_CONFIG": data}, 0, "nothing to salvage"},
		{[]string{filepath.Join(t.TempDir(), "missing.yml")}, nil, 1, "no such file"},
	} {
		out, err := salvage(t, c.env, c.args...)
		code := 0
		var exit cli.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.Code
		case err != nil:
			code, out = 1, out+err.Error()
		}
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("locker salvage %q (env %v): exit %d, %q; want %d and %q", c.args, c.env, code, out, c.code, c.want)
		}
	}
	s, err := filestore.Open(data, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := salvage(t, nil, data); err == nil || !strings.Contains(err.Error(), "stop the server first") {
		t.Errorf("locker salvage on a store in use: %v", err)
	}
}

// TestSalvageNamesForgottenLocks: a lock named in skipped bytes that a
// record kept later forgot is reported as forgotten, not as a lock every
// record of which was skipped: the operator told the latter checks for a
// hold lost, and one was not.
func TestSalvageNamesForgottenLocks(t *testing.T) {
	data := filepath.Join(t.TempDir(), "locks.yml")
	withService(t, data, func(s *lockservice.Service) {
		for _, key := range []string{"k1", "k2"} {
			_, err := s.Acquire(bgCtx, "pr-1", lock.Request{Key: key, Holder: key}, 0)
			must(t, err)
			_, _, err = s.Release(bgCtx, "pr-1", key, key)
			must(t, err)
			_, err = s.Forget(bgCtx, "pr-1")
			must(t, err)
		}
		_, err := s.Acquire(bgCtx, "other", lock.Request{Key: "k", Holder: "k"}, 0)
		must(t, err)
	})
	// Damage the first forget's record: salvage skips it, and keeps the
	// records after it, the second forget's among them.
	segs, err := filepath.Glob(data + ".log.*")
	if err != nil || len(segs) != 1 {
		t.Fatalf("log segments %v (%v)", segs, err)
	}
	b, err := os.ReadFile(segs[0])
	must(t, err)
	i := bytes.Index(b, []byte(`"forget":true`))
	if i < 0 {
		t.Fatal("no forget record in the log")
	}
	b[i+1] = 'X'
	must(t, os.WriteFile(segs[0], b, 0o600))

	out, err := salvage(t, nil, data)
	if err != nil {
		t.Fatalf("locker salvage: %v\n%s", err, out)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), `"pr-1":`) {
			line = l
		}
	}
	if !strings.Contains(line, "forgotten") || strings.Contains(line, "every record of it was skipped") {
		t.Errorf("salvage reports the forgotten lock as %q; want it said forgotten\n%s", line, out)
	}
}
