package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The log segment is extended a chunk at a time, ahead of the records; the
// zeros after the last record are read as the end of the log, not as a torn
// record, in the segment written to and in segments a compaction retired.
// Garbage written into that space (a crash in the middle of a write) is
// still a torn tail, cut off.
func TestPreallocatedLog(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the log is preallocated on Linux only")
	}
	path := filepath.Join(t.TempDir(), "locks.yml")
	logger, logs := testLogger(t)
	opts := Options{Logger: logger, CompactBytes: 64 << 20}
	s := openT(t, path, opts)
	for i := range 50 {
		acquire(t, s, fmt.Sprintf("l-%d", i%10), "k", fmt.Sprintf("h-%d", i), 0)
	}
	seg := segmentPath(path, segmentGens(t, path)[0])
	info, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != preallocChunk || s.logSize >= info.Size() {
		t.Fatalf("segment is %d bytes with %d written; want one preallocated chunk of %d", info.Size(), s.logSize, preallocChunk)
	}
	want := dump(t, s)
	closeT(t, s)

	s = openT(t, path, opts)
	sameDump(t, "after reopening a preallocated log", want, dump(t, s))
	if strings.Contains(logs.String(), "dropping") {
		t.Fatalf("the preallocated zeros were taken for a torn record:\n%s", logs)
	}
	if info, _ := os.Stat(seg); info.Size() != preallocChunk {
		t.Fatalf("reopening cut the preallocated segment to %d bytes", info.Size())
	}
	// Appends go on into the same preallocated space.
	acquire(t, s, "after", "k", "h", 0)
	want = dump(t, s)
	closeT(t, s)

	// A crash in the middle of a write leaves part of a record before the
	// zeros: a torn tail, dropped, and the rest kept.
	s = openT(t, path, opts)
	end := s.logSize
	closeT(t, s)
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{200, 0, 0, 0, 1, 2, 3}, end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s = openT(t, path, opts)
	sameDump(t, "after a torn write into preallocated space", want, dump(t, s))
	if !strings.Contains(logs.String(), "dropping") {
		t.Fatalf("the torn record was not reported:\n%s", logs)
	}
	acquire(t, s, "after-torn", "k", "h", 0)
	want = dump(t, s)
	closeT(t, s)
	s = openT(t, path, opts)
	sameDump(t, "after writing past a torn record", want, dump(t, s))

	// A compaction starts a new segment before its snapshot is written;
	// should it stop there (a crash), the retired segment, zeros at its
	// end, is replayed before the new one.
	if err := s.newSegment(s.logGen + 1); err != nil {
		t.Fatal(err)
	}
	acquire(t, s, "in-the-new-segment", "k", "h", 0)
	want = dump(t, s)
	closeT(t, s)
	if gens := segmentGens(t, path); len(gens) != 2 {
		t.Fatalf("segments %v, want the retired one and the new one", gens)
	}
	if info, _ := os.Stat(seg); info.Size() != preallocChunk {
		t.Fatalf("the retired segment is %d bytes, want its preallocated %d", info.Size(), preallocChunk)
	}
	// Zeros in another shape (here the retired segment is no longer a
	// whole number of chunks) are damage in the middle of the log: refused.
	damaged := copyStoreFiles(t, path, t.TempDir())
	retired := segmentPath(damaged, segmentGens(t, damaged)[0])
	if err := os.Truncate(retired, preallocChunk-100); err != nil {
		t.Fatal(err)
	}
	openRefused(t, damaged, "damaged record")

	s = openT(t, path, opts)
	sameDump(t, "with a retired preallocated segment", want, dump(t, s))
	closeT(t, s)
}
