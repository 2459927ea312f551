package filestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// state is what recovery rebuilds: every lock with its history, the fence
// counter, and the log segments to continue from.
type state struct {
	locks  map[string]*entry
	fence  uint64
	logGen uint64 // first log segment not covered by the snapshot
	// segments are the log segments replayed, oldest first.
	segments []segment
	// tailOffset is where the last segment's valid data ends.
	tailOffset int64
	// zeroTail: only zeros follow tailOffset (preallocated, never written).
	zeroTail bool
	snapSize int64
}

type segment struct {
	gen  uint64
	path string
}

func segmentPath(path string, gen uint64) string {
	return fmt.Sprintf("%s.log.%d", path, gen)
}

// listSegments finds the log segments beside the snapshot, oldest first.
func listSegments(path string) ([]segment, error) {
	matches, err := filepath.Glob(globEscape(path) + ".log.*")
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, m := range matches {
		gen, err := strconv.ParseUint(strings.TrimPrefix(m, path+".log."), 10, 64)
		if err != nil {
			continue // not ours
		}
		segs = append(segs, segment{gen: gen, path: m})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].gen < segs[j].gen })
	return segs, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// recoverState reads the snapshot at path and replays the log after it. It
// never changes a file: a damaged file is an error that names it.
func recoverState(path string, historyLimit int) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st := &state{locks: map[string]*entry{}, snapSize: int64(len(b))}
	if err := st.readSnapshot(b, historyLimit); err != nil {
		if errors.Is(err, errLegacy) {
			return st, err // Open converts it, then reads it again
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	segs, err := listSegments(path)
	if err != nil {
		return nil, err
	}
	for _, seg := range segs {
		if seg.gen < st.logGen {
			continue // already in the snapshot; removed when the store opens
		}
		if want := st.logGen + uint64(len(st.segments)); seg.gen != want {
			return nil, fmt.Errorf("%s: expected log segment %d next; a segment is missing", seg.path, want)
		}
		st.segments = append(st.segments, seg)
	}
	for i, seg := range st.segments {
		last := i == len(st.segments)-1
		end, zeroTail, err := st.replay(seg, last, historyLimit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", seg.path, err)
		}
		st.tailOffset, st.zeroTail = end, zeroTail
	}
	return st, nil
}

func (st *state) readSnapshot(b []byte, historyLimit int) error {
	if len(b) == 0 {
		return errors.New("the file is empty. Locker never writes an empty file, so it may have been truncated by a crash of another program; refusing to start with no locks. Restore it from a backup, or delete it to start with no locks")
	}
	if trimmed := bytes.TrimLeft(b, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		return st.readLegacy(trimmed)
	}
	rest, ok := checkMagic(b, snapshotMagic)
	if !ok {
		return errors.New("not a Locker data file (neither a Locker snapshot nor the original locker's JSON)")
	}
	payload, n, err := readFrame(rest)
	if err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	var hdr snapshotHeader
	if err := json.Unmarshal(payload, &hdr); err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	if hdr.Count < 0 {
		return fmt.Errorf("snapshot header: count %d", hdr.Count)
	}
	rest = rest[n:]
	st.fence, st.logGen = hdr.Fence, hdr.LogGen
	// Frames are read in chunks whose payloads are decoded in parallel
	// (decodeFrames), then checked and applied in order, so that the first
	// bad frame is reported exactly as reading them one by one would.
	var (
		payloads [][]byte
		entries  []snapshotEntry
		errs     []error
	)
	for i := 0; i < hdr.Count; {
		payloads = payloads[:0]
		var frameErr error
		for len(payloads) < recoveryChunk && i+len(payloads) < hdr.Count {
			payload, n, err := readFrame(rest)
			if err != nil {
				frameErr = err
				break
			}
			rest = rest[n:]
			payloads = append(payloads, payload)
		}
		entries, errs = decodeFrames(payloads, entries, errs, decodeSnapshotEntry)
		for j := range payloads {
			se := &entries[j]
			if err := errs[j]; err != nil {
				return fmt.Errorf("snapshot lock %d of %d: %w", i+j+1, hdr.Count, err)
			}
			if err := se.Lock.check(); err != nil {
				return fmt.Errorf("snapshot lock %d of %d: %w", i+j+1, hdr.Count, err)
			}
			if _, dup := st.locks[se.Lock.Name]; dup {
				return fmt.Errorf("snapshot lists lock %q twice", se.Lock.Name)
			}
			st.fence = max(st.fence, se.Lock.Fence)
			st.locks[se.Lock.Name] = &entry{lock: se.Lock.lock(), history: compactHistory(se.Lock.Name, se.History, historyLimit)}
		}
		i += len(payloads)
		if frameErr != nil {
			return fmt.Errorf("snapshot lock %d of %d: %w", i+1, hdr.Count, frameErr)
		}
	}
	payload, n, err = readFrame(rest)
	if err != nil {
		return fmt.Errorf("snapshot end: %w", err)
	}
	var end snapshotEnd
	if err := json.Unmarshal(payload, &end); err != nil || !end.End || end.Count != hdr.Count {
		return errors.New("snapshot end marker is missing or wrong")
	}
	if len(rest[n:]) != 0 {
		return errors.New("data after the snapshot's end marker")
	}
	return nil
}

// legacyLock is one lock in the original locker's file.
type legacyLock struct {
	Key      string         `json:"key"`
	LockedBy map[string]int `json:"locked_by"`
}

// readLegacy imports the original locker's file: a JSON object of locks.
// Zero counts are dropped; a lock whose counts are all zero is free. Held
// locks get fence tokens in name order.
func (st *state) readLegacy(b []byte) error {
	var legacy map[string]legacyLock
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&legacy); err != nil {
		return fmt.Errorf("reading the original locker's JSON: %w", err)
	}
	// Not dec.More(): it reports false for a stray '}' or ']'.
	if len(bytes.Trim(b[dec.InputOffset():], " \t\r\n")) > 0 { // JSON whitespace only
		return errors.New("reading the original locker's JSON: data after the object")
	}
	if legacy == nil {
		return errors.New("reading the original locker's JSON: null instead of an object")
	}
	names := make([]string, 0, len(legacy))
	for name := range legacy {
		names = append(names, name)
	}
	sort.Strings(names)
	now := time.Now().UTC()
	for _, name := range names {
		ll := legacy[name]
		d := diskLock{Name: name}
		for h, c := range ll.LockedBy {
			if c < 0 {
				return fmt.Errorf("original locker's JSON: lock %q: holder %q has count %d", name, h, c)
			}
			if c == 0 {
				continue
			}
			d.Holds.Set(h, lock.Hold{Count: c, Acquired: now})
		}
		if len(d.Holds) > 0 {
			if ll.Key == "" {
				return fmt.Errorf("original locker's JSON: lock %q has holders but no key", name)
			}
			st.fence++
			d.Key, d.Fence, d.Since = ll.Key, st.fence, now
		}
		if err := d.check(); err != nil {
			return fmt.Errorf("original locker's JSON: %w", err)
		}
		st.locks[name] = &entry{lock: d.lock()}
	}
	st.logGen = 1
	return errLegacy
}

