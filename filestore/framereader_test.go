package filestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// frameAt is one step of reading frames one by one: a payload at an
// offset, or the error there.
type frameAt struct {
	off     int64
	payload []byte
	err     error
}

// framesOf reads b the way recovery did when it read files whole: readFrame
// at each offset until the end or the first bad frame.
func framesOf(b []byte) (frames []frameAt) {
	off := 0
	for off < len(b) {
		payload, n, err := readFrame(b[off:])
		if err != nil {
			return append(frames, frameAt{off: int64(off), err: err})
		}
		frames = append(frames, frameAt{off: int64(off), payload: payload})
		off += n
	}
	return frames
}

// TestFrameReaderMatchesReadFrame reads files of frames, with every kind of
// end, through windows from one byte to the whole file, in chunks of
// various sizes and over readers that return few bytes at a time, and
// checks that the frames, their offsets, the error that stops them and
// what is left after it are those of reading the file whole. Each chunk's
// payloads are checked only once the chunk is complete: reading a frame
// must not overwrite those read before it in the same chunk.
func TestFrameReaderMatchesReadFrame(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var frames []byte
	for range 60 {
		payload := make([]byte, 1+rnd.IntN(3000))
		for i := range payload {
			payload[i] = byte('a' + rnd.IntN(26))
		}
		frames = appendFrame(frames, payload)
	}
	last := len(frames) - len(appendFrame(nil, make([]byte, 1))) // a point inside the last frame
	badCRC := bytes.Clone(frames)
	badCRC[len(badCRC)/2] ^= 1
	huge := binary.LittleEndian.AppendUint32(nil, maxFrame+1)
	long := binary.LittleEndian.AppendUint32(nil, 1<<20) // longer than what follows
	files := map[string][]byte{
		"empty":                 nil,
		"frames":                frames,
		"torn header":           append(bytes.Clone(frames), 9, 0, 0),
		"torn payload":          frames[:last],
		"zeros after":           append(bytes.Clone(frames), make([]byte, 5000)...),
		"a bad checksum inside": badCRC,
		"a huge length":         append(append(bytes.Clone(frames), huge...), make([]byte, 20)...),
		"a length past the end": append(append(bytes.Clone(frames), long...), make([]byte, 20)...),
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole reads":    func(r io.Reader) io.Reader { return r },
		"one byte reads": iotest.OneByteReader,
		"half reads":     iotest.HalfReader,
	}
	for name, b := range files {
		want := framesOf(b)
		for rname, reader := range readers {
			for _, window := range []int{1, 8, 100, 4099, len(b) + 1} {
				for _, limit := range []int{1, 3, recoveryChunk} {
					t.Run(fmt.Sprintf("%s/%s/window %d/chunk %d", name, rname, window, limit), func(t *testing.T) {
						old := readWindow
						readWindow = window
						defer func() { readWindow = old }()
						fr := newFrameReader(reader(bytes.NewReader(b)))
						var got []frameAt
						var payloads [][]byte
						var offsets []int64
						for {
							var err error
							payloads, offsets, err = fr.frames(payloads[:0], offsets[:0], limit)
							if len(payloads) > limit {
								t.Fatalf("%d frames in a chunk of %d", len(payloads), limit)
							}
							for i, p := range payloads {
								got = append(got, frameAt{off: offsets[i], payload: bytes.Clone(p)})
							}
							if err != nil {
								got = append(got, frameAt{off: fr.off, err: err})
								break
							}
							if len(payloads) == 0 {
								break
							}
						}
						if len(got) != len(want) {
							t.Fatalf("%d frames and errors, want %d", len(got), len(want))
						}
						for i := range want {
							g, w := got[i], want[i]
							if g.off != w.off || !bytes.Equal(g.payload, w.payload) || !errors.Is(g.err, w.err) || (g.err == nil) != (w.err == nil) {
								t.Fatalf("step %d: offset %d, %d bytes, err %v; want offset %d, %d bytes, err %v", i, g.off, len(g.payload), g.err, w.off, len(w.payload), w.err)
							}
						}
						rest, err := fr.rest()
						if err != nil {
							t.Fatal(err)
						}
						from := int64(len(b))
						if n := len(want); n > 0 && want[n-1].err != nil {
							from = want[n-1].off
						}
						if !bytes.Equal(rest, b[from:]) {
							t.Fatalf("rest: %d bytes, want the %d from offset %d", len(rest), len(b)-int(from), from)
						}
					})
				}
			}
		}
	}
}

// TestFrameReaderReportsReadErrors: a file that cannot be read is an error,
// not an end.
func TestFrameReaderReportsReadErrors(t *testing.T) {
	frames := appendFrame(appendFrame(nil, []byte(`{"a":1}`)), []byte(`{"b":2}`))
	boom := errors.New("boom")
	fr := newFrameReader(io.MultiReader(bytes.NewReader(frames[:len(frames)-3]), iotest.ErrReader(boom)))
	payloads, _, err := fr.frames(nil, nil, recoveryChunk)
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the read error", err)
	}
	if len(payloads) != 1 || string(payloads[0]) != `{"a":1}` {
		t.Fatalf("payloads %q", payloads)
	}
	if _, err := fr.frame(); !errors.Is(err, boom) {
		t.Fatalf("next frame: err %v, want the read error again", err)
	}
}

// TestFrameReaderGrowsOnlyWithData: a damaged length near maxFrame at the
// end of a file must not make the reader allocate what it asks for; the
// buffer grows only with bytes read. And a small file gets a small buffer.
func TestFrameReaderGrowsOnlyWithData(t *testing.T) {
	file := appendFrame(nil, []byte(`{"a":1}`))
	file = binary.LittleEndian.AppendUint32(file, maxFrame)
	file = append(file, 1, 2, 3, 4, 5)
	fr := newFrameReader(bytes.NewReader(file))
	if _, err := fr.frame(); err != nil {
		t.Fatal(err)
	}
	if _, err := fr.frame(); !errors.Is(err, errTorn) { // first of its chunk: the window may move
		t.Fatalf("err %v, want a torn frame", err)
	}
	if len(fr.buf) > firstWindow {
		t.Fatalf("a %d-byte file grew the buffer to %d bytes", len(file), len(fr.buf))
	}
	// A frame larger than the window does grow it, to what came.
	big := appendFrame(nil, bytes.Repeat([]byte("x"), readWindow+1000))
	fr = newFrameReader(bytes.NewReader(big))
	if p, err := fr.frame(); err != nil || len(p) != readWindow+1000 {
		t.Fatalf("a frame larger than the window: %d bytes, err %v", len(p), err)
	}
	if len(fr.buf) > 2*len(big) {
		t.Fatalf("buffer %d bytes for a %d-byte frame", len(fr.buf), len(big))
	}
}
