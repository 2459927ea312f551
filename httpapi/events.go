package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// heartbeat is how often an event stream gets a comment line, so proxies
// keep it open and dead clients are noticed; a stream asked with ?ping=true
// gets a "ping" event instead. A variable for tests.
var heartbeat = 15 * time.Second

// pingEvent is the heartbeat of a stream asked with ?ping=true, and its
// first message. A browser passes no comment to the page, nor an event
// without data: a page (the dashboard) could not tell a stream that hangs
// (a proxy that buffers it, a connection cut without a word) from one with
// nothing to say. Only on request: the Go client hands any event with data
// to its caller, and scripts parse the names they know.
const pingEvent = "event: ping\ndata: {}\n\n"

// streamWriteTimeout bounds each write of an event stream: a client that
// stops reading (or whose network went away) fills the socket's buffers,
// and the write would wait for it for ever, holding the stream's
// connection and, once the server stops, its shutdown. It is dropped
// instead. A server takes it when it is made (Server.streamWriteTimeout):
// a variable, so that tests can give their own servers another.
var streamWriteTimeout = 30 * time.Second

// streamSendBuffer is the kernel's send buffer asked for the connection of
// an HTTP/1 event stream. On loopback and fast links it grows to
// megabytes, and Linux wakes a write waiting on a full buffer only once
// half of it has drained: a client reading slowly but steadily after a
// burst of changes saw no write end within streamWriteTimeout, and was cut
// while it kept up (a review: 10 KB/s, 3.9 MB queued, cut at 35 s). With
// a small buffer, a write that waits that long means a client that does
// not read. (Over HTTP/2 the connection is shared; its own timeout counts
// any progress.)
const streamSendBuffer = 128 << 10

type connKey struct{}

// ConnContext is for http.Server's ConnContext hook: it lets an event
// stream reach its connection, to size its send buffer.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// shrinkSendBuffer gives r's connection the send buffer of a stream, when
// it is HTTP/1 and ConnContext put it in reach.
func shrinkSendBuffer(r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if s, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
		s.SetWriteBuffer(streamSendBuffer)
	}
}

// stoppingWriteTimeout bounds the writes of a stream once the server is
// stopping, the one that is waiting included: the "dropped" event reaches
// a client that reads, and one that does not holds up the shutdown for
// this long at most.
const stoppingWriteTimeout = time.Second

// streamDeadline sets the write deadline of an event stream: from the
// handler before each write, and from another goroutine when the server
// starts stopping, as the handler may be waiting in a write then.
type streamDeadline struct {
	rc       *http.ResponseController
	timeout  time.Duration // streamWriteTimeout, as its server has it
	mu       sync.Mutex
	stopping bool
	ended    bool // the handler returned: its ResponseWriter is not to be used
}

// arm sets the deadline for the next write.
func (d *streamDeadline) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.timeout
	if d.stopping {
		t = stoppingWriteTimeout
	}
	// Unsupported (a ResponseWriter of a test) leaves writes unbounded.
	d.rc.SetWriteDeadline(time.Now().Add(t))
}

// stop shortens the deadline of the write under way, if any.
func (d *streamDeadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended || d.stopping {
		return
	}
	d.stopping = true
	d.rc.SetWriteDeadline(time.Now().Add(stoppingWriteTimeout))
}

func (d *streamDeadline) end() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ended = true
}

// handleEvents streams every committed change as Server-Sent Events: one
// event per change, named by its type (acquired, released, expired, forced,
// refreshed), its data the event as JSON. A client that cannot keep up is
// sent a "dropped" event and disconnected; it should reconnect and re-read
// the locks it cares about. One that takes nothing for streamWriteTimeout
// is disconnected without it. With ?ping=true it is pinged with an event.
func (s *Server) handleEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ping, err := pingAsked(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.Method == http.MethodHead {
			// The headers only: a stream that never ends would hold the
			// connection, and the client's next request on it, for ever.
			setStreamHeader(w.Header())
			w.WriteHeader(http.StatusOK)
			return
		}
		if err := s.svc.Reporting(); err != nil {
			// It would look live and miss other servers' changes: a
			// client tries again later (the dashboard does).
			s.writeError(w, r, err)
			return
		}
		release, err := s.places.take()
		if err != nil {
			s.svc.LimitReached(err)
			s.writeError(w, r, err)
			return
		}
		defer release()
		shrinkSendBuffer(r)
		rc := http.NewResponseController(w)
		sub := s.svc.Events().Subscribe(1024)
		defer s.svc.Events().Unsubscribe(sub)
		deadline := &streamDeadline{rc: rc, timeout: s.streamWriteTimeout}
		defer deadline.end()
		ended := make(chan struct{})
		defer close(ended)
		go func() {
			select {
			case <-s.svc.Closing():
				deadline.stop()
			case <-ended:
			}
		}()
		setStreamHeader(w.Header())
		deadline.arm()
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "retry: 1000\n: connected\n\n")
		if ping {
			// At once too: a page can tell a stream that reaches it from
			// one whose answer began and then stopped (a buffering proxy).
			fmt.Fprint(w, pingEvent)
		}
		if rc.Flush() != nil {
			return
		}
		tick := time.NewTicker(heartbeat)
		defer tick.Stop()
		for {
			select {
			case events, ok := <-sub.C:
				deadline.arm()
				if !ok {
					switch {
					case s.svc.Events().MissedChanges(sub):
						dropped(w, rc, "changes may have been made that this stream did not report (the server's database connection was lost, or made again); reconnect and read the locks again")
					case s.svc.Events().Dropped(sub):
						dropped(w, rc, "this stream fell behind and was dropped; reconnect")
					}
					return
				}
				for _, ev := range events {
					data, _ := json.Marshal(ev)
					fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, data)
				}
			case <-tick.C:
				deadline.arm()
				if ping {
					fmt.Fprint(w, pingEvent)
				} else {
					fmt.Fprint(w, ": ping\n\n")
				}
			case <-r.Context().Done():
				return
			case <-s.svc.Closing():
				// Told, not just cut off: the client reconnects (to
				// another replica, or once this one is back) and reads
				// the locks again, since it will miss changes meanwhile.
				deadline.stop()
				dropped(w, rc, "the server is stopping; reconnect and read the locks again")
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	})
}

// pingAsked reads the query's ping: true or false, once at most (a value
// that is neither is refused, not read as one). Anything else in the query
// is ignored, as it always was, even where it does not parse.
func pingAsked(r *http.Request) (bool, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	v := q["ping"]
	if err != nil && strings.Contains(r.URL.RawQuery, "ping") {
		return false, lock.Errorf(lock.EINVALID, "query string: %v", err)
	}
	if len(v) == 0 {
		return false, nil
	}
	ping, err := strconv.ParseBool(v[0])
	if err != nil || len(v) > 1 {
		return false, lock.Errorf(lock.EINVALID, "ping must be given once, true or false, not %q", strings.Join(v, "&"))
	}
	return ping, nil
}

// setStreamHeader gives an event stream's answer (HEAD's too) its headers:
// its type, and neither caches nor proxies (nginx) holding it back.
func setStreamHeader(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// dropped tells the client why its stream ends: a "dropped" event whose
// data is {"error": why}.
func dropped(w http.ResponseWriter, rc *http.ResponseController, why string) {
	data, _ := json.Marshal(map[string]string{"error": why})
	fmt.Fprintf(w, "event: dropped\ndata: %s\n\n", data)
	rc.Flush()
}
