// Package bench is Locker's load harness: it drives any server that speaks
// the seed's HTTP API (Locker, the original locker, a compatible server)
// with concurrent lock/unlock cycles and reports operations per second and
// latency percentiles, as a table or JSON.
//
// Named scenarios (see Scenarios) measure the figures of the performance
// issue: uncontended cycles, the same with 100,000 locks held, a contended
// lock's hand-off time, GET /locks with many locks, and start-up time and
// memory with 100,000 locks. A "ceiling" server — the same HTTP API and
// lock service over an in-memory store that persists nothing — can be
// measured in the same run, so that the report says what fraction of the
// machine's HTTP ceiling the server reaches. Charts (SVG) are drawn from a
// report's JSON by Charts.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config is one harness run.
type Config struct {
	// URL is the server under test (http:// if it has no scheme); with
	// Spawn set it is ignored.
	URL        string
	User, Pass string
	Insecure   bool // do not verify an https server's certificate
	// CACert is a PEM bundle of certificate authorities to trust besides
	// the system's, for an https server.
	CACert []byte

	// Scenarios names the presets to run (see Scenarios); empty runs Load
	// as given, after holding Prefill locks.
	Scenarios []string
	Load      Load
	Prefill   int
	// ContendedClients is the contended preset's number of clients
	// (default 16).
	ContendedClients int
	// Runs repeats each measurement; the report gives the median.
	Runs int
	// HeldLocks is the number of locks the prefilled and startup scenarios
	// hold (default 100,000); ListSizes the numbers of locks the list
	// scenario lists (default 10,000 and 100,000).
	HeldLocks int
	ListSizes []int

	// Ceiling measures the ceiling server too, in the same run.
	Ceiling bool
	// CeilingCommand starts the ceiling server as a process (it must print
	// "listening on URL"); nil runs it inside this process.
	CeilingCommand []string
	// Spawn starts the server under test as a process (the locker binary),
	// with LOCKER_CONFIG in a new temporary directory, instead of using
	// URL. Only then can start-up time and memory be measured.
	Spawn    []string
	SpawnEnv []string
	// Keep leaves the locks the harness prefilled held on a server given
	// by URL (by default they are released at the end, however the run
	// ends).
	Keep bool
	// Abandon, when closed, gives up the giving back of what the harness
	// took (the prefilled locks, and a hold a client had when the run
	// was interrupted) that follows the end of ctx: a second Ctrl-C.
	// Without it, that release is given up after releaseTimeout.
	Abandon <-chan struct{}
	// PrefillConcurrency is the number of connections that take the
	// prefilled locks (default 64).
	PrefillConcurrency int
	// Progress receives progress messages (nil: none).
	Progress io.Writer
	// Profile, with a spawned server that serves pprof (it prints "pprof
	// at URL"), is where to save a CPU profile of the server taken during
	// the first measurement (whichever scenario it belongs to).
	Profile string
}

// Scenarios are the named presets.
var Scenarios = []string{"uncontended", "prefilled", "contended", "list", "startup", "sweep", "all"}

// prefilledLocks is the number of held locks.
const prefilledLocks = 100_000

