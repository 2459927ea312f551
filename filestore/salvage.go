package filestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cloudfoundry-community/locker/lock"
)

// Salvage is the way out when recovery refuses a log segment for a damaged
// frame with valid data after it (a byte overwritten in the middle of a
// segment, damage at the end of a segment that later ones follow, a damaged
// segment header with records after it, or the zeros a power cut during
// the fsync of a batch can leave before complete records), or for fewer
// records than the next segment's header says were written to it (cut
// short at a record boundary: the records left are kept, the loss
// reported). Recovery is
// right to refuse to guess at start; Salvage, run by an operator with the
// server stopped, skips from each damaged frame to the next valid one and
// goes on replaying.
//
// A log record holds a lock's whole state after a change, so a skipped
// record loses only that change, and not even that when a later record of
// the same lock survives; records after zeros that a crash left were never
// acknowledged, and are brought back. Skipped or lost records may have
// carried the highest fencing token handed out: the fence counter starts
// from the highest of the records kept, the counters the segments' headers
// keep (taken when each was started, they cover the records lost from the
// segments before, whatever their size) and any token still legible in the
// skipped bytes, and is raised by the number of bytes skipped (each record
// takes more than one byte and hands out at most one token).
//
// Salvage then writes a fresh snapshot of what it recovered, naming a new
// log segment, and moves the old segments aside, never deleting them; the
// skipped bytes are also copied beside their segment. Damage in the
// snapshot itself, and missing segments, are out of its reach: it fails
// with recovery's message and changes nothing.
func Salvage(path string, opts Options) (*SalvageReport, error) {
	opts = opts.withDefaults()
	path, err := existingStore(path)
	if err != nil {
		return nil, err
	}
	// Locked as Open locks it: never while a server uses the files.
	s := &Store{path: path, opts: opts, owner: ownerFor(path)}
	if s.dir, err = os.Open(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("opening the data directory: %w", err)
	}
	defer s.dir.Close()
	if err := s.takeFileLock(); err != nil {
		return nil, err
	}
	defer s.lockFile.Close()
	if err := s.lockSnapshot(5); err != nil {
		return nil, err
	}
	defer func() {
		if s.snapFile != nil {
			s.snapFile.Close()
		}
	}()
	segs, err := regularSegments(path)
	if err != nil {
		return nil, err
	}
	rep := &SalvageReport{Path: path}
	st, err := recoverState(path, opts.HistoryLimit)
	if err == nil || errors.Is(err, errLegacy) {
		// Nothing recovery refuses: a start reads it as it is (and drops
		// a torn tail, or converts the original locker's file, itself).
		rep.Locks = len(st.locks)
		rep.FenceBefore, rep.FenceAfter = st.fence, st.fence
		return rep, nil
	}
	first := err
	sv := &salvager{forgotten: map[string]bool{}}
	st, err = recoverSalvaging(path, opts.HistoryLimit, sv)
	if err != nil {
		return nil, &SalvageError{Err: err}
	}
	if len(sv.skips) == 0 {
		// Refused at first and not now: the file changed meanwhile, or
		// reading it failed the first time.
		return nil, fmt.Errorf("%w (read again, the store showed no damage; run locker salvage again)", first)
	}
	if err := sv.tornTail(st); err != nil {
		return nil, err
	}
	rep.Damaged = true
	rep.Locks = len(st.locks)
	rep.FenceBefore = st.fence
	legible := st.fence
	var skipped uint64
	names := map[string]bool{}
	for i := range sv.skips {
		k := &sv.skips[i]
		skipped += uint64(len(k.bytes))
		legible = max(legible, k.LegibleFence)
		for _, n := range k.LockNames {
			names[n] = true
		}
	}
	rep.SkippedBytes = skipped
	rep.LegibleFence = legible
	rep.FenceAfter = legible + skipped
	for n := range names {
		rep.LockNames = append(rep.LockNames, n)
	}
	sort.Strings(rep.LockNames)
	rep.Now = map[string]*lock.Lock{}
	rep.Forgotten = map[string]bool{}
	for _, n := range rep.LockNames {
		if e := st.locks[n]; e != nil && e.lock != nil {
			rep.Now[n] = e.lock
		} else if sv.forgotten[n] {
			rep.Forgotten[n] = true
		}
	}

	stamp := opts.Now().UTC().Format("20060102T150405.000000000Z")
	// The skipped bytes, beside their segment (they are in the segment
	// kept aside too; these are the bytes to look at).
	for i := range sv.skips {
		k := &sv.skips[i]
		if allZero(k.bytes) {
			continue // zeros hold nothing to look at
		}
		k.Kept = fmt.Sprintf("%s.dropped-%s-at-%d", k.Segment, stamp, k.Offset)
		if err := writeFileSync(k.Kept, k.bytes, s.owner); err != nil {
			return nil, fmt.Errorf("keeping the skipped bytes of %s: %w", k.Segment, err)
		}
	}
	// The old segments, under a second name first: once the snapshot
	// below names a newer segment, a start removes segments older than
	// it, and a crash may come before they are renamed.
	segs, err = listSegments(path)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, errors.New("the log segments went away during salvage")
	}
	for _, seg := range segs {
		aside := fmt.Sprintf("%s.before-salvage-%s", seg.path, stamp)
		if err := keepAside(seg.path, aside, s.owner); err != nil {
			return nil, fmt.Errorf("keeping %s aside: %w", seg.path, err)
		}
		rep.Aside = append(rep.Aside, [2]string{seg.path, aside})
	}
	if err := s.dir.Sync(); err != nil {
		return nil, err
	}
	// As Open and compaction do: the new segment, then the snapshot that
	// names it.
	gen := segs[len(segs)-1].gen + 1
	s.fence = rep.FenceAfter // for the new segment's header
	if err := s.startSegment(gen); err != nil {
		return nil, fmt.Errorf("starting %s: %w", segmentPath(path, gen), err)
	}
	rep.Segment = segmentPath(path, gen)
	if err := s.writeSnapshotOfLocks(gen, rep.FenceAfter, snapshotOf(st.locks)); err != nil {
		return nil, fmt.Errorf("writing the snapshot: %w", err)
	}
	for _, seg := range segs {
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (it is older than the new snapshot, and kept aside: the next start removes it)", err)
		}
	}
	if err := s.dir.Sync(); err != nil {
		return nil, err
	}
	rep.Skipped = sv.skips
	return rep, nil
}

