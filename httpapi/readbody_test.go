package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readBody gives what io.ReadAll gave, whatever the body and its declared
// length, and a body of a known length takes a buffer of that length
// (and a byte to spare) only.
func TestReadBodyAsReadAll(t *testing.T) {
	big := strings.Repeat("x", maxBody+1)
	for _, c := range []struct {
		name     string
		body     string
		length   int64 // r.ContentLength
		want     string
		wantErr  error // or:
		tooBig   bool
		exactCap bool
	}{
		{name: "client body", body: `{"key":"k1","lock_by":"w1"}`, length: 27, want: `{"key":"k1","lock_by":"w1"}`, exactCap: true},
		{name: "none", body: "", length: 0, want: "", exactCap: true},
		{name: "length unknown (chunked)", body: `{"key":"k"}`, length: -1, want: `{"key":"k"}`},
		{name: "runs on past its length", body: `{"key":"k"} and more`, length: 11, want: `{"key":"k"} and more`},
		{name: "ends before its length", body: `{"key"`, length: 11, wantErr: io.ErrUnexpectedEOF},
		{name: "over the limit", body: big, length: int64(len(big)), tooBig: true},
		{name: "over the limit, length unknown", body: big, length: -1, tooBig: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/lock/x", io.NopCloser(strings.NewReader(c.body)))
			r.ContentLength = c.length
			got, err := readBody(httptest.NewRecorder(), r)
			var tooBig *http.MaxBytesError
			switch {
			case c.tooBig:
				if !errors.As(err, &tooBig) {
					t.Fatalf("error %v, want a MaxBytesError", err)
				}
				return
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("error %v", err)
			}
			if !bytes.Equal(got, []byte(c.want)) {
				t.Fatalf("read %q, want %q", got, c.want)
			}
			if c.exactCap && cap(got) > len(c.want)+1 {
				t.Errorf("buffer of %d bytes for a body of %d", cap(got), len(c.want))
			}
		})
	}
}