// Result is one measurement: a scenario step against one target, the
// median of its runs.
type Result struct {
	Scenario    string `json:"scenario"`
	Target      string `json:"target"`
	Kind        string `json:"kind"` // cycles, list or startup
	Held        int    `json:"held_locks"`
	Concurrency int    `json:"concurrency,omitempty"`
	Locks       int    `json:"locks,omitempty"`
	Shared      bool   `json:"shared,omitempty"`
	Contended   bool   `json:"contended,omitempty"`
	Wait        string `json:"wait,omitempty"`
	Think       string `json:"think,omitempty"`

	Seconds   float64  `json:"seconds,omitempty"`
	Ops       int64    `json:"ops,omitempty"`
	Cycles    int64    `json:"cycles,omitempty"`
	OpsPerSec float64  `json:"ops_per_sec,omitempty"`
	Errors    int64    `json:"errors"`
	Refused   int64    `json:"refused,omitempty"`
	Latency   Latency  `json:"latency_ms"`
	Handoff   *Latency `json:"handoff_ms,omitempty"`
	// HandoffsPerSec is the contended lock's hand-offs per second.
	HandoffsPerSec float64      `json:"handoffs_per_sec,omitempty"`
	List           *ListFigures `json:"list,omitempty"`
	StartupMS      float64      `json:"startup_ms,omitempty"`
	RSSMiB         float64      `json:"rss_mib,omitempty"`
	PeakRSSMiB     float64      `json:"peak_rss_mib,omitempty"`
	// CeilingRatio is this target's ops/s over the ceiling server's, each
	// pair measured back to back (median over runs).
	CeilingRatio float64  `json:"ceiling_ratio,omitempty"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// ServerCPU and ClientCPU are the CPU time (user and system) the server
	// (when the harness started it) and the harness itself used per
	// operation, in microseconds; none for a list result (its CPU is mostly
	// the listing's).
	ServerCPU float64 `json:"server_cpu_us_per_op,omitempty"`
	ClientCPU float64 `json:"client_cpu_us_per_op,omitempty"`
	// ServerSwitches is how many times per operation the server's threads
	// gave up their CPU (context switches, /proc/PID/task/*/status), when
	// the harness started it. Each costs the kernel's switch, and on a
	// virtual machine often the waking of a halted vCPU: the part of the
	// CPU per operation a profile of the Go code does not show.
	ServerSwitches float64 `json:"server_switches_per_op,omitempty"`
	// LoadAvg is the machine's load average (1, 5, 15 minutes) when the
	// measurement ended: the machine may be shared.
	LoadAvg string `json:"load_avg,omitempty"`
	// Runs are the single runs, when there were several.
	Runs []Result `json:"runs,omitempty"`
}

// ListFigures is what the list scenario measures.
type ListFigures struct {
	// Entries is the number of locks in the response.
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
	// Alone is GET /locks with nothing else running; UnderLoad while the
	// clients run lock/unlock cycles (whose latency is the Result's).
	Alone     Latency `json:"alone_ms"`
	UnderLoad Latency `json:"under_load_ms"`
}

// Machine describes where the harness ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GoVersion  string `json:"go"`
	OS         string `json:"os"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// Report is a harness run.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Target   string    `json:"target"` // the URL, or "spawned: <command>"
	Ceiling  string    `json:"ceiling,omitempty"`
	Duration string    `json:"duration"`
	Runs     int       `json:"runs"`
	// Combined says, with several runs, how each result's figures were
	// drawn from its runs'.
	Combined string   `json:"combined,omitempty"`
	Results  []Result `json:"results"`
}

// step is one measurement of a scenario, run against every target.
type step struct {
	scenario string
	kind     string // cycles, list, startup
	held     int
	load     Load
}

func (s step) same(o step) bool {
	return s.kind == o.kind && s.held == o.held && s.load == o.load
}

// plan turns the configured scenarios into steps, in order of held locks
// (locks are only ever added).
func plan(cfg Config) ([]step, error) {
	base := cfg.Load
	base.Locks, base.Shared, base.Contended, base.Wait, base.Think = 0, false, false, 0, 0
	var steps []step
	add := func(s step) {
		for _, o := range steps {
			if o.same(s) {
				return
			}
		}
		steps = append(steps, s)
	}
	if len(cfg.Scenarios) == 0 {
		add(step{"custom", "cycles", cfg.Prefill, cfg.Load})
	}
	var expand func(name string) error
	expand = func(name string) error {
		switch name {
		case "uncontended":
			add(step{name, "cycles", 0, base})
		case "prefilled":
			add(step{"uncontended", "cycles", 0, base})
			add(step{name, "cycles", cfg.HeldLocks, base})
		case "contended":
			l := base
			l.Concurrency, l.Contended, l.Wait = cfg.ContendedClients, true, 10*time.Second
			add(step{name, "cycles", 0, l})
		case "list":
			for _, n := range cfg.ListSizes {
				add(step{name, "list", n, base})
			}
		case "startup":
			if cfg.Spawn == nil {
				return errors.New("the startup scenario needs a server the harness starts (--spawn)")
			}
			add(step{name, "startup", cfg.HeldLocks, Load{}})
		case "sweep":
			for _, c := range []int{1, 2, 4, 8, 16} {
				l := base
				l.Concurrency = c
				add(step{name, "cycles", 0, l})
			}
			for _, h := range []int{cfg.HeldLocks / 100, cfg.HeldLocks / 10, cfg.HeldLocks} {
				add(step{name, "cycles", h, base})
			}
		case "all":
			for _, n := range []string{"uncontended", "contended", "prefilled", "list"} {
				expand(n)
			}
			if cfg.Spawn != nil {
				expand("startup")
			}
		default:
			return fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(Scenarios, ", "))
		}
		return nil
	}
	for _, name := range cfg.Scenarios {
		if err := expand(name); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(steps, func(i, j int) bool {
		if steps[i].held != steps[j].held {
			return steps[i].held < steps[j].held
		}
		return steps[i].kind != "startup" && steps[j].kind == "startup"
	})
	return steps, nil
}

