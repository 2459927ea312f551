package resource

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// TestCutWaitExplained: a wait cut short says what cut it and names
// source.wait_chunk, with a value below the cut (at least 1s), never the
// client's Options.WaitChunk; a 502 or a closed connection names a server
// that failed or restarted too. It still matches the client's error.
func TestCutWaitExplained(t *testing.T) {
	r := &runner{src: &Source{}}
	for _, tc := range []struct {
		name string
		cut  *client.WaitCutError
		want []string
	}{
		{"504 after a minute", &client.WaitCutError{Asked: 5 * time.Minute, After: time.Minute, Err: &client.APIError{StatusCode: 504, Message: "<html><title>504 Gateway Time-out</title></html>"}},
			[]string{"answered HTTP 504 (Gateway Timeout) after the request had waited 1m0s of the 5m0s", "most likely a proxy or load balancer whose read (or idle) timeout, about 1m0s", "raise the proxy's read timeout above 5m0s", "set source.wait_chunk below it, e.g. wait_chunk: 45s"}},
		{"502", &client.WaitCutError{Asked: 5 * time.Minute, After: 30 * time.Second, Err: &client.APIError{StatusCode: 502, Message: "Bad Gateway"}},
			[]string{"answered HTTP 502 (Bad Gateway)", "the server may have failed or restarted; or, if this happens each time after about 30s", "wait_chunk: 22s"}},
		{"closed after 1s", &client.WaitCutError{Asked: 2 * time.Minute, After: 1200 * time.Millisecond, Err: &client.ConnError{URL: "http://l", Err: io.ErrUnexpectedEOF}},
			[]string{"closed the connection after the request had waited 1s of the 2m0s", "the server may have failed or restarted", "wait_chunk: 1s"}},
	} {
		err := r.explain(tc.cut)
		msg := r.waitFailed(tc.cut)
		for _, want := range append(tc.want, "; this step lost its place in the server's queue") {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", tc.name, msg, want)
			}
		}
		if strings.Contains(msg, "WaitChunk") || strings.Contains(err.Error(), "lost its place") {
			t.Errorf("%s: %q", tc.name, msg)
		}
		if !errors.Is(err, tc.cut) || !errors.As(err, new(*client.WaitCutError)) {
			t.Errorf("%s: the explained error no longer matches the client's", tc.name)
		}
	}
}
