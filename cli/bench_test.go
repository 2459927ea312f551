package cli

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/bench"
	"github.com/cloudfoundry-community/locker/httpapi"
)

func benchRun(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), append([]string{"locker", "bench"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestBenchAgainstAServerByURL(t *testing.T) {
	u, stop, err := bench.StartCeiling("127.0.0.1:0", httpapi.Credentials{User: "u", Pass: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	out := filepath.Join(t.TempDir(), "report.json")
	charts := t.TempDir()
	// The URL and credentials from the environment, as the other client
	// commands take them.
	env := map[string]string{"LOCKER_URL": u, "LOCKER_USER": "u", "LOCKER_PASS": "p"}
	stdout, stderr, err := benchRun(t, env, "--duration", "200ms", "--concurrency", "2", "--runs", "2", "--json", "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rep, err := bench.ReadReport(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(rep.Results) != 1 || rep.Runs != 2 || rep.Target != u {
		t.Fatalf("report: %+v", rep)
	}
	r := rep.Results[0]
	if r.Ops <= 0 || r.Cycles <= 0 || r.Errors != 0 || r.Concurrency != 2 || r.Latency.P99 <= 0 || len(r.Runs) != 2 {
		t.Errorf("result: %+v", r)
	}
	if !strings.Contains(stderr, "run 2 of 2") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if saved, err := bench.ReadReport(f); err != nil || len(saved.Results) != 1 || saved.Results[0].OpsPerSec != r.OpsPerSec {
		t.Errorf("--out file: %+v %v", saved, err)
	}

	// The sweep (with few held locks), as a table, and drawn as charts.
	stdout, stderr, err = benchRun(t, env, "--scenario", "sweep", "--held", "100", "--duration", "100ms", "--chart", charts)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"sweep", "server", "ops/s", "p99"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^ *sweep +server`).FindAllString(stdout, -1)); n != 8 {
		t.Errorf("%d sweep rows, want 8 (5 concurrencies, 3 numbers of held locks):\n%s", n, stdout)
	}
	for _, name := range []string{"bench-held.svg", "bench-concurrency.svg"} {
		if b, err := os.ReadFile(filepath.Join(charts, name)); err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBenchCommandLineMistakes(t *testing.T) {
	for _, args := range [][]string{
		{},                             // no server
		{"--url", "http://x", "extra"}, // an argument
		{"--url", "http://x", "--concurrency", "0"},
		{"--url", "http://x", "--duration", "-1s"},
		{"--url", "http://x", "--think", "-1ms"},
		{"--url", "http://x", "--nonsense"},
		{"--url", "http://x", "--profile", "/tmp/p"},   // --profile needs --spawn
		{"--url", "http://x", "--binary", "/bin/true"}, // --binary needs --spawn
		{"--url", "http://x", "--scenario", "bogus"},
		{"--url", "http://x", "--scenario", "uncontended,bogus"},
		{"--url", "http://x", "--scenario", "startup"}, // startup needs --spawn
		{"--url", "http://"},                           // no host
		{"--url", "ftp://x"},
	} {
		_, stderr, err := benchRun(t, nil, args...)
		var exit ExitError
		if !errors.As(err, &exit) || exit.Code != 2 || !strings.Contains(stderr, "locker:") {
			t.Errorf("locker bench %q: %v (%s), want a usage error (exit status 2)", args, err, stderr)
		}
	}
	_, stderr, _ := benchRun(t, nil, "--url", "http://x", "--scenario", "bogus")
	if !strings.Contains(stderr, `unknown scenario "bogus" (known: uncontended,`) {
		t.Errorf("--scenario bogus: %s", stderr)
	}
	_, stderr, _ = benchRun(t, nil, "--url", "http://127.0.0.1:1", "--scenario", "startup")
	if !strings.Contains(stderr, "--spawn") {
		t.Errorf("startup without --spawn: %s", stderr)
	}
	stdout, _, err := benchRun(t, nil, "--help")
	if err != nil || !strings.Contains(stdout, "ceiling") || !strings.Contains(stdout, "--scenario") || !strings.Contains(stdout, "--think D") {
		t.Errorf("--help: %v\n%s", err, stdout)
	}
}

// TestBenchListSizesAreAsTheHelpSays: with --held N, the list scenario
// lists N/10 and N locks, as --help says.
func TestBenchListSizesAreAsTheHelpSays(t *testing.T) {
	stdout, _, _ := benchRun(t, nil, "--help")
	if !strings.Contains(stdout, "the list scenario uses N/10 too") {
		t.Errorf("--help does not say the list scenario uses N/10:\n%s", stdout)
	}
	u, stop, err := bench.StartCeiling("127.0.0.1:0", httpapi.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stdout, stderr, err := benchRun(t, nil, "--url", u, "--scenario", "list", "--held", "100", "--duration", "100ms", "--concurrency", "1", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rep, err := bench.ReadReport(strings.NewReader(stdout))
	if err != nil || len(rep.Results) != 2 || rep.Results[0].Held != 10 || rep.Results[1].Held != 100 {
		t.Errorf("list scenario with --held 100: %+v %v", rep, err)
	}
}

// TestBenchFailsWhenRequestsFailed: a run in which requests failed prints
// its report, then exits 1 saying how many failed.
func TestBenchFailsWhenRequestsFailed(t *testing.T) {
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == "PUT" && puts.Add(1) > 1 && puts.Load()%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"the disk is full"}`)
			return
		}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	stdout, stderr, err := benchRun(t, nil, "--url", srv.URL, "--duration", "200ms", "--concurrency", "1")
	var exit ExitError
	if !errors.As(err, &exit) || exit.Code != 1 {
		t.Errorf("err %v, want exit status 1", err)
	}
	if !strings.Contains(stdout, "ops/s") || !strings.Contains(stdout, "status 503 (Service Unavailable): the disk is full") {
		t.Errorf("no report with the errors:\n%s", stdout)
	}
	if !regexp.MustCompile(`locker bench: \d+ requests failed during the measurements`).MatchString(stderr) {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestBenchChecksOutputPathsFirst: --out or --chart that cannot be written
// is a usage error before anything is run (the server here would refuse
// the connection).
func TestBenchChecksOutputPathsFirst(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct{ flag, path, want string }{
		{"--out", filepath.Join(missing, "r.json"), "there is no directory " + missing},
		{"--chart", missing, "there is no directory " + missing},
		{"--out", t.TempDir(), "is a directory"},
	} {
		_, stderr, err := benchRun(t, nil, "--url", "http://127.0.0.1:1", "--duration", "1m", c.flag, c.path)
		var exit ExitError
		if !errors.As(err, &exit) || exit.Code != 2 || !strings.Contains(stderr, c.flag+" "+c.path) || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %s: %v\n%s", c.flag, c.path, err, stderr)
		}
	}
}

// TestBenchPrintsTheReportBeforeWritingFiles: a chart that cannot be drawn
// (no sweep in the results) fails the command, after the report.
func TestBenchPrintsTheReportBeforeWritingFiles(t *testing.T) {
	u, stop, err := bench.StartCeiling("127.0.0.1:0", httpapi.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stdout, _, err := benchRun(t, nil, "--url", u, "--duration", "100ms", "--concurrency", "1", "--chart", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no chart to draw") {
		t.Errorf("err %v, want no chart to draw", err)
	}
	if !strings.Contains(stdout, "ops/s") {
		t.Errorf("no report:\n%s", stdout)
	}
}

// TestBenchInterrupted: a run whose context ends (Ctrl-C) says
// "interrupted" and exits 130, as the other commands do.
func TestBenchInterrupted(t *testing.T) {
	u, stop, err := bench.StartCeiling("127.0.0.1:0", httpapi.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	var stdout, stderr bytes.Buffer
	err = Run(ctx, []string{"locker", "bench", "--url", u, "--duration", "1m", "--concurrency", "1"}, func(string) string { return "" }, &stdout, &stderr)
	var exit ExitError
	if !errors.As(err, &exit) || exit.Code != 130 || !strings.HasSuffix(stderr.String(), "\nlocker bench: interrupted\n") {
		t.Errorf("err %v, want exit status 130 and \"interrupted\":\n%s", err, stderr.String())
	}
}

// TestBenchTakesAHostAndPort: --url without a scheme is http://, as for the
// other commands.
func TestBenchTakesAHostAndPort(t *testing.T) {
	u, stop, err := bench.StartCeiling("127.0.0.1:0", httpapi.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	hostPort := strings.TrimPrefix(u, "http://")
	stdout, stderr, err := benchRun(t, nil, "--url", hostPort, "--duration", "100ms", "--concurrency", "1", "--json")
	if err != nil {
		t.Fatalf("--url %s: %v\n%s", hostPort, err, stderr)
	}
	rep, err := bench.ReadReport(strings.NewReader(stdout))
	if err != nil || rep.Target != u || rep.Results[0].Ops == 0 {
		t.Errorf("report %+v, %v", rep, err)
	}
}

// TestBenchTrustsTheCACert: an https server whose certificate the system
// does not trust is measured with its CA from --ca-cert or LOCKER_CA_CERT
// (a file, or the PEM text), as the other commands take it; without it,
// the failure says how to give it.
func TestBenchTrustsTheCACert(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--url", srv.URL, "--duration", "100ms", "--concurrency", "1"}
	for name, c := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"--ca-cert":              {nil, []string{"--ca-cert", caFile}},
		"LOCKER_CA_CERT file":    {map[string]string{"LOCKER_CA_CERT": caFile}, nil},
		"LOCKER_CA_CERT as text": {map[string]string{"LOCKER_CA_CERT": ca}, nil},
	} {
		if _, stderr, err := benchRun(t, c.env, append(args, c.args...)...); err != nil {
			t.Errorf("%s: %v\n%s", name, err, stderr)
		}
	}
	_, stderr, err := benchRun(t, nil, args...)
	if err == nil || !strings.Contains(stderr, "certificate signed by unknown authority; give the CA certificate with --ca-cert FILE (or LOCKER_CA_CERT)") {
		t.Errorf("without the CA: %v\n%s", err, stderr)
	}
	_, stderr, err = benchRun(t, map[string]string{"LOCKER_CA_CERT": "-----BEGIN nonsense"}, args...)
	var exit ExitError
	if !errors.As(err, &exit) || exit.Code != 2 || !strings.Contains(stderr, "no PEM certificate") {
		t.Errorf("a CA that is not PEM: %v\n%s", err, stderr)
	}
}
