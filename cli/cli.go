// Package cli is the locker command: the server (the default, as in the
// seed: `LOCKER_CONFIG=... locker`) and its subcommands. Run is the entry
// point; main and the tests call it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Version and Commit are set at build time with
// -ldflags "-X github.com/cloudfoundry-community/locker/cli.Version=...".
var (
	Version = "dev"
	Commit  = "unknown"
)

// Env reads an environment variable.
type Env func(string) string

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"server", "run the lock server (the default with no command)", runServer},
		{"list", "list the locks on a server (alias: ls)", runList},
		{"ls", "same as list", runList},
		{"status", "show one lock", runStatus},
		{"history", "show a lock's recent changes", runHistory},
		{"lock", "take a lock (waiting for it by default)", runLock},
		{"unlock", "release a lock", runUnlock},
		{"forget", "remove a free lock and its history from the server", runForget},
		{"run", "run a command while holding a lock, then release it", runRun},
		{"pool", "pools of interchangeable locks: ls, add, rm, acquire", runPool},
		{"import-pool-repo", "import a Concourse pool-resource git repository's locks", runImportPoolRepo},
		{"migrate", "copy every lock from one store to another (file <-> PostgreSQL)", runMigrate},
		{"salvage", "skip the damaged records a file store refuses to start on (server stopped)", runSalvage},
		{"bench", "measure a server's throughput and latency (see docs/benchmarks.md)", runBench},
		{"healthcheck", "exit 0 if the server on this machine is alive (for container health checks)", runHealthcheck},
		{"version", "print the version", runVersion},
	}
}

// ExitError asks Run's caller to exit with Code; Msg, if any, was already
// printed.
type ExitError struct {
	Code int
	Msg  string
}

func (e ExitError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// errUsage marks an error in the command line: Run prints it with a hint.
var errUsage = errors.New("usage")

// Run runs the locker command with args (args[0] is the program name). A
// mistake in the command line is printed to stderr and returned as
// ExitError{2}.
func Run(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	err := run(ctx, args, env, stdout, stderr)
	if errors.Is(err, errUsage) {
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintln(stderr, "locker:", msg)
		return ExitError{Code: 2, Msg: msg}
	}
	return err
}

// Signals are the signals that should end the context given to Run, for
// main's signal.NotifyContext: caught, they stop a command cleanly (a lock
// granted while it waited is given back, exit 130) where Go's default would
// kill it outright. SIGINT and SIGTERM for every command; SIGHUP (a closed
// terminal, a dropped ssh session) too, the server included (a clean
// shutdown), unless it was ignored when locker started (nohup); and for
// every command but the server SIGQUIT, SIGUSR1 and SIGUSR2 too, unless
// ignored (locker run passes them all on to COMMAND once it runs). The
// server keeps Go's defaults for those: SIGQUIT dumps its goroutines and
// exits, SIGUSR1 and SIGUSR2 do nothing.
func Signals(args []string) []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	more := []os.Signal{syscall.SIGHUP}
	if !isServer(args) {
		more = append(more, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	}
	for _, s := range more {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	return sigs
}

// isServer reports whether args (args[0] the program name) run the server.
func isServer(args []string) bool {
	return len(args) < 2 || strings.HasPrefix(args[1], "-") || args[1] == "server"
}

func run(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	rest := args[1:]
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		switch {
		case len(rest) > 0 && (rest[0] == "--version" || rest[0] == "-version" || rest[0] == "-v"): // -v: the original's
			if len(rest) > 1 {
				// locker -v run ...: meant as --verbose, it would print
				// the version and run nothing.
				return fmt.Errorf("%w: %s prints the version and takes no arguments (got %q); for a command's --verbose, put it after the command: locker %s %s", errUsage, rest[0], hidePasswords(rest[1:]), rest[1], rest[0])
			}
			return runVersion(ctx, nil, env, stdout, stderr)
		case len(rest) > 0 && (rest[0] == "--help" || rest[0] == "-help" || rest[0] == "-h"):
			usage(stdout)
			return nil
		}
		return runServer(ctx, rest, env, stdout, stderr)
	}
	if rest[0] == "help" {
		return runHelpCmd(ctx, rest[1:], env, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == rest[0] {
			return c.run(ctx, rest[1:], env, stdout, stderr)
		}
	}
	return unknownCommand(rest[0])
}

// unknownCommand is the error for locker NAME when no command is NAME: one
// line, with the command meant when one is a letter or two away (a typo),
// and where the commands are listed.
func unknownCommand(name string) error {
	guess, best, ties := "", 3, 0
	for _, c := range commands() {
		switch d := editDistance(name, c.name); {
		case d < best:
			guess, best, ties = c.name, d, 1
		case d == best:
			ties++
		}
	}
	if guess != "" && ties == 1 && best < len(name) {
		return fmt.Errorf("%w: unknown command %q: did you mean %q? locker help lists the commands", errUsage, name, guess)
	}
	return fmt.Errorf("%w: unknown command %q: locker help lists the commands", errUsage, name)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// poolCommands are the pool subcommands locker help knows (aliases too).
var poolCommands = []string{"ls", "list", "add", "rm", "remove", "acquire"}

// runHelpCmd is locker help [COMMAND [POOL-COMMAND]]: the general help, or
// what locker COMMAND --help (locker pool POOL-COMMAND --help) prints.
func runHelpCmd(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	if len(args) == 0 || (len(args) == 1 && (args[0] == "help" || args[0] == "--help" || args[0] == "-help" || args[0] == "-h")) {
		usage(stdout)
		return nil
	}
	if args[0] == "pool" && len(args) == 2 {
		if !slices.Contains(poolCommands, args[1]) {
			return fmt.Errorf("%w: unknown pool command %q: use ls, add, rm or acquire", errUsage, args[1])
		}
		return runPool(ctx, []string{args[1], "--help"}, env, stdout, stderr)
	}
	if len(args) > 1 {
		return fmt.Errorf("%w: locker help takes one command (locker help %s), not %q", errUsage, args[0], strings.Join(args, " "))
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, []string{"--help"}, env, stdout, stderr)
		}
	}
	return unknownCommand(args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `locker: a lock server for deploys and pipelines

Usage:
  locker [flags]              run the server (same as "locker server")
  locker <command> [flags]
  locker help <command>       that command's help (as locker <command> --help)

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-17s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Flags:
  --help      show this help (each command has its own --help)
  --version   print the version (also -v)

The server is configured with environment variables; see "locker server --help".
The other commands are its client: they talk to LOCKER_URL (default
http://127.0.0.1:3000) with LOCKER_USER and LOCKER_PASS; see "locker run --help".
`)
}

const versionHelp = `Usage: locker version

Prints locker's version and the commit it was built from (also
locker --version, or -v). It takes no arguments.
`

func runVersion(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	fs := commandFlags("locker version")
	if done, err := parseFlags(fs, args, versionHelp, stdout); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: locker version takes no arguments (got %q); see locker version --help", errUsage, fs.Args())
	}
	fmt.Fprintf(stdout, "locker %s (commit %s)\n", Version, Commit)
	return nil
}
