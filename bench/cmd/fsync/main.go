// Command fsync measures the disk's fsync latency as the file store sees
// it: append a record of -size bytes to a file, fsync, repeat -n times
// (with -prealloc, over zeros written first, as the store's log is). It
// prints the latency percentiles and the CPU time each fsync costs (on a
// virtual machine, the kernel's share of an fsync can be large).
//
//	go run ./bench/cmd/fsync -dir /var/lib/locker
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to measure (where LOCKER_CONFIG lives)")
	n := flag.Int("n", 2000, "number of appends, each followed by an fsync")
	size := flag.Int("size", 800, "bytes per append")
	prealloc := flag.Bool("prealloc", false, "write the file full of zeros first (and fsync it), then write the appends over them, as the file store's preallocated log does")
	flag.Parse()
	if err := run(*dir, *n, *size, *prealloc); err != nil {
		fmt.Fprintln(os.Stderr, "fsync:", err)
		os.Exit(1)
	}
}

func run(dir string, n, size int, prealloc bool) error {
	f, err := os.CreateTemp(dir, "fsync-test-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if prealloc {
		if _, err := f.Write(make([]byte, n*size)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
	}
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte('a' + i%26)
	}
	lat := make([]time.Duration, 0, n)
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	for range n {
		t0 := time.Now()
		if _, err := f.Write(rec); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	total := time.Since(start)
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := tv(after.Utime) - tv(before.Utime) + tv(after.Stime) - tv(before.Stime)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p/100*float64(len(lat))))] }
	abs, _ := filepath.Abs(dir)
	how := "appends"
	if prealloc {
		how = "writes over preallocated zeros"
	}
	fmt.Printf("%d %s of %d bytes + fsync in %s: %.0f fsyncs/s\n", n, how, size, abs, float64(n)/total.Seconds())
	fmt.Printf("latency: p50 %s  p90 %s  p99 %s  max %s\n", pct(50), pct(90), pct(99), lat[len(lat)-1])
	fmt.Printf("CPU per append+fsync: %s (user+system)\n", cpu/time.Duration(n))
	return nil
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}