func (cfg *Config) defaults() {
	if cfg.Load.Concurrency <= 0 {
		cfg.Load.Concurrency = 8
	}
	if cfg.Load.Duration <= 0 {
		cfg.Load.Duration = 10 * time.Second
	}
	if cfg.Load.Contended && cfg.Load.Wait <= 0 {
		cfg.Load.Wait = 10 * time.Second
	}
	if cfg.ContendedClients <= 0 {
		cfg.ContendedClients = 16
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	if cfg.HeldLocks <= 0 {
		cfg.HeldLocks = prefilledLocks
	}
	if len(cfg.ListSizes) == 0 {
		cfg.ListSizes = []int{10_000, prefilledLocks}
	}
	if cfg.PrefillConcurrency <= 0 {
		cfg.PrefillConcurrency = 64
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	// Clients that give back their locks, and the release's note of an
	// interruption, write from their own goroutines.
	cfg.Progress = &lockedWriter{w: cfg.Progress}
}

// lockedWriter serializes writes to w, and knows whether the last one
// ended its line.
type lockedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	midLine bool
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(p)
}

func (l *lockedWriter) write(p []byte) (int, error) {
	if len(p) > 0 {
		l.midLine = p[len(p)-1] != '\n'
	}
	return l.w.Write(p)
}

// line writes a line of its own: after a newline if the progress is in the
// middle of one ("run 1 of 1..."). An empty text only ends that line.
func (l *lockedWriter) line(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.midLine {
		l.write([]byte("\n"))
	}
	if text != "" {
		l.write([]byte(text + "\n"))
	}
}

// note writes a line of progress of its own (see lockedWriter.line).
func (cfg Config) note(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if l, ok := cfg.Progress.(*lockedWriter); ok {
		l.line(text)
		return
	}
	fmt.Fprintln(cfg.Progress, text)
}

// endLine ends the progress line, if one is open.
func (cfg Config) endLine() {
	if l, ok := cfg.Progress.(*lockedWriter); ok {
		l.line("")
	}
}

// Run runs the configured scenarios and returns the report.
//
// The locks the harness prefilled on a server given by URL are released
// however the run ends (unless Keep): when ctx ends too, for up to
// releaseTimeout or until Abandon is closed. Those it could not release
// are returned as a *HeldError, with the report when the run had
// completed.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	cfg.defaults()
	steps, err := plan(cfg)
	if err != nil {
		return nil, err
	}
	rep = &Report{Started: time.Now().UTC(), Machine: machine(), Duration: cfg.Load.Duration.String(), Runs: cfg.Runs}
	if cfg.Runs > 1 {
		rep.Combined = combinedRuns
	}
	prefix := "bench/" + runID() + "/"

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	primary, err := cfg.startPrimary(ctx)
	if err != nil {
		return nil, err
	}
	targets = append(targets, primary)
	if cfg.Spawn == nil && !cfg.Keep {
		// Whatever ends the run: an error, ctx, or success.
		defer func() {
			if herr := cfg.release(ctx, primary, prefix); herr != nil {
				err = errors.Join(err, herr)
			}
		}()
	}
	rep.Target = redact(primary.url)
	if cfg.Spawn != nil {
		rep.Target = "spawned: " + strings.Join(cfg.Spawn, " ")
	}
	if cfg.Ceiling {
		ceil, err := cfg.startCeiling(ctx)
		if err != nil {
			return nil, err
		}
		targets = append(targets, ceil)
		rep.Ceiling = "in-memory store, same HTTP API and lock service"
		if cfg.CeilingCommand != nil {
			rep.Ceiling += ": " + strings.Join(cfg.CeilingCommand, " ")
		}
	}

	for _, st := range steps {
		if st.kind == "startup" {
			r, err := cfg.startup(ctx, primary, st, prefix)
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, r)
			continue
		}
		for _, t := range targets {
			if err := cfg.prefillTo(ctx, t, st.held, prefix); err != nil {
				return nil, err
			}
		}
		runs := make([][]Result, len(targets))
		for run := range cfg.Runs {
			for i, t := range targets {
				fmt.Fprintf(cfg.Progress, "%s: %s, %d held, %d clients, run %d of %d...", st.scenario, t.name, st.held, st.load.Concurrency, run+1, cfg.Runs)
				r, err := cfg.measure(ctx, t, st, prefix)
				if err != nil {
					cfg.endLine()
					return nil, err
				}
				fmt.Fprintf(cfg.Progress, " %.0f ops/s, p99 %.2f ms, %d errors\n", r.OpsPerSec, r.Latency.P99, r.Errors)
				runs[i] = append(runs[i], r)
			}
			if len(targets) > 1 && runs[1][run].OpsPerSec > 0 {
				runs[0][run].CeilingRatio = round3(runs[0][run].OpsPerSec / runs[1][run].OpsPerSec)
			}
		}
		for i := range targets {
			rep.Results = append(rep.Results, combine(runs[i]))
		}
	}
	if cfg.Keep && cfg.Spawn == nil && primary.taken > 0 {
		fmt.Fprintf(cfg.Progress, "left the %d locks the harness took on %s held (--keep): %s\n", primary.taken, redact(primary.url), heldNames(prefix, primary.taken))
	}
	rep.Machine.LoadAfter = loadavg()
	rep.Finished = time.Now().UTC()
	return rep, nil
}

