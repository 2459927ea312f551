package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// A pool-resource repository's file names are anyone's text: import-pool-repo
// prints them escaped (shown), as the other commands print names, never
// with the characters that act on the terminal as they are. A pool name the
// server refuses fails in a dry run too, not "would be added".
func TestImportPoolRepoOddNames(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	repo := poolRepo(t, map[string]string{
		"envs/unclaimed/ok":              "{}",
		"envs/unclaimed/e\x1b]0;owned\a": "{}",
		"envs/claimed/rtl\u202eevil":     "{}",
		"bad\x1b[31mpool/unclaimed/m":    "{}",
	})
	for _, args := range [][]string{{"--dry-run"}, nil} {
		r := locker(t, ctx, env, append([]string{"import-pool-repo", repo}, args...)...)
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\a\u202e") {
			t.Fatalf("import-pool-repo %q printed a control or bidi character as it is:\nstdout: %q\nstderr: %q", args, r.stdout, r.stderr)
		}
		r.want(t, 1, `(?s)^(dry run: nothing is changed\n)?pool 'bad\\x1b\[31mpool':\n  m: FAILED: .*pool name must not contain control characters \(found U\+001B\)\n`+
			`pool 'envs':\n  e\\x1b\]0;owned\\a: FAILED: .*lock name must not contain control characters \(found U\+001B\)\n`+
			`  ok: (would be )?added .*\n  rtl\\u202eevil: (would be )?added \(claimed in the repository\).*; 2 FAILED\n`, `^$`)
	}
}
