package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestDashboardOfflineDimmed: a page that lost its server dims everything
// it shows of the locks, not only the table. The pools and the open lock
// (which stays in view, sticky, when the header with its "disconnected"
// has scrolled away) kept full colour, as if current.
func TestDashboardOfflineDimmed(t *testing.T) {
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", `{"metadata":{"region":"eu"}}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.click("opening env-1", rowJS("env-1")+`.querySelector("button")`)
	tb.waitFor("its history", `document.querySelector("#history tr[data-type]")`)

	// Each part, and the opacity it is drawn with (its own times its
	// ancestors').
	const opacities = `(() => {
		const drawn = (e) => { let o = 1; for (; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
		return Object.fromEntries([["the table", "#rows tr"], ["the pools", "#pool-list .member"], ["the lock's facts", "#detail-facts dd"],
			["its metadata", "#detail-metadata"], ["its holds", "#holds tr"], ["its history", "#history tr"]].map(([what, sel]) => [what, drawn(document.querySelector(sel))]));
	})()`
	for what, o := range eval[map[string]float64](tb, opacities) {
		if o != 1 {
			t.Errorf("live: %s drawn at opacity %.2f, want 1", what, o)
		}
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	tb.waitFor("the page to say it is disconnected", `document.getElementById("conn").dataset.state === "down"`)
	var full []string
	for what, o := range eval[map[string]float64](tb, opacities) {
		if o >= 1 {
			full = append(full, what)
		}
	}
	if len(full) > 0 {
		slices.Sort(full)
		t.Errorf("disconnected: %s still drawn in full, as if current", strings.Join(full, ", "))
	}
	tb.checkProblems()
}
