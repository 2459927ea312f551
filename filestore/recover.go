package filestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cloudfoundry-community/locker/internal/leaseclock"
	"github.com/cloudfoundry-community/locker/lock"
)

// state is what recovery rebuilds: every lock with its history, the fence
// counter, and the log segments to continue from.
type state struct {
	locks map[string]*entry
	fence uint64
	// skipped are the free locks of the original locker's file whose
	// names are no longer valid, left out of the conversion.
	skipped []string
	// rolledTo is the segment the segment being replayed names next (its
	// nextMarker), 0 when it names none.
	rolledTo uint64
	logGen   uint64 // first log segment not covered by the snapshot
	// segments are the log segments replayed, oldest first; records how
	// many records (markers aside) each of those replayed so far holds,
	// and segRecords the count of the one being replayed.
	segments   []segment
	records    []int64
	segRecords int64
	// unmarked are the segments, not the last, that do not end by naming
	// the next (a crash came between making it and writing the marker),
	// with where their records end: Open writes the marker.
	unmarked []unmarkedSegment
	// lastBegan is the committed locks as the last segment began (as
	// snapshotOf lists them), when more than one segment was replayed
	// (not in a salvage): the snapshot the compaction at start writes
	// names that segment, without starting another (Store.began).
	lastBegan []entry
	// tailOffset is where the last segment's valid data ends.
	tailOffset int64
	// zeroTail: only zeros follow tailOffset (preallocated, never written).
	zeroTail bool
	snapSize int64
	// salvage, set by Salvage only, has replay skip damaged frames
	// instead of refusing them (salvage.go).
	salvage *salvager
}

type segment struct {
	gen  uint64
	path string
}

type unmarkedSegment struct {
	segment
	end int64
}

func segmentPath(path string, gen uint64) string {
	return fmt.Sprintf("%s.log.%d", path, gen)
}

// listSegments finds the log segments beside the snapshot, oldest first.
// A file named like one but not as the store names it (data.yml.log.01, a
// stray copy of segment 1) is an error naming it, returned with the
// segments: counted as segment 1 too, it made recovery refuse with "a
// segment is missing", which named neither it nor what to do.
func listSegments(path string) ([]segment, error) {
	matches, err := filepath.Glob(globEscape(path) + ".log.*")
	if err != nil {
		return nil, err
	}
	var segs []segment
	var stray error
	for _, m := range matches {
		suffix := strings.TrimPrefix(m, path+".log.")
		gen, err := strconv.ParseUint(suffix, 10, 64)
		if err != nil {
			continue // not ours
		}
		if strconv.FormatUint(gen, 10) != suffix {
			if stray == nil {
				stray = fmt.Errorf("%s is named like log segment %d but not as Locker names it (%s): a stray copy? Recovery cannot tell which is the log. Move it out of the directory (if it is the segment itself, renamed, rename it back to %s), then start again", m, gen, filepath.Base(segmentPath(path, gen)), filepath.Base(segmentPath(path, gen)))
			}
			continue
		}
		segs = append(segs, segment{gen: gen, path: m})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].gen < segs[j].gen })
	return segs, stray
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
	return recoverSalvaging(path, historyLimit, nil)
}

