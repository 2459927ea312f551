package filestore

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"time"

	"github.com/cloudfoundry-community/locker/internal/jsonenc"
	"github.com/cloudfoundry-community/locker/lock"
)

// Every acknowledged change is one log record, encoded while the change
// holds the store's mutex, so its encoding is on the hot path: through
// encoding/json's reflection it was 6% of the server's CPU under the
// benchmark (docs/benchmarks.md). appendRecordFrame writes the common shape of a
// record (a lock of keyed holds; acquired, released, expired and refreshed
// events) by hand, byte for byte as encoding/json would, and hands any
// other shape — pools, metadata, a forced release — to encoding/json.
// Snapshot entries (appendSnapshotFrame) likewise.
// TestRecordFrameMatchesEncodingJSON and TestSnapshotFrameMatchesEncodingJSON
// hold the two to the same bytes.

// appendRecordFrame appends r encoded as one frame to b.
func appendRecordFrame(b []byte, r *logRecord) []byte {
	if !plainRecord(r) {
		return appendFrame(b, mustJSON(r))
	}
	b, start := startPlainFrame(b, &r.Lock, "events", r.Events)
	b = append(b, `,"fence":`...)
	b = strconv.AppendUint(b, r.Fence, 10)
	b = append(b, '}')
	return sealFrame(b, start)
}

// appendSnapshotFrame appends se encoded as one frame to b, as
// appendRecordFrame does a log record: a snapshot holds every lock, so writing
// one with 100,000 locks through encoding/json was 3% of the server's CPU
// under load.
func appendSnapshotFrame(b []byte, se *snapshotEntry) []byte {
	if !plainLock(&se.Lock) || !plainEvents(se.History) {
		return appendFrame(b, mustJSON(se))
	}
	b, start := startPlainFrame(b, &se.Lock, "history", se.History)
	b = append(b, '}')
	return sealFrame(b, start)
}

// startPlainFrame starts a frame at the end of b (its header to be filled
// in by sealFrame at start) with {"lock":l and, when there are events,
// ,"field":events, both checked plain; the caller closes the object.
func startPlainFrame(b []byte, l *diskLock, field string, events []lock.Event) (_ []byte, start int) {
	start = len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, `{"lock":`...)
	b = appendPlainLock(b, l)
	if len(events) > 0 {
		b = append(b, `,"`...)
		b = append(b, field...)
		b = append(b, `":`...)
		b = appendPlainEvents(b, events)
	}
	return b, start
}

// sealFrame fills in the header of the frame at b[start:], whose payload
// follows the header to the end of b.
func sealFrame(b []byte, start int) []byte {
	payload := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:start+4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:start+8], crc32.Checksum(payload, castagnoli))
	return b
}

// appendPlainLock appends l, which plainLock has checked.
func appendPlainLock(b []byte, l *diskLock) []byte {
	b = append(b, `{"name":`...)
	b = jsonenc.AppendString(b, l.Name)
	if l.Key != "" {
		b = append(b, `,"key":`...)
		b = jsonenc.AppendString(b, l.Key)
	}
	if len(l.Holds) > 0 {
		b = append(b, `,"holds":`...)
		b, _ = jsonenc.AppendHolds(b, l.Holds) // plainLock checked its times
	}
	if l.Fence != 0 {
		b = append(b, `,"fence":`...)
		b = strconv.AppendUint(b, l.Fence, 10)
	}
	if !l.Since.IsZero() {
		b = append(b, `,"since":`...)
		b = appendTime(b, l.Since)
	}
	return append(b, '}')
}

// appendPlainEvents appends events, which plainEvents has checked, as a
// JSON array.
func appendPlainEvents(b []byte, events []lock.Event) []byte {
	b = append(b, '[')
	for i := range events {
		e := &events[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = jsonenc.AppendString(b, string(e.Type))
		b = append(b, `,"lock":`...)
		b = jsonenc.AppendString(b, e.Lock)
		b = append(b, `,"key":`...)
		b = jsonenc.AppendString(b, e.Key)
		b = append(b, `,"holder":`...)
		b = jsonenc.AppendString(b, e.Holder)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(e.Count), 10)
		b = append(b, `,"fence":`...)
		b = strconv.AppendUint(b, e.Fence, 10)
		b = append(b, `,"time":`...)
		b = appendTime(b, e.Time)
		if !e.Expires.IsZero() {
			b = append(b, `,"expires":`...)
			b = appendTime(b, e.Expires)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// plainRecord reports whether appendRecordFrame writes r itself.
func plainRecord(r *logRecord) bool {
	return !r.Forget && plainLock(&r.Lock) && plainEvents(r.Events)
}

// plainLock reports whether appendPlainLock writes l: no field that only
// pools use, and every time in UTC (as the store's clock gives them) and in
// the range encoding/json writes (years 0 to 9999). Other times go to
// encoding/json, which also refuses zone offsets of a day or more.
func plainLock(l *diskLock) bool {
	if !l.FreeSince.IsZero() || l.Pools != nil || l.Metadata != nil || !plainTime(l.Since) {
		return false
	}
	for _, h := range l.Holds {
		if !plainTime(h.Acquired) || !plainTime(h.Expires) {
			return false
		}
	}
	return true
}

// plainEvents reports whether appendPlainEvents writes events: no field
// that only pools and operators use, and plain times.
func plainEvents(events []lock.Event) bool {
	for i := range events {
		e := &events[i]
		if e.By != "" || e.Pools != nil || e.Pool != "" || !plainTime(e.Time) || !plainTime(e.Expires) {
			return false
		}
	}
	return true
}

func plainTime(t time.Time) bool {
	return t.IsZero() || (t.Location() == time.UTC && jsonenc.TimeOK(t))
}

// appendTime appends t, which plainRecord has checked encodes.
func appendTime(b []byte, t time.Time) []byte {
	b, _ = jsonenc.AppendTime(b, t)
	return b
}
