package httpapi

import (
	"net/http"
	"time"
)

// responseWriteTimeout bounds each part of an answer (writePart bytes at
// most) that waits for its client to take it: a client that sends a
// request and reads no more, once the socket's buffers are full, would
// hold its connection (and its place under LOCKER_MAX_CONNECTIONS) for
// ever, and the server's shutdown for its 30s of grace (a review: GET
// /locks of 22 MB, never read). Its connection is closed instead. The
// deadline is set as the answer is written, never before: a blocking wait
// may take far longer. net/http clears it once the answer is sent. Event
// streams have their own (streamWriteTimeout). A variable for tests.
var responseWriteTimeout = 30 * time.Second

// writePart is the most an answer writes under one deadline: a client
// reading slowly but steadily (more than writePart per
// responseWriteTimeout, 8 KiB/s) gets the largest listing.
const writePart = 256 << 10

// armWrite gives w's next writes responseWriteTimeout. Unsupported (a
// test's ResponseWriter) leaves them unbounded.
func armWrite(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(responseWriteTimeout))
}

// writeBody writes b as the body of w's answer, writePart at a time, each
// under its own deadline.
func writeBody(w http.ResponseWriter, b []byte) error {
	for {
		n := min(len(b), writePart)
		armWrite(w)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		if b = b[n:]; len(b) == 0 {
			return nil
		}
	}
}

// boundWrites gives the answers of h, a handler that answers at once (it
// never waits), responseWriteTimeout: for those written by code not ours
// (the metrics, http.ServeContent).
func boundWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		armWrite(w)
		h.ServeHTTP(w, r)
	})
}
