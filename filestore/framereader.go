package filestore

import (
	"encoding/binary"
	"errors"
	"io"
)

// readWindow is how much of a file recovery reads at a time. Recovery used
// to read the snapshot and each log segment whole, so a server with 100,000
// locks held the 40 MB snapshot, then up to 80 MB of log, in memory on top
// of the locks it was rebuilding. A variable so that tests can make it
// small.
var readWindow = 4 << 20

// firstWindow is the buffer a reader starts with; it doubles as the file's
// bytes come, up to readWindow, so that a small file gets a small buffer.
const firstWindow = 64 << 10

// frameReader reads the frames of a snapshot or log segment through a
// window of up to readWindow bytes (more when one frame needs it).
type frameReader struct {
	f    io.Reader
	buf  []byte
	r, w int   // buf[r:w] has been read from the file and not consumed
	off  int64 // the file offset of buf[r]
	eof  bool  // the file has no more bytes after buf[w]
	err  error // a read error, returned from then on
}

func newFrameReader(f io.Reader) *frameReader {
	return &frameReader{f: f, buf: make([]byte, min(readWindow, firstWindow))}
}

// fill makes buf[r:w] hold at least n bytes, reading from the file. It
// returns false if the file ends first, on a read error (fr.err), or, when
// move is false, if the bytes do not fit without moving buf[r:w] (which
// would overwrite payloads handed out before).
//
// The buffer grows only when it is full of bytes read from the file, never
// to a size a frame's length asks for before those bytes have come: a
// damaged length near maxFrame at the end of a file costs nothing.
func (fr *frameReader) fill(n int, move bool) bool {
	for fr.w-fr.r < n && !fr.eof && fr.err == nil {
		if fr.w == len(fr.buf) {
			if !move {
				return false
			}
			buf := fr.buf
			switch {
			case fr.r == 0: // the bytes wanted do not fit: a frame larger than the buffer
				buf = make([]byte, min(2*len(buf), max(n, readWindow)))
			case len(buf) < readWindow:
				buf = make([]byte, min(2*len(buf), readWindow))
			}
			fr.w = copy(buf, fr.buf[fr.r:fr.w])
			fr.r, fr.buf = 0, buf
		}
		k, err := fr.f.Read(fr.buf[fr.w:])
		fr.w += k
		switch {
		case err == io.EOF:
			fr.eof = true
		case err != nil:
			fr.err = err
		}
	}
	return fr.w-fr.r >= n
}

// head returns up to n bytes at the reader's position, fewer only if the
// file ends before; they are not consumed.
func (fr *frameReader) head(n int) ([]byte, error) {
	fr.fill(n, true)
	return fr.buf[fr.r:min(fr.w, fr.r+n)], fr.err
}

// skip consumes n bytes that head returned.
func (fr *frameReader) skip(n int) {
	fr.r += n
	fr.off += int64(n)
}

// frames appends the payloads of up to limit frames that follow, and their
// offsets in the file, stopping early where a frame would not fit in the
// window behind those already read. The payloads stay valid until the next
// call. At the end of the file it returns no frames and no error; where a
// frame cannot be read it returns the frames before it and readFrame's
// error for it (the reader then stays at that frame), or the read error.
func (fr *frameReader) frames(payloads [][]byte, offsets []int64, limit int) ([][]byte, []int64, error) {
	for len(payloads) < limit {
		payload, n, err := readFrame(fr.buf[fr.r:fr.w])
		if errors.Is(err, errTorn) && !fr.eof {
			need := frameHeader
			if fr.w-fr.r >= frameHeader {
				// readFrame has checked that it is at most maxFrame.
				need += int(binary.LittleEndian.Uint32(fr.buf[fr.r:]))
			}
			if !fr.fill(need, len(payloads) == 0) {
				if fr.err != nil {
					return payloads, offsets, fr.err
				}
				if !fr.eof {
					break // the next call moves the window
				}
			}
			continue // read it again with what came in
		}
		if errors.Is(err, errTorn) && fr.r == fr.w {
			break // the end of the file
		}
		if err != nil {
			return payloads, offsets, err
		}
		payloads = append(payloads, payload)
		offsets = append(offsets, fr.off)
		fr.skip(n)
	}
	return payloads, offsets, nil
}

// frame reads one frame, as readFrame does on the rest of the file. The
// payload stays valid until the next read.
func (fr *frameReader) frame() ([]byte, error) {
	var one [1][]byte
	var off [1]int64
	payloads, _, err := fr.frames(one[:0], off[:0], 1)
	if err == nil && len(payloads) == 0 {
		err = errTorn
	}
	if err != nil {
		return nil, err
	}
	return payloads[0], nil
}

// rest reads and consumes what is left of the file, for the slow paths
// that look at all of it: a bad frame, or a file that is not in this
// format.
func (fr *frameReader) rest() ([]byte, error) {
	b := append([]byte(nil), fr.buf[fr.r:fr.w]...)
	if fr.err == nil && !fr.eof {
		more, err := io.ReadAll(fr.f)
		b = append(b, more...)
		fr.err, fr.eof = err, err == nil
	}
	fr.r, fr.w = 0, 0
	fr.off += int64(len(b))
	return b, fr.err
}
