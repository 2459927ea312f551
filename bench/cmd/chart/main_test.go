package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultReportIsDrawn: the default -in, from the repository's root,
// is a report the charts can be drawn from.
func TestDefaultReportIsDrawn(t *testing.T) {
	out := t.TempDir()
	if err := run(filepath.Join("..", "..", "..", defaultIn), out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bench-held.svg", "bench-concurrency.svg"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}
