package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardStreamRefused: a server whose places for long requests are
// all held answers a new event stream 503, and docs/api.md promises that
// the dashboard then "tries again, and reads the locks every few seconds
// meanwhile". It read them only while its stream was live: the page showed
// the locks as they were when it opened, for as long as the streams were
// held, though every read would have been answered.
func TestDashboardStreamRefused(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"LOCKER_MAX_CONNECTIONS=16"}) // 14 places for long requests
	holdEventStreams(t, s, 14)
	mustCall(t, "PUT", lockURL(s.URL, "before"), "", "", `{"key":"k"}`)

	tb := openTab(t, browser, "", "")
	tb.do("opening the dashboard", chromedp.Navigate(s.URL+"/"))
	tb.waitFor("the locks, and the stream refused",
		rowJS("before")+`?.dataset.state === "held" && document.getElementById("conn").dataset.state === "down"`)

	mustCall(t, "PUT", lockURL(s.URL, "while-refused"), "", "", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "before"), "", "", `{"key":"k"}`)
	tb.waitFor("a lock taken while the stream is refused to show",
		rowJS("while-refused")+`?.dataset.state === "held" && `+rowJS("before")+`?.dataset.state === "free"`)
	if st := eval[string](tb, `document.getElementById("conn").dataset.state`); st == "live" {
		t.Errorf("the page says live, with its stream refused")
	}
	tb.checkProblems()
}

// TestDashboardHistoryWithoutStream: the open lock's history was read
// again only on an event about it. Without a stream (refused, as here;
// down; or one that hangs without a word) the page still reads the locks
// every few seconds and showed the lock's new holder in its holds, beside
// a history that stopped before that holder came, as if it were current.
// A read that finds the open lock changed reads its history again.
func TestDashboardHistoryWithoutStream(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"LOCKER_MAX_CONNECTIONS=16"}) // 14 places for long requests
	holdEventStreams(t, s, 14)
	mustCall(t, "PUT", lockURL(s.URL, "deploy"), "", "", `{"key":"k","lock_by":"job-1"}`)

	tb := openTab(t, browser, "", "")
	tb.do("opening the dashboard", chromedp.Navigate(s.URL+"/"))
	tb.waitFor("the lock, and the stream refused",
		rowJS("deploy")+`?.dataset.state === "held" && document.getElementById("conn").dataset.state === "down"`)
	tb.click("opening deploy", rowJS("deploy")+`.querySelector("button")`)
	tb.waitFor("its history", `document.querySelector("#history tr[data-type=acquired] .holder")?.textContent === "job-1"`)

	mustCall(t, "PUT", lockURL(s.URL, "deploy"), "", "", `{"key":"k","lock_by":"job-2"}`)
	tb.waitFor("the new holder in the holds", `[...document.querySelectorAll("#holds .holder")].some(h => h.textContent === "job-2")`)
	tb.waitFor("the new holder in the history", `document.querySelector("#history tr[data-type=acquired] .holder")?.textContent === "job-2"`)
	tb.checkProblems()
}
