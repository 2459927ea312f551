package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
)

// TestSuggestedUnlockRunsAsPasted: the command that locker pool rm suggests
// for a held member ('release it first (locker unlock ...)'), pasted into a
// shell as it is printed, releases the hold, for a member, key and holder
// with spaces, quotes and $ in them. Quoted naively ('%s' around each),
// the shell split the name at the quote and ran locker unlock with other
// arguments (or with $HOME expanded), and the hold stayed.
func TestSuggestedUnlockRunsAsPasted(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	s := startServer(t, nil)
	env := []string{"LOCKER_URL=" + s.URL}
	c := cliClient(t, s.URL)
	ctx := context.Background()
	const pool, member, key, holder = "test envs", `o'neil env $HOME`, `build "7" $x`, "job 'a' `id`"
	if _, err := c.AddMember(ctx, pool, member, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lock(ctx, member, client.LockOptions{Key: key, Holder: holder}); err != nil {
		t.Fatal(err)
	}
	_, stderr := pcliRun(t, env, 3, `^$`, `release it first`, "pool", "rm", pool, member)
	m := regexp.MustCompile(`release it first \('(locker unlock .*)'\), or remove it with --force\n$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no suggested command in %q", stderr)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	cmd := exec.Command(sh, "-c", m[1])
	cmd.Env = append([]string{"PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %s: %v\n%s", m[1], err, out)
	}
	l, err := c.Get(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Free() {
		t.Fatalf("the suggested command %s (output %q) left the member held: %+v", m[1], out, l)
	}
}