// SalvageReport is what Salvage did.
type SalvageReport struct {
	Path string // the data file
	// Damaged is false when recovery found nothing to skip: no file was
	// changed.
	Damaged bool
	Skipped []SkippedRange
	// SkippedBytes is their total size: the margin the fence counter is
	// raised by.
	SkippedBytes uint64
	// LockNames are the names still legible in the skipped bytes, sorted;
	// Now holds their state after salvage (absent: no record of the lock
	// is left).
	LockNames []string
	Now       map[string]*lock.Lock
	// Forgotten holds those of them absent from Now because a record
	// kept forgot them (POST /lock/{name}/forget), not because every
	// record of them was skipped.
	Forgotten map[string]bool
	// FenceBefore is the highest token in the records kept and counter in
	// the segments' headers; LegibleFence the highest of it and those
	// legible in the skipped bytes; FenceAfter the counter written,
	// LegibleFence plus SkippedBytes.
	FenceBefore, LegibleFence, FenceAfter uint64
	Locks                                 int // locks in the new snapshot
	// Segment is the new log segment the snapshot names; Aside the old
	// segments, each with the name it is kept under.
	Segment string
	Aside   [][2]string
}

// SkippedRange is one run of bytes salvage skipped.
type SkippedRange struct {
	Segment string // the log segment
	Offset  int64  // where the damaged bytes start
	// Size is 0 for records missing from the end of the segment (the
	// next segment's header counts more): nothing was skipped there.
	Size int64
	Why  string
	// Kept is the file the bytes were copied to ("" when they were all
	// zeros).
	Kept string
	// LockNames are the lock names legible in them; LegibleFence the
	// highest fence legible in them (0: none).
	LockNames    []string
	LegibleFence uint64
	bytes        []byte
}

// SalvageError is a refusal that salvage cannot get past: damage in the
// snapshot, a missing segment.
type SalvageError struct{ Err error }

func (e *SalvageError) Error() string {
	return e.Err.Error() + ". locker salvage only skips damaged records in the log segments: damage in the snapshot file itself, a missing or emptied log segment, or a record whose checksum is right but whose contents are not, are out of its reach; restore the store from a backup (the data file and every <file>.log.* beside it, taken together). No file was changed"
}

func (e *SalvageError) Unwrap() error { return e.Err }

// salvager collects what replay skips in a salvage.
type salvager struct {
	skips []SkippedRange
	// forgotten: the names whose last record kept is a forget
	// (SalvageReport.Forgotten).
	forgotten map[string]bool
}

