package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestDashboardStalledRead: a read of the locks whose answer began and then
// stopped coming (a proxy or a connection that froze mid-body) was waited
// for for ever: the page's read timeout covered only the wait for the
// answer to begin. No reload starts while one is in flight, so the page
// went on showing the locks as they were, "live", until reloaded by hand.
// A body that makes no progress for the read timeout now fails the read
// like one never answered, and the next reload starts afresh.
//
// And a 200 whose body was cut short (the connection lost halfway), or was
// not JSON (a proxy's login page), was read as no answer at all: the page
// showed every lock gone ("No locks yet"). Both now fail the read: the
// page keeps what it showed and says why.
func TestDashboardStalledRead(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	t.Run("stalled", func(t *testing.T) { testDashboardBadRead(t, "stall") })
	t.Run("cut short", func(t *testing.T) { testDashboardBadRead(t, "cut") })
	t.Run("not JSON", func(t *testing.T) { testDashboardBadRead(t, "html") })
}

func testDashboardBadRead(t *testing.T, mode string) {
	t.Parallel() // each its own browser, server and proxy; mostly waiting
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)

	// A proxy in front of the server that, when told, sends the headers
	// and half the body of the next GET /locks, then nothing more (stall),
	// or until told otherwise closes the connection halfway through them
	// (cut) or answers them with a page of HTML (html).
	upstream, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(upstream)
	var mu sync.Mutex
	stall, stalled := false, 0
	release := make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st := stall && r.URL.Path == "/locks"
		if st && mode == "stall" {
			stall = false // once; the others until the test says
		}
		mu.Unlock()
		if !st {
			rp.ServeHTTP(w, r)
			return
		}
		if mode == "html" {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><title>Sign in</title><p>Your session has expired.")
			mu.Lock()
			stalled++
			mu.Unlock()
			return
		}
		resp, err := http.Get(s.URL + "/locks")
		if err != nil {
			t.Errorf("the proxy's read: %v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		mu.Lock()
		stalled++
		mu.Unlock()
		if mode == "cut" {
			panic(http.ErrAbortHandler) // the connection is closed, the body half sent
		}
		select { // the rest never comes
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer func() {
		// The page's event stream, through the proxy, would hold Close.
		close(release)
		proxy.CloseClientConnections()
		proxy.Close()
	}()

	tb := openTab(t, browser, "", "")
	// The page's read timeout (20 s, the one timer of that length) is made
	// 2 s, so that the test does not wait it out.
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		const setTimeout_ = window.setTimeout;
		window.setTimeout = (f, ms, ...args) => setTimeout_(f, ms === 20000 ? 2000 : ms, ...args);`}); err != nil {
		t.Fatal(err)
	}
	tb.open(proxy.URL)
	tb.waitFor("prod, held", rowJS("prod")+`?.dataset.state === "held"`)

	mu.Lock()
	stall = true
	mu.Unlock()
	mustCall(t, "PUT", lockURL(s.URL, "staging"), "", "", `{"key":"qa"}`)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := stalled
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page did not read the locks after a change")
		}
	}

	if mode != "stall" {
		tb.waitFor("the page to say the read failed", `document.getElementById("notice").textContent.startsWith("Could not load the locks")`)
		time.Sleep(6 * time.Second) // reads go on, every 5 s, and fail alike
		if !eval[bool](tb, rowJS("prod")+`?.dataset.state === "held"`) {
			t.Errorf("after bad reads of the locks, the page no longer shows prod held: %s", tb.describe())
		}
		mu.Lock()
		stall = false
		mu.Unlock()
	}
	mustCall(t, "DELETE", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)
	start := time.Now()
	for !eval[bool](tb, rowJS("prod")+`?.dataset.state === "free" && !!`+rowJS("staging")) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("30 s after a read of the locks stalled mid-answer (the page's read timeout made 2 s), the page still shows them as before it: %s", tb.describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the page caught up %v after the release", time.Since(start).Round(time.Second))
	tb.checkProblems()
}
