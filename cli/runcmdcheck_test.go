package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestRunCommandCheckedBeforeTheLock: a COMMAND that cannot be run (not
// found, not executable, empty) fails before the lock is asked for, with
// 127, 126 or 2, and nothing changed on the server. It used to wait for
// the lock first (all of --wait, behind every other job), take it, bump
// its fence, and only then fail; with --wait 0 on a held lock it said
// "held" (exit 3), hiding the typo. An empty lock name is a command-line
// mistake too (exit 2), as for locker lock, not a request the server
// refuses (exit 1).
func TestRunCommandCheckedBeforeTheLock(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	if _, err := cl.Lock(ctx, "busy", client.LockOptions{Key: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddMember(ctx, "envs", "env-1", nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cmd    string
		code   int
		stderr string
	}{
		{"/nonexistent/cmd", 127, `^locker run: cannot run /nonexistent/cmd: no such file or directory\n$`},
		{"no-such-command-here", 127, `^locker run: cannot run no-such-command-here: executable file not found in \$PATH\n$`},
		{dir, 126, `^locker run: cannot run ` + dir + `: is a directory\n$`},
		{plain, 126, `^locker run: cannot run ` + plain + `: permission denied\n$`},
		{"", 2, `^locker run: the command is empty \(an empty variable\?\)\n`},
	} {
		for _, lock := range [][]string{{"busy", "--wait", "0"}, {"fresh"}, {"--pool", "envs"}} {
			args := append(append([]string{"run"}, lock...), "--", c.cmd, "arg")
			locker(t, ctx, env, args...).want(t, c.code, `^$`, c.stderr)
		}
	}
	locker(t, ctx, env, "run", "", "--", "true").want(t, 2, `^$`, `^locker run: the lock name is empty \(an empty variable\?\)\n`)

	if l, err := cl.Get(ctx, "busy"); err != nil || l.LockedBy["other"] != 1 || len(l.LockedBy) != 1 || l.Fence != 1 || l.Waiters != 0 {
		t.Errorf("busy changed: %+v %v", l, err)
	}
	for _, name := range []string{"fresh", "env-1"} {
		// Never taken: unknown to the server (fresh), or a member
		// never held (fence 0).
		l, err := cl.Get(ctx, name)
		if name == "fresh" && errors.Is(err, client.ErrNotFound) {
			continue
		}
		if err != nil || l.Fence != 0 || !l.Free() {
			t.Errorf("%s was taken: %+v %v", name, l, err)
		}
	}
}