func (cfg Config) startPrimary(ctx context.Context) (*target, error) {
	if cfg.Spawn == nil {
		if cfg.URL == "" {
			return nil, errors.New("no server to measure: give its URL (--url) or let the harness start one (--spawn)")
		}
		u := cfg.URL
		if !strings.Contains(u, "://") {
			u = "http://" + u // host:port, as the client takes it
		}
		return newTarget("server", u, cfg, nil, func() {})
	}
	dir, err := os.MkdirTemp("", "locker-bench-")
	if err != nil {
		return nil, err
	}
	env := append([]string{"LOCKER_CONFIG=" + dir + "/locks.yml"}, cfg.SpawnEnv...)
	if cfg.User != "" {
		env = append(env, "AUTH_USER="+cfg.User, "AUTH_PASS="+cfg.Pass)
	}
	p, _, err := startProcess(ctx, cfg.Spawn, env, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "started %s at %s (data in %s)\n", cfg.Spawn[0], p.url, dir)
	return newTarget("locker", p.url, cfg, p, func() {
		p.stop()
		os.RemoveAll(dir)
	})
}

func (cfg Config) startCeiling(ctx context.Context) (*target, error) {
	if cfg.CeilingCommand == nil {
		u, stop, err := StartCeiling("127.0.0.1:0", credentials(cfg))
		if err != nil {
			return nil, fmt.Errorf("starting the ceiling server: %v", err)
		}
		return newTarget("ceiling", u, cfg, nil, stop)
	}
	dir, err := os.MkdirTemp("", "locker-bench-ceiling-")
	if err != nil {
		return nil, err
	}
	var env []string
	if cfg.User != "" {
		env = append(env, "AUTH_USER="+cfg.User, "AUTH_PASS="+cfg.Pass)
	}
	p, _, err := startProcess(ctx, cfg.CeilingCommand, env, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting the ceiling server: %v", err)
	}
	fmt.Fprintf(cfg.Progress, "started the ceiling server at %s (log in %s)\n", p.url, dir)
	return newTarget("ceiling", p.url, cfg, p, func() {
		p.stop()
		os.RemoveAll(dir)
	})
}

