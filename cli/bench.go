package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudfoundry-community/locker/bench"
	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/memstore"
	"github.com/cloudfoundry-community/locker/metrics"
)

const benchHelp = `Usage: locker bench [--url URL | --spawn] [flags]
       locker bench ceiling-server
       locker bench profiled-server

Drives a server that speaks Locker's HTTP API (Locker, the original locker,
or any compatible server) with concurrent lock/unlock cycles, and reports
operations per second (each PUT or DELETE answered 200 is one operation) and
their latency percentiles, as a table or as JSON. Failed requests are counted
apart, as errors, and make the command exit 1 after the report; a first
request per client (the warm-up) that fails stops the run at once. See
docs/benchmarks.md.

Target:
  --url URL           the server to measure (env LOCKER_URL); a bare host:port
                      is taken as http://host:port, and a path (a server behind
                      a proxy: http://host/locker/) prefixes every request
  --spawn             start this locker binary with a new temporary data file
                      instead of --url (LOCKER_URL is then ignored), and stop
                      it at the end: then start-up time and resident memory
                      can be measured too
  --binary FILE       with --spawn: the locker binary to start (default: this
                      one), e.g. an older build to compare with
  --user, --pass      basic auth (env LOCKER_USER, LOCKER_PASS)
  --insecure          do not verify an https server's certificate
  --ca-cert FILE      PEM file of the CA that signed the server's certificate
                      (env LOCKER_CA_CERT: a file name, or the PEM text itself)
  --ceiling           measure the ceiling server in the same run: the same HTTP
                      API and lock service over an in-memory store that persists
                      nothing, started as "locker bench ceiling-server" on
                      loopback. The report gives each figure's ratio to it.

Scenarios (--scenario NAME[,NAME...]):
  uncontended   each client cycles on a lock of its own
  prefilled     uncontended, then the same with 100,000 locks held
  contended     16 clients (--concurrency's number, when given) on one lock,
                each with its own key, waiting for it (?wait=10s): measures
                the hand-off from the release's 200 to the next holder's 200
  list          GET /locks with 10,000 and 100,000 locks, alone and while the
                clients run cycles (whose latency is then reported)
  startup       start-up time and memory with 100,000 locks (needs --spawn)
  sweep         uncontended at 1, 2, 4, 8 and 16 clients, and with 1,000,
                10,000 and 100,000 locks held: the data for the charts
  all           uncontended, contended, prefilled, list (and startup)
  --held N      the number of held locks those scenarios use instead of
                100,000 (the list scenario uses N/10 too, the sweep N/100
                and N/10)
Without --scenario, the load flags below are run as given.

Load:
  --duration D        length of each measurement (default 10s)
  --concurrency N     client connections (default 8)
  --locks N           distinct lock names the clients cycle over (default:
                      one per client)
  --prefill N         locks to hold before measuring
  --shared            every client uses the same key (with its own holder), so
                      clients sharing a lock do not refuse each other
  --contended         every client on one lock with its own key, waiting
  --wait D            ask PUTs to wait up to D for a held lock (?wait=D)
  --think D           each client pauses a random time up to D after each lock
                      and each unlock, like clients working between changes
                      (latencies still time the requests alone)
  --runs N            repeat each measurement N times and report the median
                      of each figure, but the highest max; in the JSON, ops,
                      cycles, errors, refused and seconds are sums over the
                      runs while ops_per_sec is the median of the runs' (so
                      ops/seconds is not ops_per_sec)

Output:
  --json              print the report as JSON instead of a table
  --out FILE          also write the JSON report to FILE, after printing it
  --chart DIR         draw the charts (bench-*.svg) from the results into DIR
                      (FILE's directory and DIR must exist: checked before the
                      run)
  --profile FILE      with --spawn: start the server with pprof (as "locker bench
                      profiled-server") and save a CPU profile of it, taken
                      during the first lock/unlock measurement, to FILE
                      (then: go tool pprof -top FILE)
  --keep              leave the locks taken by --prefill (or a scenario's held
                      locks) held on a --url server (not with --spawn). By
                      default they are released however the run ends, also
                      when interrupted (a second Ctrl-C gives that up); those
                      it cannot release are named on stderr, with how to free
                      them.

A run against --url leaves free locks named bench/<id>/... on the server: a
Locker server lists every lock that was ever held (as free) until it is
forgotten. Forget them with (as the admin, when the server has one)

  locker ls --json | jq -r 'keys[] | select(startswith("bench/"))' |
    xargs -n1 locker forget

or let the server's LOCKER_FORGET_FREE_AFTER do it.

Exit status: 0 done, 1 error (also: requests failed during the measurements),
2 bad command line, 130 interrupted (SIGINT, SIGTERM or SIGHUP).
`

