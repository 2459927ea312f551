package cli

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// shellWords is what a POSIX shell makes of line, a command pasted as it
// is: the words of `locker ...` (locker a shell function that prints
// them), without the "locker".
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	if !strings.HasPrefix(line, "locker ") {
		t.Fatalf("not a locker command: %s", line)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	out, err := exec.Command(sh, "-c", `locker() { printf '%s\0' "$@"; }; `+line).Output()
	if err != nil {
		t.Fatalf("sh -c %s: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestSuggestedCommandsRunAsPasted: the commands that lock and pool
// acquire suggest when the answer is lost (see 'locker status NAME';
// release it with 'locker unlock NAME --key KEY --holder HOLDER'), read by
// a shell as they are printed and run, show the lock and release the hold,
// for names, keys and holders with spaces, quotes, $ and a leading dash.
// Each was printed inside '%s' as it was: the shell split a name at its
// quote or space, or expanded its $HOME, and the unlock released nothing.
func TestSuggestedCommandsRunAsPasted(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	p := newLossyProxy(t, url)
	direct := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	run := func(line string) result {
		t.Helper()
		return locker(t, ctx, direct, shellWords(t, line)...)
	}
	statusRE := regexp.MustCompile(`[Ss]ee '(locker status .*?)'[;,]`)
	unlockRE := regexp.MustCompile(`release it with '(locker unlock .*?)' \(`)

	for _, c := range []struct{ pool, name, key, holder string }{
		{"", `it's a "lock" $HOME`, "k $x", "h 'y' `id`"},
		{"test envs", `-m 'n' $x`, "-pk", "--holder"},
	} {
		args := []string{"lock", c.name}
		if c.pool != "" {
			if _, err := cl.AddMember(ctx, c.pool, c.name, nil); err != nil {
				t.Fatal(err)
			}
			args = []string{"pool", "acquire", c.pool}
		}
		p.badGatewayPuts.Store(1)
		r := locker(t, ctx, map[string]string{"LOCKER_URL": p.URL}, append(args, "--key="+c.key, "--holder="+c.holder)...)
		r.want(t, 1, `^$`, `was lost`)
		if l, _ := cl.Get(ctx, c.name); l.LockedBy[c.holder] != 1 {
			t.Fatalf("%q: the lost answer left %+v; want the hold granted", c.name, l)
		}
		status, unlock := statusRE.FindStringSubmatch(r.stderr), unlockRE.FindStringSubmatch(r.stderr)
		if status == nil || unlock == nil {
			t.Fatalf("no suggested commands in %s", r.stderr)
		}
		run(status[1]).want(t, 0, regexp.QuoteMeta(c.holder), `^$`)
		run(unlock[1]).want(t, 0, ``, `^$`)
		if l, _ := cl.Get(ctx, c.name); !l.Free() {
			t.Fatalf("%s left %+v", unlock[1], l)
		}
	}
}