// skipDamaged, in a salvage, records the bytes of rest (the segment's from
// off, starting with a damaged frame) up to the next valid frame, and
// returns a reader of the segment from there on. Outside a salvage, or when
// rest is empty, it returns nil: replay refuses.
func (st *state) skipDamaged(seg segment, off int64, rest []byte, why error) *frameReader {
	if st.salvage == nil || len(rest) == 0 {
		return nil
	}
	k := len(rest)
	if i := nextValidFrame(rest[1:]); i >= 0 {
		k = 1 + i
	}
	st.salvage.add(seg.path, off, rest[:k], why.Error())
	fr := newFrameReader(bytes.NewReader(rest[k:]))
	fr.off = off + int64(k)
	return fr
}

func (sv *salvager) add(path string, off int64, b []byte, why string) {
	sv.skips = append(sv.skips, SkippedRange{
		Segment: path, Offset: off, Size: int64(len(b)), Why: why,
		LockNames: lockNamesIn(b), LegibleFence: legibleFence(b), bytes: bytes.Clone(b),
	})
}

// tornTail adds what follows the last segment's records, when it is not
// preallocated zeros: a start drops it as a write a crash cut short, but it
// may be the last record damaged, and the salvaged store starts afresh
// without it.
func (sv *salvager) tornTail(st *state) error {
	if len(st.segments) == 0 || st.zeroTail || st.tailOffset == 0 {
		return nil
	}
	last := st.segments[len(st.segments)-1]
	f, err := os.Open(last.path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, st.tailOffset, 1<<62))
	if err != nil || len(b) == 0 || allZero(b) {
		return err
	}
	sv.add(last.path, st.tailOffset, b, "a record cut short at the end of the log, as a crash leaves it (a start drops it too)")
	return nil
}

// keepAside gives the file at path a second name, aside (a hard link, or a
// copy where links are not supported): the bytes stay under aside when
// path is removed. A copy is given to o.
func keepAside(path, aside string, o owner) error {
	if err := os.Link(path, aside); err == nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return writeFileSync(aside, b, o)
}

var (
	// A record's lock, and an event's: `{"lock":{"name":"N"` and
	// `{"type":"T","lock":"N"` (encode.go, and encoding/json alike).
	recordName = regexp.MustCompile(`"lock":\{"name":("(?:[^"\\\x00-\x1f]|\\.)*")`)
	eventName  = regexp.MustCompile(`\{"type":"[a-z_]+","lock":("(?:[^"\\\x00-\x1f]|\\.)*")`)
	fenceField = regexp.MustCompile(`"fence":([0-9]{1,20})`)
)

// lockNamesIn returns the lock names still legible in b, sorted, each
// once.
func lockNamesIn(b []byte) []string {
	seen := map[string]bool{}
	var names []string
	for _, re := range []*regexp.Regexp{recordName, eventName} {
		for _, m := range re.FindAllSubmatch(b, -1) {
			// Bytes that are not UTF-8 are damage: a name is UTF-8 when
			// written, and encoding/json escapes any other byte.
			var name string
			if !utf8.Valid(m[1]) || json.Unmarshal(m[1], &name) != nil || lock.ValidateName("lock name", name) != nil || seen[name] {
				continue
			}
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// maxLegibleFence bounds the fences legible in skipped bytes: a digit
// damaged into a larger one only raises the counter further, but one past
// 2^53 (what JSON readers keep exactly) is taken for damage.
const maxLegibleFence = 1<<53 - 1

// legibleFence returns the highest fence still legible in b (0: none).
func legibleFence(b []byte) uint64 {
	var most uint64
	for _, m := range fenceField.FindAllSubmatch(b, -1) {
		if n, err := strconv.ParseUint(string(m[1]), 10, 64); err == nil && n <= maxLegibleFence {
			most = max(most, n)
		}
	}
	return most
}

// salvageHint ends recovery's refusal of a damaged log segment: with
// salvage, how to get past it.
func salvageHint(seg segment, salvageable bool) string {
	if !salvageable {
		return ". Restore from a backup"
	}
	file := strings.TrimSuffix(seg.path, fmt.Sprintf(".log.%d", seg.gen))
	return fmt.Sprintf("; run `locker salvage %s` with the server stopped to skip the damaged records (it keeps their bytes and reports what they held), or restore from a backup", shellQuote(file))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
