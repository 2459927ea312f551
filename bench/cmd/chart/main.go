// Command chart draws the benchmark charts (bench-held.svg and
// bench-concurrency.svg) from a report written by
// `locker bench --out FILE` (or --json); by default, from the repository's
// docs/bench-sweep.json into docs, as docs/benchmarks.md does:
//
//	go run ./bench/cmd/chart -in docs/bench-sweep.json -out docs
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cloudfoundry-community/locker/bench"
)

// defaultIn is the report the charts of docs/benchmarks.md are drawn
// from, relative to the repository's root.
const defaultIn = "docs/bench-sweep.json"

func main() {
	in := flag.String("in", defaultIn, "the JSON report to draw from")
	out := flag.String("out", "docs", "the directory to write the SVG files into")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := bench.ReadReport(f)
	if err != nil {
		return err
	}
	return bench.WriteCharts(out, rep)
}