func newTarget(name, u string, cfg Config, p *process, stop func()) (*target, error) {
	ep, err := newEndpoint(u, cfg.User, cfg.Pass, cfg.Insecure, cfg.CACert)
	if err != nil {
		stop()
		return nil, err
	}
	return &target{name: name, url: u, ep: ep, proc: p, stop: stop}, nil
}

// prefillTo makes the harness hold n locks on t.
func (cfg Config) prefillTo(ctx context.Context, t *target, n int, prefix string) error {
	if n <= t.held {
		return nil
	}
	fmt.Fprintf(cfg.Progress, "%s: taking %d locks...", t.name, n-t.held)
	start := time.Now()
	_, tried, err := prefill(ctx, t.ep, prefix+"held-", t.held, n, cfg.PrefillConcurrency, "PUT")
	t.taken = max(t.taken, tried)
	if err != nil {
		cfg.endLine()
		return fmt.Errorf("%s: taking %d locks: %v", t.name, n-t.held, err)
	}
	took := time.Since(start)
	fmt.Fprintf(cfg.Progress, " %.1fs (%.0f/s)\n", took.Seconds(), float64(n-t.held)/took.Seconds())
	t.held = n
	return nil
}

// releaseTimeout bounds the release of the prefilled locks.
const releaseTimeout = 2 * time.Minute

// prefillKey is the key (and holder) the prefilled locks are held under.
const prefillKey = "bench-prefill"

// errAbandoned is the cause of a release given up by Config.Abandon.
var errAbandoned = errors.New("given up (interrupted again)")

// cleanupContext is for giving back what the harness took, also once ctx
// has ended: it ends d after it was made, or when cfg.Abandon is closed.
func (cfg Config) cleanupContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	c, cancel := context.WithTimeoutCause(c, d, fmt.Errorf("not done within %s", d))
	if cfg.Abandon != nil {
		go func() {
			select {
			case <-cfg.Abandon:
				cancelCause(errAbandoned)
			case <-c.Done():
			}
		}()
	}
	return c, func() {
		cancel()
		cancelCause(context.Canceled)
	}
}

// release gives back the locks the harness took on t (a server given by
// URL): locks 0 to t.taken-1, some perhaps never taken when the prefill
// was cut short (releasing those changes nothing).
func (cfg Config) release(ctx context.Context, t *target, prefix string) error {
	n := t.taken
	if n == 0 {
		return nil
	}
	if ctx.Err() != nil {
		cfg.note("interrupted: releasing the %d locks the harness took on %s (interrupt again to give up, leaving them held)", n, redact(t.url))
	} else {
		cfg.note("releasing the %d locks the harness took on %s", n, redact(t.url))
		stop := context.AfterFunc(ctx, func() {
			cfg.note("interrupted: still releasing the %d locks the harness took (interrupt again to give up, leaving them held)", n)
		})
		defer stop()
	}
	rctx, cancel := cfg.cleanupContext(ctx, releaseTimeout)
	defer cancel()
	released, _, err := prefill(rctx, t.ep, prefix+"held-", 0, n, cfg.PrefillConcurrency, "DELETE")
	if err == nil {
		t.taken, t.held = 0, 0
		return nil
	}
	if rctx.Err() != nil {
		err = context.Cause(rctx)
	}
	return &HeldError{URL: redact(t.url), Prefix: prefix + "held-", N: n, Released: released, Err: err}
}

