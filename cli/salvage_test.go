package cli_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/cli"
	"github.com/cloudfoundry-community/locker/filestore"
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
