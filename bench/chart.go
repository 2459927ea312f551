package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Charts draws the report's charts as SVG, keyed by file name:
// bench-held.svg (ops/s and p99 against the number of held locks) and
// bench-concurrency.svg (against the number of clients), from the plain
// lock/unlock cycle results (the sweep scenario provides them all). A
// chart without at least two points is left out.
func Charts(r *Report) map[string][]byte {
	out := map[string][]byte{}
	plain := func(x Result) bool {
		return x.Kind == "cycles" && !x.Contended && !x.Shared && x.Locks == 0
	}
	// The concurrency of the held-locks points: that of the results with
	// locks held (the sweep's base concurrency).
	base := 8
	for _, x := range r.Results {
		if plain(x) && x.Held > 0 {
			base = x.Concurrency
			break
		}
	}
	held := collect(r, func(x Result) (float64, bool) { return float64(x.Held), plain(x) && x.Concurrency == base })
	if len(held.xs) >= 2 {
		out["bench-held.svg"] = drawChart(fmt.Sprintf("Lock/unlock cycles against locks held (%d clients)", base), "locks held", held, r)
	}
	conc := collect(r, func(x Result) (float64, bool) { return float64(x.Concurrency), plain(x) && x.Held == 0 })
	if len(conc.xs) >= 2 {
		out["bench-concurrency.svg"] = drawChart("Lock/unlock cycles against concurrency (no other locks held)", "client connections", conc, r)
	}
	return out
}

// WriteCharts writes Charts(r) into dir.
func WriteCharts(dir string, r *Report) error {
	charts := Charts(r)
	if len(charts) == 0 {
		return fmt.Errorf("no chart to draw: the report has no series of lock/unlock results (run --scenario sweep)")
	}
	names := make([]string, 0, len(charts))
	for name := range charts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), charts[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// series is the data of one chart: x values, and per target the ops/s and
// p99 at each x (NaN where missing).
type series struct {
	xs      []float64
	targets []string
	ops     map[string][]float64
	p99     map[string][]float64
}

func collect(r *Report, pick func(Result) (float64, bool)) series {
	s := series{ops: map[string][]float64{}, p99: map[string][]float64{}}
	seen := map[float64]bool{}
	for _, x := range r.Results {
		if v, ok := pick(x); ok && !seen[v] {
			seen[v] = true
			s.xs = append(s.xs, v)
		}
	}
	sort.Float64s(s.xs)
	for _, x := range r.Results {
		v, ok := pick(x)
		if !ok {
			continue
		}
		if _, ok := s.ops[x.Target]; !ok {
			s.targets = append(s.targets, x.Target)
			s.ops[x.Target] = nanSlice(len(s.xs))
			s.p99[x.Target] = nanSlice(len(s.xs))
		}
		i := sort.SearchFloat64s(s.xs, v)
		if math.IsNaN(s.ops[x.Target][i]) { // the first measurement of a point wins
			s.ops[x.Target][i] = x.OpsPerSec
			s.p99[x.Target][i] = x.Latency.P99
		}
	}
	return s
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

const (
	chartW, chartH = 960, 400
	panelW, panelH = 380, 250
	panelTop       = 70
)

var palette = []struct{ color, dash string }{
	{"#1f6feb", ""},
	{"#8b949e", "6 4"},
	{"#d1242f", "2 3"},
	{"#1a7f37", "8 3 2 3"},
}

// drawChart draws two panels, ops/s and p99 latency, with one line per
// target; x values are spaced evenly (they grow geometrically).
func drawChart(title, xLabel string, s series, r *Report) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold" text-anchor="middle">%s</text>`+"\n", chartW/2, esc(title))
	sub := fmt.Sprintf("%d CPUs (%s), load average %s; %s per point", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.LoadBefore, r.Duration)
	if r.Runs > 1 {
		sub += fmt.Sprintf(", median of %d runs", r.Runs)
	}
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="#57606a" text-anchor="middle">%s</text>`+"\n", chartW/2, esc(sub))
	panel(&b, 70, "operations per second", xLabel, s, s.ops, false)
	panel(&b, 70+panelW+110, "p99 latency (ms)", xLabel, s, s.p99, true)
	// Legend.
	x := 70
	for i, t := range s.targets {
		st := palette[i%len(palette)]
		y := chartH - 18
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5" stroke-dasharray="%s"/>`, x, y-4, x+28, y-4, st.color, st.dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+34, y, esc(targetLabel(t)))
		x += 260
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func targetLabel(t string) string {
	switch t {
	case "locker":
		return "Locker (file store, fsync on)"
	case "ceiling":
		return "ceiling (same HTTP stack, in-memory store)"
	}
	return t
}

func panel(b *bytes.Buffer, left int, title, xLabel string, s series, data map[string][]float64, decimals bool) {
	top := panelTop
	hi := 0.0
	for _, vs := range data {
		for _, v := range vs {
			if !math.IsNaN(v) {
				hi = math.Max(hi, v)
			}
		}
	}
	ymax, step := niceScale(hi)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold" text-anchor="middle">%s</text>`+"\n", left+panelW/2, top-10, esc(title))
	// Grid and y labels.
	for v := 0.0; v <= ymax+step/2; v += step {
		y := float64(top+panelH) - v/ymax*panelH
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d0d7de" stroke-width="1"/>`, left, y, left+panelW, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#57606a">%s</text>`+"\n", left-6, y+4, axisNumber(v, step))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#24292f"/>`+"\n", left, top+panelH, left+panelW, top+panelH)
	xpos := func(i int) float64 {
		if len(s.xs) == 1 {
			return float64(left + panelW/2)
		}
		return float64(left+20) + float64(i)*float64(panelW-40)/float64(len(s.xs)-1)
	}
	for i, x := range s.xs {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#57606a">%s</text>`+"\n", xpos(i), top+panelH+16, xNumber(x))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+panelW/2, top+panelH+34, esc(xLabel))
	for ti, t := range s.targets {
		st := palette[ti%len(palette)]
		vs := data[t]
		var pts bytes.Buffer
		for i, v := range vs {
			if math.IsNaN(v) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", xpos(i), float64(top+panelH)-v/ymax*panelH)
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2.5" stroke-dasharray="%s" points="%s"/>`+"\n", st.color, st.dash, bytes.TrimSpace(pts.Bytes()))
		for i, v := range vs {
			if math.IsNaN(v) {
				continue
			}
			y := float64(top+panelH) - v/ymax*panelH
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, xpos(i), y, st.color)
			label := strconv.FormatFloat(v, 'f', 0, 64)
			if decimals {
				label = strconv.FormatFloat(v, 'f', 2, 64)
			}
			dy := -8.0
			if ti%2 == 1 {
				dy = 16
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="%s">%s</text>`+"\n", xpos(i), y+dy, st.color, label)
		}
	}
}

// niceScale returns an axis maximum at or above hi and a tick step: 1, 2
// or 5 times a power of ten, about 5 ticks.
func niceScale(hi float64) (float64, float64) {
	if hi <= 0 {
		return 1, 0.2
	}
	raw := hi / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return math.Ceil(hi/step) * step, step
}

func axisNumber(v, step float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return strconv.FormatFloat(v/1000, 'f', 0, 64) + "k"
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
	case step < 1:
		return strconv.FormatFloat(v, 'f', int(math.Max(0, -math.Floor(math.Log10(step)))), 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func xNumber(x float64) string {
	if x >= 1000 && math.Mod(x, 1000) == 0 {
		return strconv.FormatFloat(x/1000, 'f', 0, 64) + "k"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

func esc(s string) string { return html.EscapeString(s) }