// HeldError is locks the harness took on the server that it could not
// release at the end of the run: they stay held, with no lease, until
// released by hand.
type HeldError struct {
	URL      string // the server, without credentials
	Prefix   string // the locks are named Prefix+"0" to Prefix+(N-1)
	N        int
	Released int // how many of them were released
	Err      error
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("releasing the locks the harness took on %s: %v; up to %d of the %d (%s%d to %s%d) are still held, under key %q with no lease; free them with\n"+
		"  for i in $(seq 0 %d); do locker unlock \"%s$i\" --key %s --url %s; done",
		e.URL, e.Err, e.N-e.Released, e.N, e.Prefix, 0, e.Prefix, e.N-1, prefillKey, e.N-1, e.Prefix, prefillKey, e.URL)
}

func (e *HeldError) Unwrap() error { return e.Err }

// heldNames names the prefilled locks 0 to n-1.
func heldNames(prefix string, n int) string {
	return fmt.Sprintf("%sheld-0 to %sheld-%d, key %q", prefix, prefix, n-1, prefillKey)
}

// redact is a URL without the password in it.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return raw
}

// measure runs one step once against t.
func (cfg Config) measure(ctx context.Context, t *target, st step, prefix string) (Result, error) {
	r := Result{Scenario: st.scenario, Target: t.name, Kind: st.kind, Held: t.held, Concurrency: st.load.Concurrency,
		Locks: st.load.Locks, Shared: st.load.Shared, Contended: st.load.Contended}
	if st.load.Wait > 0 {
		r.Wait = st.load.Wait.String()
	}
	if st.load.Think > 0 {
		r.Think = st.load.Think.String()
	}
	names := prefix + "c" + fmt.Sprint(st.load.Concurrency) + "-"
	if st.load.Contended {
		names = prefix + "contended-"
	}
	var lr loadResult
	var err error
	var serverCPU0 time.Duration
	var switches0 int64
	if t.proc != nil {
		serverCPU0, _ = t.proc.cpu()
		switches0, _ = t.proc.switches()
	}
	clientCPU0 := selfCPU()
	if cfg.Profile != "" && t.proc != nil && t.proc.pprof != "" {
		done := cfg.profile(ctx, t.proc.pprof, st.load.Duration)
		defer func() { <-done }()
		t.proc.pprof = "" // one profile
	}
	if st.kind == "list" {
		r.List, lr, err = listUnderLoad(ctx, cfg, t.ep, st.load, names)
	} else {
		lr, err = cycles(ctx, cfg, t.ep, st.load, names)
	}
	if err != nil {
		return r, err
	}
	// While listing, most of the CPU is the GET /locks work, which is no
	// lock operation: no per-operation figure then.
	if lr.ops > 0 && st.kind != "list" {
		r.ClientCPU = round3(float64(selfCPU()-clientCPU0) / float64(lr.ops) / 1e3)
		if t.proc != nil {
			if c, err := t.proc.cpu(); err == nil {
				r.ServerCPU = round3(float64(c-serverCPU0) / float64(lr.ops) / 1e3)
			}
			if n, err := t.proc.switches(); err == nil && switches0 > 0 {
				r.ServerSwitches = round3(float64(n-switches0) / float64(lr.ops))
			}
		}
	}
	r.Seconds = round3(lr.elapsed.Seconds())
	r.Ops, r.Cycles, r.Errors, r.Refused = lr.ops, lr.cycles, lr.errors, lr.refused
	if lr.elapsed > 0 {
		r.OpsPerSec = round3(float64(lr.ops) / lr.elapsed.Seconds())
		if st.load.Contended {
			r.HandoffsPerSec = round3(float64(lr.cycles) / lr.elapsed.Seconds())
		}
	}
	r.Latency, r.Handoff, r.ErrorSamples = lr.latency, lr.handoff, lr.errorSamples
	if t.proc != nil {
		r.RSSMiB, r.PeakRSSMiB, _ = t.proc.memory()
	}
	r.LoadAvg = loadavg()
	return r, nil
}

