package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// drawnOpacities is each part of the page that shows locks, and the
// opacity it is drawn with (its own times its ancestors').
const drawnOpacities = `(() => {
	const drawn = (e) => { let o = 1; for (; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
	return Object.fromEntries([["the table", "#rows tr"], ["the pools", "#pool-list .member"], ["the lock's facts", "#detail-facts dd"],
		["its metadata", "#detail-metadata"], ["its holds", "#holds tr"], ["its history", "#history tr"]].map(([what, sel]) => [what, drawn(document.querySelector(sel))]));
})()`

// TestDashboardOfflineDimmed: a page that lost its server (its stream down,
// its reads failing) dims everything it shows of the locks, not only the
// table. The pools and the open lock
// (which stays in view, sticky, when the header with its "disconnected"
// has scrolled away) kept full colour, as if current.
func TestDashboardOfflineDimmed(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", `{"metadata":{"region":"eu"}}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.click("opening env-1", rowJS("env-1")+`.querySelector("button")`)
	tb.waitFor("its history", `document.querySelector("#history tr[data-type]")`)

	for what, o := range eval[map[string]float64](tb, drawnOpacities) {
		if o != 1 {
			t.Errorf("live: %s drawn at opacity %.2f, want 1", what, o)
		}
	}
	if title := eval[string](tb, `document.title`); title != "Locker" {
		t.Errorf("live: the tab's title is %q, want Locker", title)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	tb.waitFor("the page to say it is disconnected", `document.getElementById("conn").dataset.state === "down"`)
	// It dims them once a read fails too (at once: it reads when its stream
	// goes down).
	var full []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		full = full[:0]
		for what, o := range eval[map[string]float64](tb, drawnOpacities) {
			if o >= 1 {
				full = append(full, what)
			}
		}
		if len(full) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(full) > 0 {
		slices.Sort(full)
		t.Errorf("disconnected: %s still drawn in full, as if current", strings.Join(full, ", "))
	}
	// The tab says so too, for a page left in a background tab.
	if title := eval[string](tb, `document.title`); title != "Locker (disconnected)" {
		t.Errorf("disconnected: the tab's title is %q, want Locker (disconnected)", title)
	}
	tb.checkProblems()
}

// TestDashboardRefusedNotDimmed: a page whose event stream is refused (the
// server's places for long requests all held) reads the locks every few
// seconds, and its reads are answered: what it shows is current, and it
// is not dimmed as out of date. It was, for as long as the stream was
// refused. It still says its stream is down.
func TestDashboardRefusedNotDimmed(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"LOCKER_MAX_CONNECTIONS=16"}) // 14 places for long requests
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", `{"metadata":{"region":"eu"}}`)
	holdEventStreams(t, s, 14)

	tb := openTab(t, browser, "", "")
	tb.do("opening the dashboard", chromedp.Navigate(s.URL+"/"))
	tb.waitFor("the locks, and the stream refused", rowJS("env-1")+` && document.getElementById("conn").dataset.state === "down"`)
	tb.click("opening env-1", rowJS("env-1")+`.querySelector("button")`)
	tb.waitFor("its history", `document.querySelector("#history tr[data-type]")`)
	mustCall(t, "PUT", lockURL(s.URL, "later"), "", "", `{"key":"k"}`)
	tb.waitFor("a read after the refusal", rowJS("later"))
	var dimmed []string
	for what, o := range eval[map[string]float64](tb, drawnOpacities) {
		if o != 1 {
			dimmed = append(dimmed, what)
		}
	}
	if len(dimmed) > 0 {
		slices.Sort(dimmed)
		t.Errorf("with the stream refused and reads answered: %s dimmed as out of date", strings.Join(dimmed, ", "))
	}
	if st := eval[string](tb, `document.getElementById("conn").dataset.state`); st == "live" {
		t.Errorf("the page says live, with its stream refused")
	}
	if title := eval[string](tb, `document.title`); title != "Locker" {
		t.Errorf("with the stream refused and reads answered: the tab's title is %q, want Locker", title)
	}
	tb.checkProblems()
}