// errLegacy tells Open that the snapshot was the original locker's format and
// must be rewritten in this one before the log starts.
var errLegacy = errors.New("legacy format")

// replay applies one log segment. In the last segment a torn frame at the end
// (the crash cut the last write) is expected and ignored; anywhere else a bad
// frame is damage. Zeros after the last record, in any segment, are space
// preallocated and never written. It returns the offset where valid data
// ends, and whether only zeros follow it.
func (st *state) replay(seg segment, last bool, historyLimit int) (end int64, zeroTail bool, err error) {
	b, err := os.ReadFile(seg.path)
	if err != nil {
		return 0, false, err
	}
	rest, ok := checkMagic(b, logMagic)
	if !ok {
		if last && len(b) < len(logMagic) && bytes.HasPrefix([]byte(logMagic), b) {
			return 0, false, nil // created, then cut off before its header was written
		}
		return 0, false, errors.New("not a Locker log segment")
	}
	payload, n, err := readFrame(rest)
	if err != nil {
		if last && errors.Is(err, errTorn) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("log header: %w", err)
	}
	var hdr logHeader
	if err := json.Unmarshal(payload, &hdr); err != nil || hdr.Gen != seg.gen {
		return 0, false, fmt.Errorf("log header does not name segment %d", seg.gen)
	}
	off := len(logMagic) + n
	// As in readSnapshot: chunks of frames, decoded in parallel, then
	// checked and applied in order.
	var (
		offsets  []int
		payloads [][]byte
		recs     []logRecord
		errs     []error
	)
	for off < len(b) {
		offsets, payloads = offsets[:0], payloads[:0]
		var frameErr error
		for len(payloads) < recoveryChunk && off < len(b) {
			payload, n, err := readFrame(b[off:])
			if err != nil {
				frameErr = err
				break
			}
			offsets = append(offsets, off)
			payloads = append(payloads, payload)
			off += n
		}
		recs, errs = decodeFrames(payloads, recs, errs, decodeLogRecord)
		for j := range payloads {
			rec := &recs[j]
			if err := errs[j]; err != nil {
				return 0, false, fmt.Errorf("record at byte %d: %w", offsets[j], err)
			}
			if err := rec.Lock.check(); err != nil {
				return 0, false, fmt.Errorf("record at byte %d: %w", offsets[j], err)
			}
			e := st.locks[rec.Lock.Name]
			if e == nil {
				e = &entry{}
				st.locks[rec.Lock.Name] = e
			}
			e.lock = rec.Lock.lock()
			e.history = appendHistory(e.history, rec.Lock.Name, rec.Events, historyLimit)
			st.fence = max(st.fence, rec.Fence, rec.Lock.Fence)
		}
		if frameErr != nil {
			if preallocated(b, off) {
				return int64(off), true, nil // the preallocated rest of the segment
			}
			if last && !validFrameAfter(b[off+1:]) {
				return int64(off), false, nil // torn tail
			}
			return 0, false, fmt.Errorf("damaged record at byte %d (%v) with valid records after it; refusing to guess. Restore from a backup or remove the damaged part by hand", off, frameErr)
		}
	}
	return int64(off), false, nil
}

// preallocated reports whether the segment b ends, after off, the way
// preallocation leaves it: in zeros, shorter than a chunk, to a size that is
// a whole number of chunks. Zeros of any other shape are damage (in the
// last segment, possibly a torn tail).
func preallocated(b []byte, off int) bool {
	return len(b)%preallocChunk == 0 && len(b)-off < preallocChunk && allZero(b[off:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