// profile saves a CPU profile of the server taken over d (whole seconds)
// to cfg.Profile. The channel is closed when it is done.
func (cfg Config) profile(ctx context.Context, pprofURL string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	secs := max(1, int(d.Seconds()))
	go func() {
		defer close(done)
		err := func() error {
			req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(pprofURL, "/")+"/profile?seconds="+strconv.Itoa(secs), nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %s", resp.Status)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			return os.WriteFile(cfg.Profile, b, 0o644)
		}()
		if err != nil {
			fmt.Fprintf(cfg.Progress, "(profiling the server failed: %v)", err)
		} else {
			fmt.Fprintf(cfg.Progress, "(CPU profile of the server over %ds in %s)", secs, cfg.Profile)
		}
	}()
	return done
}

// listUnderLoad measures GET /locks alone, then while clients run
// lock/unlock cycles.
func listUnderLoad(ctx context.Context, cfg Config, ep *endpoint, l Load, names string) (*ListFigures, loadResult, error) {
	cn := ep.newConn()
	defer cn.Close()
	lf := &ListFigures{}
	// One untimed request that checks the answer.
	resp, err := cn.do(ctx, "GET", "/locks", nil, false)
	if err != nil {
		return nil, loadResult{}, fmt.Errorf("GET /locks: %v", err)
	}
	if resp.status != 200 {
		return nil, loadResult{}, fmt.Errorf("GET /locks: %s", answer(resp))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(resp.body, &m); err != nil {
		return nil, loadResult{}, fmt.Errorf("GET /locks: %v", err)
	}
	lf.Entries, lf.Bytes = len(m), resp.size
	m = nil
	var alone []time.Duration
	for range 5 {
		t0 := time.Now()
		resp, err := cn.do(ctx, "GET", "/locks", nil, true)
		if err != nil {
			return nil, loadResult{}, fmt.Errorf("GET /locks: %v", err)
		}
		if resp.status != 200 {
			return nil, loadResult{}, fmt.Errorf("GET /locks: %s", answer(resp))
		}
		alone = append(alone, time.Since(t0))
	}
	lf.Alone = summarize(alone)

	lctx, stop := context.WithCancel(ctx)
	var under []time.Duration
	var listErr error
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		for lctx.Err() == nil {
			t0 := time.Now()
			resp, err := cn.do(lctx, "GET", "/locks", nil, true)
			if lctx.Err() != nil {
				return
			}
			if err != nil {
				listErr = fmt.Errorf("GET /locks under load: %v", err)
				return
			}
			if resp.status != 200 {
				listErr = fmt.Errorf("GET /locks under load: %s", answer(resp))
				return
			}
			under = append(under, time.Since(t0))
		}
	}()
	lr, err := cycles(ctx, cfg, ep, l, names)
	stop()
	<-listed
	if err != nil {
		return nil, lr, err
	}
	if listErr != nil {
		return nil, lr, listErr
	}
	lf.UnderLoad = summarize(under)
	return lf, lr, nil
}

