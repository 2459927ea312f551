package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// The preallocated space is written with zeros, not only allocated: no
// extent of the log segment is left "unwritten", so an append's fsync does
// not have to commit the file system's journal too.
func TestPreallocatedSpaceIsWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.yml")
	s := openT(t, path, Options{CompactBytes: 64 << 20})
	for i := range 20 {
		acquire(t, s, fmt.Sprintf("l-%d", i), "k", "h", 0)
	}
	seg := segmentPath(path, segmentGens(t, path)[0])
	closeT(t, s)
	f, err := os.Open(seg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	extents, err := fileExtents(f)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTTY) {
		t.Skipf("the file system of %s cannot list a file's extents (FIEMAP): %v", seg, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var mapped uint64
	for _, e := range extents {
		if e.flags&fiemapExtentUnwritten != 0 {
			t.Errorf("extent at %d, %d bytes, is unwritten", e.logical, e.length)
		}
		mapped += e.length
	}
	if mapped < preallocChunk {
		t.Errorf("%d bytes mapped in extents %+v, want the whole chunk of %d", mapped, extents, preallocChunk)
	}
}

type extent struct {
	logical, length uint64
	flags           uint32
}

const (
	fsIocFiemap           = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapFlagSync        = 0x1
	fiemapExtentUnwritten = 0x800
	fiemapExtentSize      = 56
	fiemapHeaderSize      = 32
)

// fileExtents lists f's extents with the FIEMAP ioctl (up to 64).
func fileExtents(f *os.File) ([]extent, error) {
	const max = 64
	buf := make([]byte, fiemapHeaderSize+max*fiemapExtentSize)
	le := binary.LittleEndian
	le.PutUint64(buf[0:], 0)          // fm_start
	le.PutUint64(buf[8:], ^uint64(0)) // fm_length: all of it
	le.PutUint32(buf[16:], fiemapFlagSync)
	le.PutUint32(buf[24:], max) // fm_extent_count
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return nil, errno
	}
	n := le.Uint32(buf[20:]) // fm_mapped_extents
	out := make([]extent, 0, n)
	for i := range int(n) {
		e := buf[fiemapHeaderSize+i*fiemapExtentSize:]
		out = append(out, extent{logical: le.Uint64(e[0:]), length: le.Uint64(e[16:]), flags: le.Uint32(e[40:])})
	}
	return out, nil
}