func runBench(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ceiling-server" {
		return runCeilingServer(ctx, args[1:], env, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "profiled-server" {
		return runProfiledServer(ctx, args[1:], env, stdout, stderr)
	}
	fs := flag.NewFlagSet("locker bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		cfg       bench.Config
		scenarios string
		spawn     bool
		asJSON    bool
		out       string
		chartDir  string
		profile   string
		binary    string
		caCert    string
	)
	fs.StringVar(&cfg.URL, "url", env("LOCKER_URL"), "")
	fs.StringVar(&cfg.User, "user", env("LOCKER_USER"), "")
	fs.StringVar(&cfg.Pass, "pass", env("LOCKER_PASS"), "")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "")
	fs.StringVar(&caCert, "ca-cert", env("LOCKER_CA_CERT"), "")
	fs.BoolVar(&cfg.Ceiling, "ceiling", false, "")
	fs.BoolVar(&spawn, "spawn", false, "")
	fs.StringVar(&scenarios, "scenario", "", "")
	fs.DurationVar(&cfg.Load.Duration, "duration", 10*time.Second, "")
	fs.IntVar(&cfg.Load.Concurrency, "concurrency", 8, "")
	fs.IntVar(&cfg.Load.Locks, "locks", 0, "")
	fs.IntVar(&cfg.Prefill, "prefill", 0, "")
	fs.IntVar(&cfg.HeldLocks, "held", 100_000, "")
	fs.BoolVar(&cfg.Load.Shared, "shared", false, "")
	fs.BoolVar(&cfg.Load.Contended, "contended", false, "")
	fs.DurationVar(&cfg.Load.Wait, "wait", 0, "")
	fs.DurationVar(&cfg.Load.Think, "think", 0, "")
	fs.IntVar(&cfg.Runs, "runs", 1, "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.StringVar(&out, "out", "", "")
	fs.StringVar(&chartDir, "chart", "", "")
	fs.BoolVar(&cfg.Keep, "keep", false, "")
	fs.StringVar(&profile, "profile", "", "")
	fs.StringVar(&binary, "binary", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, benchHelp)
			return nil
		}
		fmt.Fprint(stderr, benchHelp)
		return fmt.Errorf("%w: %v", errUsage, dashed(err))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: locker bench takes no arguments (got %q); see locker bench --help", errUsage, fs.Args())
	}
	urlGiven := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "concurrency":
			cfg.ContendedClients = cfg.Load.Concurrency // asked for explicitly
		case "url":
			urlGiven = true
		}
	})
	switch {
	case cfg.Load.Concurrency < 1 || cfg.Load.Locks < 0 || cfg.Prefill < 0 || cfg.Runs < 1 || cfg.HeldLocks < 10:
		return fmt.Errorf("%w: --concurrency and --runs must be at least 1, --held at least 10, --locks and --prefill not negative", errUsage)
	case cfg.Load.Duration <= 0 || cfg.Load.Wait < 0 || cfg.Load.Think < 0:
		return fmt.Errorf("%w: --duration must be positive, --wait and --think not negative", errUsage)
	}
	if scenarios != "" {
		cfg.Scenarios = strings.Split(scenarios, ",")
		for _, name := range cfg.Scenarios {
			switch {
			case !slices.Contains(bench.Scenarios, name):
				return fmt.Errorf("%w: --scenario: unknown scenario %q (known: %s)", errUsage, name, strings.Join(bench.Scenarios, ", "))
			case name == "startup" && !spawn:
				return fmt.Errorf("%w: the startup scenario needs a server the harness starts (--spawn)", errUsage)
			}
		}
	}
	cfg.ListSizes = []int{cfg.HeldLocks / 10, cfg.HeldLocks}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	switch {
	case spawn && urlGiven:
		return fmt.Errorf("%w: --spawn starts a server to measure, --url measures one you run: give one of them", errUsage)
	case spawn && cfg.Keep:
		return fmt.Errorf("%w: --keep leaves locks held on a --url server; a server --spawn starts is stopped, and its data removed, at the end", errUsage)
	case profile != "" && !spawn:
		return fmt.Errorf("%w: --profile needs --spawn (the harness profiles a server it starts)", errUsage)
	case binary != "" && (!spawn || profile != ""):
		return fmt.Errorf("%w: --binary goes with --spawn (and not with --profile)", errUsage)
	case profile != "":
		cfg.Spawn, cfg.URL = []string{exe, "bench", "profiled-server"}, ""
		cfg.Profile = profile
	case spawn && binary != "":
		cfg.Spawn, cfg.URL = []string{binary}, "" // not LOCKER_URL's
	case spawn:
		cfg.Spawn, cfg.URL = []string{exe}, ""
	case cfg.URL == "":
		return fmt.Errorf("%w: give the server to measure with --url (or LOCKER_URL), or --spawn to start one", errUsage)
	}
	if caCert != "" {
		if cfg.CACert, err = readCACert(caCert); err != nil {
			return err
		}
	}
	if !spawn {
		// Checked as the other commands check it (a host:port is
		// taken as http://).
		if _, err := client.New(client.Options{URL: cfg.URL, CACert: cfg.CACert, InsecureSkipVerify: cfg.Insecure}); err != nil {
			return fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), "locker client: "))
		}
	}
	if cfg.Ceiling {
		cfg.CeilingCommand = []string{exe, "bench", "ceiling-server"}
	}
	if out != "" {
		if err := checkOutput("out", out, false); err != nil {
			return err
		}
	}
	if chartDir != "" {
		if err := checkOutput("chart", chartDir, true); err != nil {
			return err
		}
	}
	cfg.Progress = stderr
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	abandon := make(chan struct{})
	cfg.Abandon = abandon
	defer watchSignals(cancel, abandon)()
	rep, err := bench.Run(ctx, cfg)
	if rep == nil {
		return benchFailed(ctx, err, stderr)
	}
	// The report first, so that a file that cannot be written does not
	// lose it. err, if any, is what the run left held on the server.
	var perr error
	if asJSON {
		perr = rep.WriteJSON(stdout)
	} else {
		perr = rep.WriteTable(stdout)
	}
	if perr == nil && out != "" {
		perr = writeReport(out, rep)
	}
	if perr == nil && chartDir != "" {
		perr = bench.WriteCharts(chartDir, rep)
	}
	if err := errors.Join(err, perr); err != nil {
		return benchFailed(ctx, err, stderr)
	}
	return failedRequests(rep, stderr)
}

