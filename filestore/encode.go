package filestore

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"time"

	"github.com/cloudfoundry-community/locker/internal/jsonenc"
)

// Every acknowledged change is one log record, encoded while the change
// holds the store's mutex, so its encoding is on the hot path: through
// encoding/json's reflection it was 6% of the server's CPU under the
// benchmark (docs/benchmarks.md). recordFrame writes the common shape of a
// record (a lock of keyed holds; acquired, released, expired and refreshed
// events) by hand, byte for byte as encoding/json would, and hands any
// other shape — pools, metadata, a forced release — to encoding/json.
// TestRecordFrameMatchesEncodingJSON holds the two to the same bytes.

// recordFrame returns r encoded as one frame.
func recordFrame(r *logRecord) []byte {
	if !plainRecord(r) {
		return appendFrame(nil, mustJSON(r))
	}
	b := make([]byte, frameHeader, frameHeader+512)
	b = append(b, `{"lock":{"name":`...)
	b = jsonenc.AppendString(b, r.Lock.Name)
	if r.Lock.Key != "" {
		b = append(b, `,"key":`...)
		b = jsonenc.AppendString(b, r.Lock.Key)
	}
	if len(r.Lock.Holds) > 0 {
		b = append(b, `,"holds":`...)
		b, _ = jsonenc.AppendHolds(b, r.Lock.Holds) // plainRecord checked its times
	}
	if r.Lock.Fence != 0 {
		b = append(b, `,"fence":`...)
		b = strconv.AppendUint(b, r.Lock.Fence, 10)
	}
	if !r.Lock.Since.IsZero() {
		b = append(b, `,"since":`...)
		b = appendTime(b, r.Lock.Since)
	}
	b = append(b, '}')
	if len(r.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i := range r.Events {
			e := &r.Events[i]
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
		b = append(b, ']')
	}
	b = append(b, `,"fence":`...)
	b = strconv.AppendUint(b, r.Fence, 10)
	b = append(b, '}')
	payload := b[frameHeader:]
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(payload, castagnoli))
	return b
}

// plainRecord reports whether recordFrame writes r itself: no field that
// only pools and operators use, and every time in UTC (as the store's clock
// gives them) and in the range encoding/json writes (years 0 to 9999).
// Other times go to encoding/json, which also refuses zone offsets of a
// day or more.
func plainRecord(r *logRecord) bool {
	l := &r.Lock
	if !l.FreeSince.IsZero() || l.Pools != nil || l.Metadata != nil || !plainTime(l.Since) {
		return false
	}
	for _, h := range l.Holds {
		if !plainTime(h.Acquired) || !plainTime(h.Expires) {
			return false
		}
	}
	for i := range r.Events {
		e := &r.Events[i]
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
