package filestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// storeFiles reads the store's log segments by path.
func storeFiles(t testing.TB, path string) map[string][]byte {
	t.Helper()
	segs, err := listSegments(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, s := range segs {
		b, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		m[s.path] = b
	}
	return m
}

// highestFence is the highest fence in the snapshot and every record of
// the store's log segments (read before they are damaged).
func highestFence(t testing.TB, path string) uint64 {
	t.Helper()
	most := snapshotHeaderOf(t, path).Fence
	for seg, b := range storeFiles(t, path) {
		rest, ok := checkMagic(b, logMagic)
		if !ok {
			t.Fatalf("%s: no log magic", seg)
		}
		for {
			payload, n, err := readFrame(rest)
			if err != nil {
				break
			}
			rest = rest[n:]
			var rec logRecord
			if json.Unmarshal(payload, &rec) != nil {
				continue // the header
			}
			most = max(most, rec.Fence, rec.Lock.Fence)
			for _, ev := range rec.Events {
				most = max(most, ev.Fence)
			}
		}
	}
	return most
}

// salvaged runs Salvage on the damaged store at path, whose segments held
// damaged before it, and checks what every salvage must leave: the
// skipped bytes kept beside their segment, every old segment kept aside
// and out of recovery's way, a new segment, and a store that a second
// salvage finds nothing to do in. It returns the report.
func salvaged(t *testing.T, path string, damaged map[string][]byte) *SalvageReport {
	t.Helper()
	rep, err := Salvage(path, Options{})
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if !rep.Damaged || len(rep.Skipped) == 0 {
		t.Fatalf("Salvage found nothing to skip: %+v", rep)
	}
	var skipped uint64
	for _, k := range rep.Skipped {
		b := damaged[k.Segment]
		if b == nil || k.Offset+k.Size > int64(len(b)) {
			t.Fatalf("skipped range %+v is not in a segment", k)
		}
		want := b[k.Offset : k.Offset+k.Size]
		skipped += uint64(k.Size)
		if allZero(want) {
			if k.Kept != "" {
				t.Errorf("zeros at %s:%d were kept in %s", k.Segment, k.Offset, k.Kept)
			}
			continue
		}
		if filepath.Dir(k.Kept) != filepath.Dir(path) || !strings.HasPrefix(filepath.Base(k.Kept), filepath.Base(k.Segment)+".dropped-") {
			t.Errorf("skipped bytes of %s kept in %q, not beside it", k.Segment, k.Kept)
		}
		got, err := os.ReadFile(k.Kept)
		if err != nil {
			t.Fatalf("skipped bytes: %v", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s holds %d bytes, not the %d skipped at %s:%d", k.Kept, len(got), len(want), k.Segment, k.Offset)
		}
	}
	if rep.SkippedBytes != skipped || rep.FenceAfter < rep.FenceBefore+skipped {
		t.Errorf("fence counter raised from %d to %d; want at least %d skipped bytes more", rep.FenceBefore, rep.FenceAfter, skipped)
	}
	// Every old segment aside, as it was, and gone from its name.
	aside := map[string]string{}
	for _, a := range rep.Aside {
		aside[a[0]] = a[1]
	}
	var newest uint64
	for seg, b := range damaged {
		if aside[seg] == "" {
			t.Errorf("%s was not kept aside", seg)
			continue
		}
		got, err := os.ReadFile(aside[seg])
		if err != nil || string(got) != string(b) {
			t.Errorf("%s kept aside as %s: %v, %d bytes of %d", seg, aside[seg], err, len(got), len(b))
		}
		if _, err := os.Stat(seg); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", seg, err)
		}
		var gen uint64
		fmt.Sscanf(strings.TrimPrefix(seg, path+".log."), "%d", &gen)
		newest = max(newest, gen)
	}
	if gens := segmentGens(t, path); len(gens) != 1 || gens[0] <= newest || rep.Segment != segmentPath(path, gens[0]) {
		t.Errorf("segments after salvage: %v (report: %s); want one after %d", gens, rep.Segment, newest)
	}
	if h := snapshotHeaderOf(t, path); h.Fence != rep.FenceAfter {
		t.Errorf("snapshot fence %d, report %d", h.Fence, rep.FenceAfter)
	}
	// A second salvage has nothing to do, and changes nothing.
	dir := filepath.Dir(path)
	backdate(t, dir)
	before := dirFiles(t, dir)
	again, err := Salvage(path, Options{})
	if err != nil || again.Damaged {
		t.Fatalf("second salvage: %+v, %v", again, err)
	}
	sameFiles(t, before, dirFiles(t, dir))
	return rep
}

// newFenceAbove checks that the salvaged store at path hands out a fence
// above every one the store had handed out before.
func newFenceAbove(t *testing.T, s *Store, highest uint64) {
	t.Helper()
	if l := acquire(t, s, "after-salvage", "k", "h", 0); l.Fence <= highest {
		t.Fatalf("first grant after salvage got fence %d; fences up to %d were handed out before", l.Fence, highest)
	}
}

// TestSalvageMidSegment: a byte overwritten in a record with records after
// it. The start refuses, naming locker salvage; salvage skips that record
// only, and names its lock.
func TestSalvageMidSegment(t *testing.T) {
	path, _, _ := committedStore(t)
	highest := highestFence(t, path)
	seg := segmentPath(path, 1)
	offs, _ := logFrames(t, seg)
	// Frames: the header; a by h, a by h2, b, a released by h, c.
	flipByte(t, seg, offs[3]+frameHeader+40)
	openRefused(t, path, seg, "damaged record", "locker salvage "+path+"`", "or restore from a backup")
	damaged := storeFiles(t, path)
	rep := salvaged(t, path, damaged)
	if len(rep.Skipped) != 1 || rep.Skipped[0].Offset != int64(offs[3]) || rep.Skipped[0].Size != int64(offs[4]-offs[3]) {
		t.Fatalf("skipped %+v; want the record at %d..%d", rep.Skipped, offs[3], offs[4])
	}
	if !slices.Equal(rep.LockNames, []string{"b"}) || rep.Now["b"] != nil {
		t.Errorf("locks named in the skipped bytes: %v (now %v); want b, gone", rep.LockNames, rep.Now)
	}
	s := openT(t, path, Options{})
	if _, ok := getT(t, s, "b"); ok {
		t.Error("b is there, though its only record was skipped")
	}
	if l, ok := getT(t, s, "a"); !ok || l.Key != "k" || len(l.Holds) != 1 || l.Holds[0].Holder != "h2" {
		t.Errorf("a after salvage: %+v", l)
	}
	if l, ok := getT(t, s, "c"); !ok || l.Key != "kc" {
		t.Errorf("c after salvage: %+v", l)
	}
	newFenceAbove(t, s, highest)
}

// topStore makes a closed store of two segments or more whose newest holds
// no record, and whose last record, at the end of the segment before it,
// grants the highest fence: the one case where no later record carries
// the fence counter. It returns the path and that segment.
func topStore(t *testing.T) (path, seg string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "locks.yml")
	closeT(t, openT(t, path, Options{})) // the first snapshot
	unblock := blockSnapshots(t, path)
	for i := 0; ; i++ {
		// Closed after each grant: a new segment is started after the
		// grant is answered, and Close waits for it.
		s := openT(t, path, Options{CompactBytes: 1024})
		acquire(t, s, fmt.Sprintf("g-%d", i), "k", "h", 0)
		closeT(t, s)
		gens := segmentGens(t, path)
		if offs, _ := logFrames(t, segmentPath(path, gens[len(gens)-1])); len(gens) >= 2 && len(offs) == 1 {
			seg = segmentPath(path, gens[len(gens)-2])
			break
		}
	}
	unblock()
	return path, seg
}

