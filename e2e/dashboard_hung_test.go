package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hangingWriter forwards an event stream to the browser until hang is
// closed, then forwards nothing more and waits, the connection open: a
// proxy that buffers, or a connection cut without a word.
type hangingWriter struct {
	http.ResponseWriter
	hang <-chan struct{}
	done <-chan struct{} // the browser went, or the test ends
}

func (w hangingWriter) Write(p []byte) (int, error) {
	select {
	case <-w.hang:
		<-w.done
		return 0, http.ErrAbortHandler
	default:
		return w.ResponseWriter.Write(p)
	}
}

func (w hangingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// connStatesJS records the changes of the page's connection state from now
// on, in window.connStates.
const connStatesJS = `(() => {
	const c = document.getElementById("conn");
	window.connStates = [];
	new MutationObserver(() => connStates.push(c.dataset.state)).observe(c, {attributes: true, attributeFilter: ["data-state"]});
})()`

// TestDashboardHungStream: an event stream that hangs without a word (a
// proxy that buffers it, a connection whose network went away) was shown
// "live" for good: the server's heartbeat is a comment, which a browser
// never passes to the page. The page now asks for a ping event
// (?ping=true), and takes a stream that said nothing for two heartbeats and
// a margin for dead: it says so and opens another, in the tab that holds
// the stream and in the tabs it relays to. A stream that does not hang
// stays live.
func TestDashboardHungStream(t *testing.T) {
	t.Parallel() // waits for two heartbeats (30 s and more): beside the others
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)

	upstream, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(upstream)
	var mu sync.Mutex
	var streams []string // the query of each GET /events
	hang := make(chan struct{})
	release := make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			rp.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		streams = append(streams, r.URL.RawQuery)
		first := len(streams) == 1
		mu.Unlock()
		if !first {
			rp.ServeHTTP(w, r) // the streams after the first go through
			return
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			close(done)
		}()
		rp.ServeHTTP(hangingWriter{w, hang, done}, r)
	}))
	defer func() {
		close(release)
		proxy.CloseClientConnections()
		proxy.Close()
	}()
	streamCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(streams)
	}

	// Two tabs through the proxy: one holds the stream, the other has it
	// relayed. A third, to the server itself, has a stream of its own.
	leader, follower, direct := openTab(t, browser, "", ""), openTab(t, browser, "", ""), openTab(t, browser, "", "")
	leader.open(proxy.URL)
	follower.open(proxy.URL)
	follower.waitFor("the stream relayed", `document.getElementById("conn").dataset.stream === "relayed"`)
	direct.open(s.URL)
	opened := time.Now()
	for _, tb := range []*tab{leader, follower, direct} {
		tb.do("recording the page's states", chromedp.Evaluate[chromedp.Void](connStatesJS))
	}
	if n := streamCount(); n != 1 {
		t.Fatalf("the two tabs opened %d streams through the proxy, want 1 between them", n)
	}
	close(hang)

	// Both tabs leave "live", and are live again on a new stream.
	start := time.Now()
	for _, tb := range []*tab{leader, follower} {
		for !eval[bool](tb, `connStates.some(s => s !== "live") && document.getElementById("conn").dataset.state === "live"`) {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("60 s after its stream hung (heartbeats every 15 s), the page has not left \"live\" and reconnected: states %v, %d streams opened: %s",
					eval[[]string](tb, `connStates`), streamCount(), tb.describe())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("the tabs reconnected %v after the stream hung; states %v and %v", time.Since(start).Round(time.Second),
		eval[[]string](leader, `connStates`), eval[[]string](follower, `connStates`))
	mu.Lock()
	for i, q := range streams {
		if !strings.Contains(q, "ping=true") {
			t.Errorf("stream %d was asked with %q, without ping=true", i+1, q)
		}
	}
	mu.Unlock()

	// The stream that did not hang stayed live, past two heartbeats and
	// the page's margin.
	time.Sleep(time.Until(opened.Add(45 * time.Second)))
	if states := eval[[]string](direct, `connStates`); slices.ContainsFunc(states, func(s string) bool { return s != "live" }) {
		t.Errorf("a stream that did not hang went from live to %v", states)
	}
	for _, tb := range []*tab{leader, follower, direct} {
		tb.checkProblems()
	}
}