// startup measures the spawned server's start-up time and memory with
// st.held locks: it stops the server and starts it again, Runs times.
func (cfg Config) startup(ctx context.Context, t *target, st step, prefix string) (Result, error) {
	if err := cfg.prefillTo(ctx, t, st.held, prefix); err != nil {
		return Result{}, err
	}
	var runs []Result
	for run := range cfg.Runs {
		r := Result{Scenario: st.scenario, Target: t.name, Kind: st.kind, Held: t.held}
		if err := t.proc.stop(); err != nil {
			return r, err
		}
		took, err := t.proc.start(ctx)
		if err != nil {
			return r, err
		}
		t.url = t.proc.url
		if t.ep, err = newEndpoint(t.url, cfg.User, cfg.Pass, cfg.Insecure, cfg.CACert); err != nil {
			return r, err
		}
		r.StartupMS = ms(took)
		r.RSSMiB, r.PeakRSSMiB, _ = t.proc.memory()
		r.LoadAvg = loadavg()
		// Check that every lock came back.
		cn := t.ep.newConn()
		resp, err := cn.do(ctx, "GET", "/locks", nil, false)
		cn.Close()
		if err != nil {
			return r, fmt.Errorf("GET /locks after restart: %v", err)
		}
		if resp.status != 200 {
			return r, fmt.Errorf("GET /locks after restart: %s", answer(resp))
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(resp.body, &m); err != nil {
			return r, fmt.Errorf("GET /locks after restart: %v", err)
		}
		if len(m) < t.held {
			r.Errors++
			r.ErrorSamples = append(r.ErrorSamples, fmt.Sprintf("%d locks after restart, want at least %d", len(m), t.held))
		}
		fmt.Fprintf(cfg.Progress, "startup: %s with %d locks, run %d of %d: %.0f ms, RSS %.1f MiB\n", t.name, t.held, run+1, cfg.Runs, r.StartupMS, r.RSSMiB)
		runs = append(runs, r)
	}
	return combine(runs), nil
}

// combinedRuns says how combine reduces runs (Report.Combined).
const combinedRuns = "each figure is the median over the runs, except: latency max is the highest of any run; " +
	"ops, cycles, errors, refused, seconds and the latencies' n are sums over the runs (so ops/seconds is not ops_per_sec)"

// combine reduces runs of one step to one result: see combinedRuns.
func combine(runs []Result) Result {
	if len(runs) == 1 {
		return runs[0]
	}
	r := runs[0]
	r.Runs = slices.Clone(runs)
	r.ErrorSamples = nil
	med := func(f func(Result) float64) float64 {
		xs := make([]float64, len(runs))
		for i, x := range runs {
			xs[i] = f(x)
		}
		return round3(median(xs))
	}
	medLat := func(f func(Result) *Latency) *Latency {
		if f(runs[0]) == nil {
			return nil
		}
		g := func(h func(Latency) float64) float64 {
			return med(func(x Result) float64 {
				if l := f(x); l != nil {
					return h(*l)
				}
				return 0
			})
		}
		// Counts add up, the maximum is the highest of any run; the
		// rest are medians.
		n, hi := 0, 0.0
		for _, x := range runs {
			if l := f(x); l != nil {
				n += l.N
				hi = max(hi, l.Max)
			}
		}
		return &Latency{
			N:    n,
			P50:  g(func(l Latency) float64 { return l.P50 }),
			P90:  g(func(l Latency) float64 { return l.P90 }),
			P99:  g(func(l Latency) float64 { return l.P99 }),
			Max:  hi,
			Mean: g(func(l Latency) float64 { return l.Mean }),
		}
	}
	r.Seconds, r.Ops, r.Cycles, r.Errors, r.Refused = 0, 0, 0, 0, 0
	for _, x := range runs {
		r.Seconds += x.Seconds
		r.Ops += x.Ops
		r.Cycles += x.Cycles
		r.Errors += x.Errors
		r.Refused += x.Refused
		if len(r.ErrorSamples) < 5 {
			r.ErrorSamples = append(r.ErrorSamples, x.ErrorSamples...)
		}
	}
	r.Seconds = round3(r.Seconds)
	r.OpsPerSec = med(func(x Result) float64 { return x.OpsPerSec })
	r.HandoffsPerSec = med(func(x Result) float64 { return x.HandoffsPerSec })
	r.Latency = *medLat(func(x Result) *Latency { return &x.Latency })
	r.Handoff = medLat(func(x Result) *Latency { return x.Handoff })
	if runs[0].List != nil {
		lf := *runs[0].List
		lf.Alone = *medLat(func(x Result) *Latency { return &x.List.Alone })
		lf.UnderLoad = *medLat(func(x Result) *Latency { return &x.List.UnderLoad })
		r.List = &lf
	}
	r.StartupMS = med(func(x Result) float64 { return x.StartupMS })
	r.RSSMiB = med(func(x Result) float64 { return x.RSSMiB })
	r.PeakRSSMiB = med(func(x Result) float64 { return x.PeakRSSMiB })
	r.CeilingRatio = med(func(x Result) float64 { return x.CeilingRatio })
	r.ServerCPU = med(func(x Result) float64 { return x.ServerCPU })
	r.ClientCPU = med(func(x Result) float64 { return x.ClientCPU })
	r.ServerSwitches = med(func(x Result) float64 { return x.ServerSwitches })
	for i := range r.Runs {
		r.Runs[i].ErrorSamples = nil
	}
	return r
}

func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