// benchFailed says on stderr why the run failed, and returns its exit
// status: 130 when it was interrupted (ctx ended), as the other commands.
func benchFailed(ctx context.Context, err error, stderr io.Writer) error {
	msg, code := err.Error(), exitError
	var held *bench.HeldError
	switch {
	case ctx.Err() != nil:
		msg, code = "interrupted", exitInterrupted
		if errors.As(err, &held) {
			msg += "; " + held.Error()
		}
	default:
		msg += connHint(msg)
	}
	fmt.Fprintln(stderr, "locker bench:", msg)
	return ExitError{Code: code, Msg: msg}
}

// checkOutput checks, before the run, that the file flag names can be
// written (for --out), or that the directory dir names can be written in
// (for --chart).
func checkOutput(flag, path string, dir bool) error {
	where := path
	if !dir {
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return fmt.Errorf("%w: --%s %s is a directory; give a file name", errUsage, flag, path)
		}
		where = filepath.Dir(path)
	}
	st, err := os.Stat(where)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: --%s %s: there is no directory %s (create it first)", errUsage, flag, path, where)
	case err != nil:
		return fmt.Errorf("%w: --%s %s: %v", errUsage, flag, path, err)
	case !st.IsDir():
		return fmt.Errorf("%w: --%s %s: %s is not a directory", errUsage, flag, path, where)
	}
	f, err := os.CreateTemp(where, ".locker-bench-*")
	if err != nil {
		return fmt.Errorf("%w: --%s %s: cannot write in %s: %v", errUsage, flag, path, where, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// failedRequests fails the command (exit 1) when requests failed in the
// measurements: the figures count only the others.
func failedRequests(rep *bench.Report, stderr io.Writer) error {
	var n int64
	for _, r := range rep.Results {
		n += r.Errors
	}
	if n == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d requests failed during the measurements (the report's figures count only the others; its errors show the first)", n)
	fmt.Fprintln(stderr, "locker bench:", msg)
	return ExitError{Code: exitError, Msg: msg}
}

// watchSignals cancels the run at the first SIGINT, SIGTERM or SIGHUP (a
// closed terminal: unless ignored, as under nohup), and closes abandon at
// the second: the release of what the harness took, which follows the
// run's end, is then given up. Either way the servers the harness started
// are stopped. The function it returns stops watching.
func watchSignals(cancel context.CancelFunc, abandon chan<- struct{}) func() {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, sigs...)
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sigc:
			case <-done:
				return
			}
			if n == 1 {
				cancel()
				continue
			}
			close(abandon)
			return
		}
	}()
	return func() {
		signal.Stop(sigc)
		close(done)
	}
}

