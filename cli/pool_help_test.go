package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// The summary of 'locker pool --help' names every flag that each pool
// command's own usage line names: a reader choosing a command there must
// not miss the flags that change what it does (pool rm's --key and
// --holder, which keep a forced removal from ending others' holds).
func TestPoolHelpSummaryNamesEveryFlag(t *testing.T) {
	ctx := context.Background()
	summary := locker(t, ctx, map[string]string{}, "pool", "--help").stdout
	_, commands, ok := strings.Cut(summary, "Commands:\n")
	if !ok {
		t.Fatalf("locker pool --help has no Commands section:\n%s", summary)
	}
	commands, _, _ = strings.Cut(commands, "\n\n")
	// Each command's entry: its line and the indented lines below it.
	entries := map[string]string{}
	var current string
	for _, line := range strings.Split(commands, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			current = f[0]
		}
		entries[current] += line + "\n"
	}
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	for _, sub := range []string{"ls", "add", "rm", "acquire"} {
		help := locker(t, ctx, map[string]string{}, "pool", sub, "--help").stdout
		usage, _, _ := strings.Cut(help, "\n")
		for _, f := range flag.FindAllString(usage, -1) {
			if !regexp.MustCompile(regexp.QuoteMeta(f) + `\b`).MatchString(entries[sub]) {
				t.Errorf("locker pool --help does not name %s for %s, as its usage does:\n%s\nlocker pool --help says:\n%s", f, sub, usage, entries[sub])
			}
		}
	}
}

// pool rm exits 3 whenever a condition of --force refuses the removal:
// its exit statuses say so for each (a script told only of --fence took
// a --holder refusal for an error of its own).
func TestPoolRemoveExitStatusNamesEveryCondition(t *testing.T) {
	help := locker(t, context.Background(), map[string]string{}, "pool", "rm", "--help").stdout
	_, status, _ := strings.Cut(help, "Exit status")
	status = strings.ReplaceAll(status, "\n", " ")
	for _, f := range []string{"--fence", "--key", "--holder"} {
		if !strings.Contains(status, f) {
			t.Errorf("locker pool rm --help: its exit statuses do not say what %s refusing gives:\nExit status%s", f, status)
		}
	}
}