// TestSalvageEndOfOlderSegment: the last record of a segment that later
// ones follow is damaged (and the marker after it gone). It carried the
// highest fence handed out: after salvage, the next grant is above it,
// also when no digit of that fence is legible any more.
func TestSalvageEndOfOlderSegment(t *testing.T) {
	for name, damage := range map[string]func(b []byte, rec, end int){
		"a byte":        func(b []byte, rec, end int) { b[rec+frameHeader+3] ^= 0x40 },
		"fences zeroed": func(b []byte, rec, end int) { clear(b[rec+frameHeader+len(`{"lock":{"name":"g-00"`) : end]) },
	} {
		t.Run(name, func(t *testing.T) {
			path, seg := topStore(t)
			highest := highestFence(t, path)
			offs, _ := logFrames(t, seg)
			rec, marker := offs[len(offs)-2], offs[len(offs)-1] // the last record, the marker after it
			b, _ := os.ReadFile(seg)
			b = b[:marker]
			damage(b, rec, marker)
			writeFile(t, seg, b)
			openRefused(t, path, seg, "at the end of a segment that later ones follow", "locker salvage")
			damaged := storeFiles(t, path)
			rep := salvaged(t, path, damaged)
			if len(rep.Skipped) != 1 || rep.Skipped[0].Segment != seg || rep.Skipped[0].Offset != int64(rec) {
				t.Fatalf("skipped %+v; want the record at %s:%d", rep.Skipped, seg, rec)
			}
			lost := fmt.Sprintf("g-%d", highest-1) // g-0 got fence 1
			if !slices.Equal(rep.LockNames, []string{lost}) {
				t.Errorf("locks named in the skipped bytes: %v; want %s", rep.LockNames, lost)
			}
			s := openT(t, path, Options{})
			if _, ok := getT(t, s, lost); ok {
				t.Errorf("%s is there, though its only record was skipped", lost)
			}
			if l, ok := getT(t, s, "g-0"); !ok || l.Fence != 1 {
				t.Errorf("g-0 after salvage: %+v", l)
			}
			newFenceAbove(t, s, highest)
		})
	}
}

