// Package testwaits is for the test packages whose slow tests mostly wait
// (on timers, leases, processes, proxies, a browser) rather than compute.
package testwaits

import (
	"flag"
	"runtime"
	"strconv"
)

// Parallel lets n tests marked t.Parallel run at once, instead of go
// test's default of one per core, on machines with fewer than n cores and
// unless -parallel was given. Tests that wait leave the cores idle, so
// more of them at once shorten the run without loading the machine. Call
// it from TestMain, before m.Run.
func Parallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < n {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}
