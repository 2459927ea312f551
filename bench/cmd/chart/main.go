// Command chart draws the benchmark charts (bench-held.svg and
// bench-concurrency.svg) from a report written by
// `locker bench --out FILE` (or --json):
//
//	go run ./bench/cmd/chart -in docs/bench-results.json -out docs
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cloudfoundry-community/locker/bench"
)

func main() {
	in := flag.String("in", "docs/bench-results.json", "the JSON report to draw from")
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
