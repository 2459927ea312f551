package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// locker help CMD prints what locker CMD --help prints, for every command
// and for pool's subcommands (locker help pool acquire); an unknown command
// exits 2 saying so.
func TestHelpCommand(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{}
	var topics [][]string
	for _, c := range commands() {
		topics = append(topics, []string{c.name})
	}
	for _, sub := range []string{"ls", "list", "add", "rm", "remove", "acquire"} {
		topics = append(topics, []string{"pool", sub})
	}
	for _, topic := range topics {
		want := locker(t, ctx, env, append(topic, "--help")...)
		got := locker(t, ctx, env, append([]string{"help"}, topic...)...)
		if want.code != 0 || want.stdout == "" {
			t.Fatalf("locker %s --help: exit %d, stdout %q", strings.Join(topic, " "), want.code, want.stdout)
		}
		if got.code != 0 || got.stdout != want.stdout || got.stderr != "" {
			name := strings.Join(topic, " ")
			t.Errorf("locker help %s: exit %d\nstdout: %s\nstderr: %s\nwant exit 0 and the stdout of locker %s --help:\n%s", name, got.code, got.stdout, got.stderr, name, want.stdout)
		}
	}
	general := locker(t, ctx, env, "--help")
	locker(t, ctx, env, "help").want(t, 0, "^"+regexp.QuoteMeta(general.stdout)+"$", `^$`)
	locker(t, ctx, env, "help", "help").want(t, 0, "^"+regexp.QuoteMeta(general.stdout)+"$", `^$`)
	locker(t, ctx, env, "help", "nonsense").want(t, 2, `^$`, `^locker: unknown command "nonsense": locker help lists the commands\n$`)
	locker(t, ctx, env, "help", "pool", "nonsense").want(t, 2, `^$`, `^locker: unknown pool command "nonsense": use ls, add, rm or acquire\n$`)
	locker(t, ctx, env, "help", "lock", "prod").want(t, 2, `^$`, `^locker: locker help takes one command \(locker help lock\), not "lock prod"\n$`)
}

// locker version takes no arguments: one given is refused (exit 2), as
// locker healthcheck does, not ignored; --help prints its help.
func TestVersionArguments(t *testing.T) {
	ctx := context.Background()
	locker(t, ctx, nil, "version").want(t, 0, `^locker \S+ \(commit \S+\)\n$`, `^$`)
	locker(t, ctx, nil, "version", "extra").want(t, 2, `^$`, `^locker: locker version takes no arguments \(got \["extra"\]\); see locker version --help\n$`)
	locker(t, ctx, nil, "version", "--short").want(t, 2, `^$`, `^locker: flag provided but not defined: --short; see locker version --help\n$`)
	locker(t, ctx, nil, "version", "--help").want(t, 0, `^Usage: locker version\n`, `^$`)
}

// A command whose help says it exits 3 (held, or taken again since) lists
// 3 in its "Exit status:" line too: a reader of that line alone (a script's
// author) must not take 3 for impossible.
func TestHelpExitStatusListsThree(t *testing.T) {
	ctx := context.Background()
	var topics [][]string
	for _, c := range commands() {
		topics = append(topics, []string{c.name})
	}
	for _, sub := range []string{"ls", "add", "rm", "acquire"} {
		topics = append(topics, []string{"pool", sub})
	}
	says3 := regexp.MustCompile(`\bexits? 3\b`)
	for _, topic := range topics {
		help := locker(t, ctx, map[string]string{}, append(topic, "--help")...).stdout
		_, status, ok := strings.Cut(help, "Exit status")
		if !ok || !says3.MatchString(strings.ReplaceAll(help, "\n", " ")) {
			continue
		}
		if !regexp.MustCompile(`\b3 `).MatchString(status) {
			t.Errorf("locker %s --help says it exits 3, but its exit statuses do not list 3:\nExit status%s", strings.Join(topic, " "), status)
		}
	}
}

// An unknown command gets one line on stderr, not the whole help above it
// (where the error scrolled out of sight), with the command meant when a
// letter or two is wrong; exit 2.
func TestUnknownCommand(t *testing.T) {
	ctx := context.Background()
	locker(t, ctx, nil, "frobnicate").want(t, 2, `^$`, `^locker: unknown command "frobnicate": locker help lists the commands\n$`)
	locker(t, ctx, nil, "unlok", "prod").want(t, 2, `^$`, `^locker: unknown command "unlok": did you mean "unlock"\? locker help lists the commands\n$`)
	locker(t, ctx, nil, "histroy").want(t, 2, `^$`, `^locker: unknown command "histroy": did you mean "history"\? locker help lists the commands\n$`)
	locker(t, ctx, nil, "help", "migrat").want(t, 2, `^$`, `^locker: unknown command "migrat": did you mean "migrate"\? locker help lists the commands\n$`)
	// Two letters from two commands: no guess.
	locker(t, ctx, nil, "xx").want(t, 2, `^$`, `^locker: unknown command "xx": locker help lists the commands\n$`)
}