// TestSalvageDamagedHeader: a segment's header is damaged, with its
// records after it: only the header is skipped, and every lock is as it
// was.
func TestSalvageDamagedHeader(t *testing.T) {
	path, want := multiSegmentStore(t)
	highest := highestFence(t, path)
	gens := segmentGens(t, path)
	seg := segmentPath(path, gens[len(gens)-2])
	b, _ := os.ReadFile(seg)
	_, hdrLen, err := readFrame(b[len(logMagic):])
	if err != nil {
		t.Fatal(err)
	}
	b[len(logMagic)+3] = 1 // the top byte of the header's length
	writeFile(t, seg, b)
	openRefused(t, path, seg, "log header is damaged", "locker salvage")
	rep := salvaged(t, path, storeFiles(t, path))
	if len(rep.Skipped) != 1 || rep.Skipped[0].Offset != int64(len(logMagic)) || rep.Skipped[0].Size != int64(hdrLen) {
		t.Fatalf("skipped %+v; want the header, %d bytes at %d", rep.Skipped, hdrLen, len(logMagic))
	}
	s := openT(t, path, Options{})
	sameLocks(t, want, dump(t, s))
	newFenceAbove(t, s, highest)
}

// TestSalvageZerosBeforeRecords: a power cut during the fsync of a batch
// that spans pages can leave a page of zeros with whole records after it.
// Salvage skips the zeros (and the record they cut) and brings the records
// after them back: they were never acknowledged, but each is a whole lock
// state.
func TestSalvageZerosBeforeRecords(t *testing.T) {
	path, _, _ := committedStore(t)
	highest := highestFence(t, path)
	seg := segmentPath(path, 1)
	offs, _ := logFrames(t, seg)
	b, _ := os.ReadFile(seg)
	// A page that never reached the disk: from inside a by h2 to the end
	// of b; then a released by h, and c.
	clear(b[offs[2]+frameHeader+20 : offs[4]])
	writeFile(t, seg, b)
	openRefused(t, path, seg, "damaged record", "locker salvage")
	rep := salvaged(t, path, storeFiles(t, path))
	if len(rep.Skipped) != 1 || rep.Skipped[0].Offset != int64(offs[2]) || rep.Skipped[0].Size != int64(offs[4]-offs[2]) {
		t.Fatalf("skipped %+v; want %d..%d", rep.Skipped, offs[2], offs[4])
	}
	if !slices.Equal(rep.LockNames, []string{"a"}) {
		t.Errorf("locks named in the skipped bytes: %v; want a (b's record is all zeros)", rep.LockNames)
	}
	s := openT(t, path, Options{})
	if l, ok := getT(t, s, "a"); !ok || len(l.Holds) != 1 || l.Holds[0].Holder != "h2" {
		t.Errorf("a after salvage: %+v; want held by h2 (the record after the zeros)", l)
	}
	if l, ok := getT(t, s, "c"); !ok || l.Key != "kc" {
		t.Errorf("c after salvage: %+v", l)
	}
	if _, ok := getT(t, s, "b"); ok {
		t.Error("b is there, though its only record was zeroed")
	}
	newFenceAbove(t, s, highest)
}

// TestSalvageOnlyZeros: zeros alone (a whole record zeroed) hold nothing
// to keep: none is written, but the fence is raised all the same.
func TestSalvageOnlyZeros(t *testing.T) {
	path, _, _ := committedStore(t)
	seg := segmentPath(path, 1)
	offs, _ := logFrames(t, seg)
	b, _ := os.ReadFile(seg)
	clear(b[offs[3]:offs[4]])
	writeFile(t, seg, b)
	rep := salvaged(t, path, storeFiles(t, path))
	if len(rep.Skipped) != 1 || rep.Skipped[0].Kept != "" || len(rep.LockNames) != 0 {
		t.Fatalf("skipped %+v, names %v", rep.Skipped, rep.LockNames)
	}
}

