package filestore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// On disk, both the snapshot and the log are a magic line followed by frames.
// A frame is a 4-byte little-endian payload length, a 4-byte CRC-32C of the
// payload, and the payload (one JSON document).

const (
	frameHeader = 8
	// maxFrame bounds a frame's payload: a length above it is damage, not data.
	maxFrame = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends payload as one frame to buf.
func appendFrame(buf, payload []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(payload, castagnoli))
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

var (
	errTorn    = errors.New("frame runs past the end of the file")
	errDamaged = errors.New("frame checksum or length is wrong")
)

// readFrame decodes the frame at the start of b. It returns the payload and
// the frame's total size, errTorn when b ends inside the frame, errDamaged when
// the frame is complete but wrong.
func readFrame(b []byte) (payload []byte, size int, err error) {
	if len(b) < frameHeader {
		return nil, 0, errTorn
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n == 0 || n > maxFrame {
		// Nothing is ever written with an empty payload, and zeros (whose
		// CRC-32C is zero too) are what a crash may leave past the end.
		return nil, 0, errDamaged
	}
	if uint64(len(b)) < frameHeader+uint64(n) {
		return nil, 0, errTorn
	}
	payload = b[frameHeader : frameHeader+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, 0, errDamaged
	}
	return payload, frameHeader + int(n), nil
}

// validFrameAfter reports whether any complete, valid frame starts anywhere in
// b. After a bad frame, it tells a torn tail (nothing valid follows: the
// crash cut the last write) from damage in the middle (valid data follows).
func validFrameAfter(b []byte) bool {
	return nextValidFrame(b) >= 0
}

// nextValidFrame returns the offset of the first complete, valid frame that
// starts in b, or -1 when there is none. Salvage (salvage.go) goes on
// replaying from there after a damaged frame.
func nextValidFrame(b []byte) int {
	for i := 0; i+frameHeader <= len(b); i++ {
		if n := binary.LittleEndian.Uint32(b[i : i+4]); n == 0 || n > maxFrame {
			continue
		}
		if _, _, err := readFrame(b[i:]); err == nil {
			return i
		}
	}
	return -1
}