// recoverSalvaging is recoverState; with sv, damaged frames in the log
// segments are skipped and recorded in sv instead of refused (Salvage).
func recoverSalvaging(path string, historyLimit int, sv *salvager) (*state, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := &state{locks: map[string]*entry{}, salvage: sv}
	if err := st.readSnapshot(newFrameReader(f), historyLimit); err != nil {
		if errors.Is(err, errLegacy) {
			return st, err // Open converts it, then reads it again
		}
		var damage *snapshotDamage
		if errors.As(err, &damage) {
			base := filepath.Base(path)
			return nil, fmt.Errorf("%s: %w; the data file is damaged, and locker salvage cannot mend it (it skips damaged records in the log segments only): restore %s together with every %s.log.* beside it from the same backup", path, err, base, base)
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
	if len(st.segments) == 0 {
		// A snapshot is written only after the segment it names
		// (compaction, and since this check a new store too): the
		// changes acknowledged since the snapshot were in it.
		return nil, fmt.Errorf("%s: its log segment %s is missing: the changes made since the snapshot are in it, and starting without them would lose held locks and issue fencing tokens again. Restore it with the snapshot from the same backup (a backup of a Locker file store is the file and every %s.log.* beside it). If this store was made by a Locker older than this check and its first start crashed, it holds no change yet: delete %s to start afresh", path, segmentPath(path, st.logGen), filepath.Base(path), path)
	}
	for i, seg := range st.segments {
		last := i == len(st.segments)-1
		if last && i > 0 && sv == nil {
			// Shared with the locks replay goes on with: their values
			// are replaced, never changed in place. Never nil (made),
			// also without a lock: nil says it was not kept.
			st.lastBegan = snapshotOf(st.locks)
		}
		named := st.rolledTo // the segment before named this one
		st.rolledTo = 0
		end, zeroTail, err := st.replay(seg, last, historyLimit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", seg.path, err)
		}
		st.records = append(st.records, st.segRecords)
		if end == 0 && (i == 0 || named != 0) {
			// Its header was written and synced before the snapshot, or
			// the segment before it, named it: emptied since, it has
			// lost its changes.
			namer, hint := "the one before it", ""
			if i == 0 {
				namer, hint = "the snapshot", fmt.Sprintf(". If this store was made by a Locker older than this check and its first start crashed, it holds no change yet: delete %s to start afresh", path)
			}
			return nil, fmt.Errorf("%s: the log segment %s names is empty (not even its header is left): the changes made since were in it, and starting without them would lose held locks and issue fencing tokens again. Restore it with the rest of the store from the same backup%s", seg.path, namer, hint)
		}
		if !last && st.rolledTo == 0 {
			st.unmarked = append(st.unmarked, unmarkedSegment{seg, end})
		}
		st.tailOffset, st.zeroTail = end, zeroTail
	}
	if st.rolledTo != 0 {
		last := st.segments[len(st.segments)-1]
		return nil, fmt.Errorf("%s ends by naming log segment %s, which is missing: the changes made since were in it, and starting without them would lose held locks and issue fencing tokens again. Restore it with the rest of the store from the same backup", last.path, segmentPath(path, st.rolledTo))
	}
	st.fence = max(st.fence, droppedFence(path))
	return st, nil
}

// droppedFence is the highest fence legible in the bytes a start or a
// salvage cut off a log segment and kept beside it (<file>.log.N.dropped-*):
// a token handed out in a record that was dropped (its last record damaged,
// taken for a torn one) is in no record any more, and the start that cut it
// off may have been killed before it wrote the raised counter anywhere
// else. Files that cannot be read count for nothing.
func droppedFence(path string) uint64 {
	kept, _ := filepath.Glob(globEscape(path) + ".log.*.dropped-*")
	var most uint64
	for _, k := range kept {
		if b, err := os.ReadFile(k); err == nil {
			most = max(most, legibleFence(b))
		}
	}
	return most
}

// tornMarker reports whether rest, what follows the last good frame of a
// segment that is not the last, is the nextMarker naming segment next cut
// short by a crash: some of its bytes, each in its place, and zeros (never
// written) in the others and after it. Anything else there is damage.
//
// In the last segment the bytes must also be ones that no torn record
// could leave: a record's frame can start with the same length and
// checksum bytes and the same `{"`, so only a byte of the marker's payload
// after those tells them apart (a crash that kept one byte of a record of
// 522 bytes looked like a torn marker, and recovery refused to start for a
// segment that never existed). A marker torn before that byte names a
// segment that holds no record yet: records go there only once the
// marker is written.
func tornMarker(rest []byte, next uint64, last bool) bool {
	from := 0
	if last {
		from = frameHeader + len(`{"`)
	}
	torn, some := tornFrame(rest, markerFrame(next), from)
	return torn && some
}

// tornFrame reports whether rest is frame cut short by a crash: each byte
// either frame's own, in its place, or zero (never written), and only zeros
// after it; and whether a byte of frame's own stands at index from or
// later.
func tornFrame(rest, frame []byte, from int) (torn, some bool) {
	for i, c := range rest {
		switch {
		case c == 0:
		case i < len(frame) && c == frame[i]:
			some = some || i >= from
		default:
			return false, false
		}
	}
	return true, some
}

// markerFrame is the frame of the record that ends a segment by naming
// segment next.
func markerFrame(next uint64) []byte {
	return appendFrame(nil, mustJSON(nextMarker{Next: next}))
}

func (st *state) readSnapshot(fr *frameReader, historyLimit int) error {
	magic, err := fr.head(len(snapshotMagic))
	if err != nil {
		return err
	}
	if string(magic) != snapshotMagic {
		// Not this format: the original locker's JSON (small, read whole),
		// or neither.
		b, err := fr.rest()
		if err != nil {
			return err
		}
		st.snapSize = int64(len(b))
		if len(b) == 0 {
			return errors.New("the file is empty. Locker never writes an empty file, so it may have been truncated by a crash of another program; refusing to start with no locks. Restore it from a backup, or delete it to start with no locks")
		}
		if trimmed := bytes.TrimLeft(b, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			return st.readLegacy(trimmed)
		}
		return errors.New("not a Locker data file (neither a Locker snapshot nor the original locker's JSON: the original locker's data file is JSON, despite the .yml its name often ends in, and YAML is not read). If it is not the store's file, move it away to start afresh with no locks; if the store's own file was lost, put back that file with its log segments from the same backup")
	}
	fr.skip(len(magic))
	if err := st.readSnapshotFrames(fr, historyLimit); err != nil {
		var perr *fs.PathError
		if errors.As(err, &perr) {
			return err // reading the file failed
		}
		return &snapshotDamage{err}
	}
	return nil
}

// snapshotDamage is a snapshot that does not read as one after its magic
// line: damaged, cut short, or written wrong.
type snapshotDamage struct{ err error }

func (e *snapshotDamage) Error() string { return e.err.Error() }
func (e *snapshotDamage) Unwrap() error { return e.err }

// readSnapshotFrames reads what follows the snapshot's magic line.
func (st *state) readSnapshotFrames(fr *frameReader, historyLimit int) error {
	payload, err := fr.frame()
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
	st.fence, st.logGen = hdr.Fence, hdr.LogGen
	// Frames are read in chunks whose payloads are decoded in parallel
	// (decodeFrames), then checked and applied in order, so that the first
	// bad frame is reported exactly as reading them one by one would.
	var (
		payloads [][]byte
		offsets  []int64
		entries  []snapshotEntry
		errs     []error
	)
	for i := 0; i < hdr.Count; {
		var frameErr error
		payloads, offsets, frameErr = fr.frames(payloads[:0], offsets[:0], min(recoveryChunk, hdr.Count-i))
		if frameErr == nil && len(payloads) == 0 {
			frameErr = errTorn // the file ends before the snapshot does
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
	payload, err = fr.frame()
	if err != nil {
		return fmt.Errorf("snapshot end: %w", err)
	}
	var end snapshotEnd
	if err := json.Unmarshal(payload, &end); err != nil || !end.End || end.Count != hdr.Count {
		return errors.New("snapshot end marker is missing or wrong")
	}
	if more, err := fr.head(1); err != nil {
		return err
	} else if len(more) != 0 {
		return errors.New("data after the snapshot's end marker")
	}
	st.snapSize = fr.off
	return nil
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
	now := leaseclock.Now()
	for _, name := range names {
		ll := legacy[name]
		d := diskLock{Name: name}
		for h, c := range ll.LockedBy {
			if c < 0 {
				return fmt.Errorf("original locker's JSON: lock %q: holder %q has count %d, which the original locker never writes: edit the file (0 for a released holder, or its count of holds), then try again; nothing was changed", name, h, c)
			}
			if c == 0 {
				continue
			}
			d.Holds.Set(h, lock.Hold{Count: c, Acquired: now})
		}
		if len(d.Holds) == 0 && lock.ValidateName("lock name", name) != nil {
			// A free lock holds nothing to keep, and its name (which the
			// original took, and the API no longer does) nothing to use.
			st.skipped = append(st.skipped, name)
			continue
		}
		if len(d.Holds) > 0 {
			if ll.Key == "" {
				return fmt.Errorf("original locker's JSON: lock %q has holders but no key, which the original locker's API never leaves (only an edit of its file can): edit the file, giving the lock the key its holders took it with, or their counts 0 to free it, then try again; nothing was changed", name)
			}
			st.fence++
			d.Key, d.Fence, d.Since = ll.Key, st.fence, now
		}
		if err := d.check(); err != nil {
			return fmt.Errorf("original locker's JSON: lock %.80q: %w; this server could not address it, so it could never be released: release it with the original locker first, or edit the file", name, err)
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
	if err := checkRegular(seg.path); err != nil {
		return 0, false, err
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	st.segRecords = 0 // a segment cut off before its header holds none
	fr := newFrameReader(f)
	magic, err := fr.head(len(logMagic))
	if err != nil {
		return 0, false, err
	}
	if string(magic) != logMagic {
		if last && len(magic) < len(logMagic) && strings.HasPrefix(logMagic, string(magic)) {
			return 0, false, nil // created, then cut off before its header was written
		}
		return 0, false, errors.New("not a Locker log segment")
	}
	fr.skip(len(magic))
	payload, err := fr.frame()
	var hdr logHeader
	if err != nil {
		if !errors.Is(err, errTorn) && !errors.Is(err, errDamaged) {
			return 0, false, err // reading the file failed
		}
		at := fr.off
		rest, rerr := fr.rest()
		if rerr != nil {
			return 0, false, rerr
		}
		if last && tornHeader(rest, seg.gen) {
			return 0, false, nil // created, then cut off in its header
		}
		next := st.skipDamaged(seg, at, rest, err)
		if next == nil {
			// A header whose length was damaged reads as one cut off:
			// taken for that, the records after it were cut off with it.
			return 0, false, fmt.Errorf("log header is damaged (%v), and %d bytes follow it that a header cut short by a crash would not leave; refusing to guess%s", err, len(rest), salvageHint(seg, len(rest) > 0))
		}
		fr = next // salvaging: on from the first valid frame after it
	} else if err := json.Unmarshal(payload, &hdr); err != nil || hdr.Gen != seg.gen {
		return 0, false, fmt.Errorf("log header does not name segment %d", seg.gen)
	} else if err := st.checkRecords(seg, hdr); err != nil {
		return 0, false, err
	}
	// No token handed out before the segment was started is above the
	// counter its header keeps, also when records of the segments before
	// it were lost.
	st.fence = max(st.fence, hdr.Fence)
	// As in readSnapshot: chunks of frames, decoded in parallel, then
	// checked and applied in order.
	var (
		offsets  []int64
		payloads [][]byte
		recs     []logRecord
		errs     []error
	)
	for {
		var frameErr error
		payloads, offsets, frameErr = fr.frames(payloads[:0], offsets[:0], recoveryChunk)
		if frameErr == nil && len(payloads) == 0 {
			return fr.off, false, nil
		}
		recs, errs = decodeFrames(payloads, recs, errs, decodeLogRecord)
		for j := range payloads {
			rec := &recs[j]
			if err := errs[j]; err != nil {
				return 0, false, fmt.Errorf("record at byte %d: %w", offsets[j], err)
			}
			if rec.Next != 0 && rec.Lock.Name == "" {
				if rec.Next != seg.gen+1 {
					return 0, false, fmt.Errorf("record at byte %d names segment %d next, not %d", offsets[j], rec.Next, seg.gen+1)
				}
				st.rolledTo = rec.Next
				continue
			}
			if err := rec.Lock.check(); err != nil {
				return 0, false, fmt.Errorf("record at byte %d: %w", offsets[j], err)
			}
			st.fence = max(st.fence, rec.Fence, rec.Lock.Fence)
			st.segRecords++
			if st.salvage != nil {
				// What salvage reports of a name it finds in skipped bytes.
				if rec.Forget {
					st.salvage.forgotten[rec.Lock.Name] = true
				} else {
					delete(st.salvage.forgotten, rec.Lock.Name)
				}
			}
			if rec.Forget {
				delete(st.locks, rec.Lock.Name) // with its history
				continue
			}
			e := st.locks[rec.Lock.Name]
			if e == nil {
				e = &entry{}
				st.locks[rec.Lock.Name] = e
			}
			e.lock = rec.Lock.lock()
			e.history = appendHistory(e.history, rec.Lock.Name, rec.Events, historyLimit)
		}
		if frameErr != nil {
			if !errors.Is(frameErr, errTorn) && !errors.Is(frameErr, errDamaged) {
				return 0, false, frameErr // reading the file failed
			}
			// What follows the bad frame tells how it came to be there.
			off := fr.off
			rest, err := fr.rest()
			if err != nil {
				return 0, false, err
			}
			if preallocated(off+int64(len(rest)), rest) {
				return off, true, nil // the preallocated rest of the segment
			}
			if st.rolledTo == 0 && tornMarker(rest, seg.gen+1, last) {
				// The marker is written only once the next segment is
				// made: torn, it still says that segment existed (and
				// recovery refuses to go on without it).
				st.rolledTo = seg.gen + 1
				return off, true, nil
			}
			if last && !validFrameAfter(rest[1:]) {
				return off, false, nil // torn tail
			}
			if next := st.skipDamaged(seg, off, rest, frameErr); next != nil {
				fr = next // salvaging: on from the next valid frame
				continue
			}
			if !last {
				return 0, false, fmt.Errorf("damaged record at byte %d (%v) at the end of a segment that later ones follow; refusing to guess%s", off, frameErr, salvageHint(seg, true))
			}
			return 0, false, fmt.Errorf("damaged record at byte %d (%v) with valid records after it; refusing to guess%s", off, frameErr, salvageHint(seg, true))
		}
	}
}

// checkRecords compares the records replayed from the segment before seg
// (when one was) with the count seg's header gives, taken when seg was
// started: fewer, and some were lost. A segment can end unmarked (a crash
// between starting the next and writing the marker) or without its last
// records (a crash cut them before they were acknowledged) only when it is
// the last: once the next one is started, every record of it was written
// and synced. Cut back to a record boundary it looks whole otherwise, and
// a start went on without the rest, handing their tokens out again. In a
// salvage, the records that are left are kept and the loss reported
// (replay raises the counter to the header's).
func (st *state) checkRecords(seg segment, hdr logHeader) error {
	i := len(st.records)
	if i == 0 || hdr.Records == nil {
		return nil // the first segment replayed, or a header without the count
	}
	prev, have, want := st.segments[i-1], st.records[i-1], *hdr.Records
	if sv := st.salvage; sv != nil {
		// Each range skipped in it held a record at least.
		for _, k := range sv.skips {
			if k.Segment == prev.path {
				have++
			}
		}
	}
	if have >= want {
		return nil
	}
	if sv := st.salvage; sv != nil {
		sv.skips = append(sv.skips, SkippedRange{Segment: prev.path, Offset: st.tailOffset,
			Why: fmt.Sprintf("the segment ends here, but %s's header says %d records were written to it: some were lost (it was cut short, or put back from an older copy); the fence counter is raised to the one that header keeps", filepath.Base(seg.path), want)})
		return nil
	}
	file := strings.TrimSuffix(seg.path, fmt.Sprintf(".log.%d", seg.gen))
	return fmt.Errorf("log segment %s holds %d records, but this segment's header says %d were written to it before this one was started: the others were lost (the file cut short, or put back from an older copy), and starting without them would lose acknowledged changes and hand out their fencing tokens again; refusing to start. Run `locker salvage %s` with the server stopped to go on with the records that are left (it raises the fence counter above every token handed out before), or restore the store from a backup (the data file and every %s.log.* beside it, taken together)", prev.path, st.records[i-1], want, shellQuote(file), filepath.Base(file))
}

// tornHeader reports whether rest, what follows the magic line of log
// segment gen, is its header frame cut short by a crash: some of its bytes,
// each in its place, and zeros in the others and after it. Nothing else
// may be there: a record follows a header only once the header is whole.
//
// Past `{"gen":N`, a header holds numbers recovery cannot know before
// reading them (the fence counter, the records of the segment before),
// and its length and checksum depend on them: there, a byte counts as the
// header's own when it is one a header's JSON is made of, within the
// longest header there can be, and the length when a header can be that
// long (the checksum, any). A header whose payload is all there is whole,
// and a wrong checksum damage, not a tear.
func tornHeader(rest []byte, gen uint64) bool {
	if torn, _ := tornFrame(rest, appendFrame(nil, mustJSON(logHeader{Gen: gen})), 0); torn {
		return true // a header without the numbers, as older Lockers write it
	}
	records := int64(math.MaxInt64)
	most := len(mustJSON(logHeader{Gen: gen, Fence: math.MaxUint64, Records: &records}))
	known := fmt.Appendf(nil, `{"gen":%d`, gen)
	if len(rest) > frameHeader+most && !allZero(rest[frameHeader+most:]) {
		return false // more than a header
	}
	var length [4]byte
	copy(length[:], rest)
	n := int(length[0])
	if length[1] != 0 || length[2] != 0 || length[3] != 0 || n > most || n != 0 && n <= len(known) {
		return false
	}
	payload := rest[min(len(rest), frameHeader):]
	for i, c := range payload[:min(len(payload), most)] {
		switch {
		case c == 0:
		case i < len(known):
			if c != known[i] {
				return false
			}
		case !strings.ContainsRune(headerChars, rune(c)):
			return false
		}
	}
	return n == 0 || len(payload) < n || bytes.IndexByte(payload[:n], 0) >= 0
}

// headerChars are the bytes a log header's JSON is made of after its
// segment's number: its other fields' names and numbers.
const headerChars = `0123456789,:"}fencords`

// preallocated reports whether a segment of size bytes ends in rest the
// way preallocation leaves it: in zeros, shorter than a chunk, to a size
// that is a whole number of chunks. Zeros of any other shape are damage (in
// the last segment, possibly a torn tail).
func preallocated(size int64, rest []byte) bool {
	return size%preallocChunk == 0 && len(rest) < preallocChunk && allZero(rest)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
