package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cloudfoundry-community/locker/httpapi"
)

func credentials(cfg Config) httpapi.Credentials {
	return httpapi.Credentials{User: cfg.User, Pass: cfg.Pass}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report written by WriteJSON.
func ReadReport(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading a bench report: %v", err)
	}
	return &r, nil
}

// WriteTable writes the report as a table, followed by the figures of the
// performance issue that the results speak to.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "target: %s\n", r.Target)
	if r.Ceiling != "" {
		fmt.Fprintf(w, "ceiling: %s\n", r.Ceiling)
	}
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s, %s; load average before %s, after %s\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.OS, r.Machine.GoVersion, r.Machine.LoadBefore, r.Machine.LoadAfter)
	runs := "one run"
	if r.Runs > 1 {
		runs = fmt.Sprintf("median of %d runs (max: the highest of any run)", r.Runs)
	}
	fmt.Fprintf(w, "each measurement: %s, %s; latencies in ms\n\n", r.Duration, runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\theld\tclients\tops/s\tp50\tp90\tp99\tmax\terrors\t\t")
	for _, x := range r.Results {
		var notes []string
		if x.CeilingRatio > 0 {
			notes = append(notes, fmt.Sprintf("%.0f%% of ceiling", 100*x.CeilingRatio))
		}
		if x.Think != "" {
			notes = append(notes, "clients pause up to "+x.Think)
		}
		if x.Refused > 0 {
			notes = append(notes, fmt.Sprintf("%d refused (423)", x.Refused))
		}
		if x.Handoff != nil {
			notes = append(notes, fmt.Sprintf("hand-off p50 %.3f p90 %.3f p99 %.3f max %.3f, %.0f/s", x.Handoff.P50, x.Handoff.P90, x.Handoff.P99, x.Handoff.Max, x.HandoffsPerSec))
		}
		if x.List != nil {
			notes = append(notes, fmt.Sprintf("GET /locks (%d locks, %.1f MiB): alone p50 %.1f max %.1f; under load p50 %.1f max %.1f (n=%d)",
				x.List.Entries, float64(x.List.Bytes)/(1<<20), x.List.Alone.P50, x.List.Alone.Max, x.List.UnderLoad.P50, x.List.UnderLoad.Max, x.List.UnderLoad.N))
		}
		if x.StartupMS > 0 {
			notes = append(notes, fmt.Sprintf("start-up %.0f ms", x.StartupMS))
		}
		switch {
		case x.ServerCPU > 0:
			notes = append(notes, fmt.Sprintf("CPU/op: server %.0f µs, client %.0f µs; server context switches/op %.2f", x.ServerCPU, x.ClientCPU, x.ServerSwitches))
		case x.ClientCPU > 0:
			notes = append(notes, fmt.Sprintf("CPU/op: client %.0f µs", x.ClientCPU))
		}
		if x.RSSMiB > 0 {
			notes = append(notes, fmt.Sprintf("RSS %.1f MiB (peak %.1f)", x.RSSMiB, x.PeakRSSMiB))
		}
		if x.Kind == "startup" {
			fmt.Fprintf(tw, "%s\t%s\t%d\t\t\t\t\t\t\t%d\t\t%s\n", x.Scenario, x.Target, x.Held, x.Errors, strings.Join(notes, "; "))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\t%s\n", x.Scenario, x.Target, x.Held, x.Concurrency,
			x.OpsPerSec, x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.Max, x.Errors, strings.Join(notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Results {
		for _, s := range x.ErrorSamples {
			fmt.Fprintf(w, "error (%s, %s): %s\n", x.Scenario, x.Target, s)
		}
	}
	if checks := r.Checks(); len(checks) > 0 {
		fmt.Fprintln(w, "\nfigures of the performance issue:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range checks {
			met := "NOT MET"
			if c.Met {
				met = "met"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Figure, c.Measured, met)
		}
		tw.Flush()
	}
	return nil
}

// Check is one figure of the performance issue, as measured.
type Check struct {
	Figure   string `json:"figure"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Checks compares the results with the figures the performance issue sets
// (for the server under test, not the ceiling).
func (r *Report) Checks() []Check {
	var out []Check
	find := func(kind string, held int, pred func(Result) bool) *Result {
		for i := range r.Results {
			x := &r.Results[i]
			// The figures are for clients that do not pause (--think).
			if x.Target != "ceiling" && x.Kind == kind && x.Held == held && x.Think == "" && pred(*x) {
				return x
			}
		}
		return nil
	}
	plain := func(x Result) bool { return !x.Contended && !x.Shared && x.Locks == 0 }
	base := find("cycles", 0, func(x Result) bool { return plain(x) && x.Concurrency == 8 })
	if base != nil {
		out = append(out,
			Check{"uncontended, 8 clients: >= 20,000 ops/s", fmt.Sprintf("%.0f ops/s", base.OpsPerSec), base.OpsPerSec >= 20000},
			Check{"uncontended, 8 clients: p99 < 5 ms", fmt.Sprintf("%.2f ms", base.Latency.P99), base.Latency.P99 < 5})
		if base.CeilingRatio > 0 {
			out = append(out, Check{"uncontended: >= 50% of the ceiling server", fmt.Sprintf("%.0f%%", 100*base.CeilingRatio), base.CeilingRatio >= 0.5})
		}
		if pre := find("cycles", prefilledLocks, func(x Result) bool { return plain(x) && x.Concurrency == 8 }); pre != nil && base.OpsPerSec > 0 {
			ratio := pre.OpsPerSec / base.OpsPerSec
			measured := fmt.Sprintf("%.0f%% (%.0f ops/s)", 100*ratio, pre.OpsPerSec)
			// The two were measured minutes apart, and a shared machine's
			// speed moves in minutes; their shares of the ceiling server,
			// each measured beside it, do not move with it.
			if pre.CeilingRatio > 0 && base.CeilingRatio > 0 {
				measured += fmt.Sprintf("; as shares of the ceiling %.0f%%", 100*pre.CeilingRatio/base.CeilingRatio)
			}
			out = append(out, Check{"100,000 held locks: >= 90% of uncontended", measured, ratio >= 0.9})
		}
	}
	if c := find("cycles", 0, func(x Result) bool { return x.Contended }); c != nil && c.Handoff != nil {
		out = append(out, Check{"contended hand-off: median < 2 ms", fmt.Sprintf("%.3f ms", c.Handoff.P50), c.Handoff.P50 < 2})
	}
	if l := find("list", prefilledLocks, func(Result) bool { return true }); l != nil && l.List != nil {
		out = append(out,
			Check{"GET /locks, 100,000 locks: < 200 ms", fmt.Sprintf("%.1f ms alone, %.1f ms under load (p50)", l.List.Alone.P50, l.List.UnderLoad.P50), l.List.Alone.P50 < 200},
			Check{"lock ops while listing 100,000: p99 < 20 ms", fmt.Sprintf("%.2f ms", l.Latency.P99), l.Latency.P99 < 20})
	}
	if s := find("startup", prefilledLocks, func(Result) bool { return true }); s != nil {
		out = append(out,
			Check{"start-up with 100,000 locks: < 1 s", fmt.Sprintf("%.0f ms", s.StartupMS), s.StartupMS < 1000},
			Check{"resident memory with 100,000 locks: < 150 MB", fmt.Sprintf("%.1f MiB (peak %.1f)", s.RSSMiB, s.PeakRSSMiB), s.RSSMiB*1.048576 < 150})
	}
	return out
}