func writeReport(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const ceilingHelp = `Usage: locker bench ceiling-server

Runs the benchmarks' ceiling server: Locker's HTTP API, lock service, logging
and metrics exactly as the server runs them, over an in-memory store that
persists nothing. It measures what the machine's HTTP stack allows, so that a
benchmark can say what fraction of it Locker reaches. NEVER use it for real
locks: a restart loses them all.

It reads the server's environment variables (PORT, LOCKER_LISTEN, AUTH_USER,
AUTH_PASS, ...) except LOCKER_CONFIG and LOCKER_DATABASE_URL.
`

const profiledHelp = `Usage: locker bench profiled-server

Runs the lock server exactly as "locker server" does (same environment
variables), and also serves Go's pprof handlers on a free loopback port,
printed as "pprof at URL" before the server starts. For profiling under the
benchmark's load (locker bench --spawn --profile FILE); not for production.
`

// runProfiledServer runs the server with pprof on a loopback port.
func runProfiledServer(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if args[0] == "--help" || args[0] == "-help" || args[0] == "-h" {
			fmt.Fprint(stdout, profiledHelp)
			return nil
		}
		return fmt.Errorf("%w: locker bench profiled-server takes no arguments (got %q)", errUsage, args)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	// The profiles the harness needs, from runtime/pprof (net/http/pprof
	// would register itself on http.DefaultServeMux of every locker).
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || secs <= 0 {
			secs = 30
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	mux.HandleFunc("GET /debug/pprof/{profile}", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(r.PathValue("profile"))
		if p == nil {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("gc") != "" {
			runtime.GC() // the heap as of now, not as of the last collection
		}
		p.WriteTo(w, 0)
	})
	go http.Serve(ln, mux)
	fmt.Fprintf(stdout, "pprof at http://%s/debug/pprof/\n", ln.Addr())
	return runServer(ctx, nil, env, stdout, stderr)
}

// runCeilingServer serves the API over an in-memory store until ctx ends.
func runCeilingServer(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if args[0] == "--help" || args[0] == "-help" || args[0] == "-h" {
			fmt.Fprint(stdout, ceilingHelp)
			return nil
		}
		return fmt.Errorf("%w: locker bench ceiling-server takes no arguments (got %q)", errUsage, args)
	}
	cfg, err := loadServerConfig(func(k string) string {
		switch k {
		case "LOCKER_CONFIG":
			return "(memory: the benchmarks' ceiling server persists nothing)"
		case "LOCKER_DATABASE_URL":
			return ""
		}
		return env(k)
	})
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if cfg.logJSON {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	cfg.service.Logger = log
	store := memstore.New(memstore.Options{HistoryLimit: cfg.historyLimit})
	return serve(ctx, store, cfg, nil, log, metrics.New(), stdout)
}