// TestSalvageTornTailToo: a salvaged store starts afresh, so a torn tail
// at the end of the last segment, which a start would drop, is skipped,
// kept and counted like the damage.
func TestSalvageTornTailToo(t *testing.T) {
	path, _, _ := committedStore(t)
	seg := segmentPath(path, 1)
	offs, end := logFrames(t, seg)
	b, _ := os.ReadFile(seg)
	b[offs[3]+frameHeader+40] ^= 0x40
	copy(b[end:], b[offs[5]:offs[5]+30]) // the first bytes of c's record again
	writeFile(t, seg, b)
	rep := salvaged(t, path, storeFiles(t, path))
	if len(rep.Skipped) != 2 || rep.Skipped[1].Offset != int64(end) || rep.Skipped[1].Kept == "" {
		t.Fatalf("skipped %+v; want the damaged record and the torn tail at %d", rep.Skipped, end)
	}
}

// sameLocks compares two dumps but for the fence counter, which salvage
// raises.
func sameLocks(t testing.TB, want, got string) {
	t.Helper()
	var w, g struct{ Locks json.RawMessage }
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "locks after salvage", string(w.Locks), string(g.Locks))
}

// TestSalvageNothingToDo: a store recovery reads as it is (a torn tail
// included, which a start drops itself) is left alone.
func TestSalvageNothingToDo(t *testing.T) {
	path, _, _ := committedStore(t)
	appendToFile(t, segmentPath(path, 1), []byte{9, 0, 0, 0, 1, 2})
	dir := filepath.Dir(path)
	backdate(t, dir)
	before := dirFiles(t, dir)
	rep, err := Salvage(path, Options{})
	if err != nil || rep.Damaged || rep.Locks != 3 {
		t.Fatalf("Salvage: %+v, %v", rep, err)
	}
	sameFiles(t, before, dirFiles(t, dir))
}

// TestSalvageRefusedWhileOpen: a store in use is never salvaged, whatever
// its log holds.
func TestSalvageRefusedWhileOpen(t *testing.T) {
	path, _, _ := committedStore(t)
	s := openT(t, path, Options{})
	seg := segmentPath(path, 1)
	offs, _ := logFrames(t, seg)
	flipByte(t, seg, offs[2]+frameHeader+5)
	dir := filepath.Dir(path)
	backdate(t, dir)
	before := dirFiles(t, dir)
	_, err := Salvage(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by another Locker") {
		t.Fatalf("Salvage of a store in use: %v", err)
	}
	sameFiles(t, before, dirFiles(t, dir))
	closeT(t, s)
}

// TestSalvageOutOfReach: damage in the snapshot and a missing segment
// are refused with recovery's message and a note, and nothing changes.
func TestSalvageOutOfReach(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"snapshot": func(t *testing.T, path string) {
			flipByte(t, path, len(snapshotMagic)+frameHeader+2)
		},
		"missing segment": func(t *testing.T, path string) {
			gens := segmentGens(t, path)
			if err := os.Remove(segmentPath(path, gens[1])); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := multiSegmentStore(t)
			damage(t, path)
			dir := filepath.Dir(path)
			backdate(t, dir)
			before := dirFiles(t, dir)
			_, openErr := Open(path, Options{})
			_, err := Salvage(path, Options{})
			var se *SalvageError
			if !errors.As(err, &se) || openErr == nil || !strings.HasPrefix(err.Error(), openErr.Error()) || !strings.Contains(err.Error(), "out of its reach") {
				t.Fatalf("Salvage: %v; want Open's refusal (%v) and a note", err, openErr)
			}
			sameFiles(t, before, dirFiles(t, dir))
		})
	}
}

func TestLockNamesAndFencesInSkippedBytes(t *testing.T) {
	rec := appendRecordFrame(nil, &logRecord{Lock: diskLock{Name: "we\"ird/é", Fence: 7}, Fence: 12})
	ev := []byte(`xx{"type":"released","lock":"other","key":"k","fence":99}` + `"fence":99999999999999999999`)
	if got := lockNamesIn(append(rec, ev...)); !slices.Equal(got, []string{"other", "we\"ird/é"}) {
		t.Errorf("names: %q", got)
	}
	if got := legibleFence(append(rec, ev...)); got != 99 {
		t.Errorf("fence: %d", got)
	}
}
