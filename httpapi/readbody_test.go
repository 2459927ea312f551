package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// readBody gives what io.ReadAll gave, whatever the body and its declared
// length, and a body of a known length takes a buffer of that length
// (and a byte to spare) only.
func TestReadBodyAsReadAll(t *testing.T) {
	big := strings.Repeat("x", maxBody+1)
	for _, c := range []struct {
		name   string
		body   string
		length int64 // r.ContentLength
		want   string
		// failAtEnd: the body's reader fails so at its end, instead of io.EOF
		failAtEnd error
		wantErr   error // or:
		tooBig    bool
		exactCap  bool
	}{
		{name: "client body", body: `{"key":"k1","lock_by":"w1"}`, length: 27, want: `{"key":"k1","lock_by":"w1"}`, exactCap: true},
		{name: "none", body: "", length: 0, want: "", exactCap: true},
		{name: "length unknown (chunked)", body: `{"key":"k"}`, length: -1, want: `{"key":"k"}`},
		{name: "runs on past its length", body: `{"key":"k"} and more`, length: 11, want: `{"key":"k"} and more`},
		{name: "ends before its length", body: `{"key"`, length: 11, want: `{"key"`},
		{name: "ends before it starts", body: "", length: 5, want: ""},
		{name: "ends before its length, as net/http says", body: `{"key"`, length: 11, failAtEnd: io.ErrUnexpectedEOF, wantErr: io.ErrUnexpectedEOF},
		{name: "large, announced", body: strings.Repeat(" ", smallBody+1) + "{}", length: smallBody + 3, want: strings.Repeat(" ", smallBody+1) + "{}"},
		{name: "over the limit", body: big, length: int64(len(big)), tooBig: true},
		{name: "over the limit, length unknown", body: big, length: -1, tooBig: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			newBody := func() io.ReadCloser {
				if c.failAtEnd != nil {
					return io.NopCloser(io.MultiReader(strings.NewReader(c.body), iotest.ErrReader(c.failAtEnd)))
				}
				return io.NopCloser(strings.NewReader(c.body))
			}
			r := httptest.NewRequest(http.MethodPut, "/lock/x", newBody())
			r.ContentLength = c.length
			got, err := readBody(httptest.NewRecorder(), r)
			r2 := httptest.NewRequest(http.MethodPut, "/lock/x", newBody())
			all, allErr := io.ReadAll(http.MaxBytesReader(httptest.NewRecorder(), r2.Body, maxBody))
			if (err == nil) != (allErr == nil) || err == nil && !bytes.Equal(got, all) {
				t.Errorf("readBody gave %q, %v; io.ReadAll %q, %v", got, err, all, allErr)
			}
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
