package e2e

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardLeaseCountdown: a lease under a minute away counts down in
// seconds, as they pass. The page redrew its times every 10 s, so a lease
// "in 24 s" still said so 9 s later (at 15 s), and one under 10 s away
// said "in a few seconds", whether 9 or 1.
func TestDashboardLeaseCountdown(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "minute")+"?ttl=50s", "", "", `{"key":"deploy"}`)
	mustCall(t, "PUT", lockURL(s.URL, "seconds")+"?ttl=9s", "", "", `{"key":"deploy"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	expires := func(name string) string {
		return rowJS(name) + `?.querySelector("td[data-label='Lease expires'] time")`
	}
	tb.waitFor("the leases", expires("minute")+` && `+expires("seconds"))

	inSeconds := regexp.MustCompile(`^in ([0-9]+) s$`)
	if got := eval[string](tb, expires("seconds")+`.textContent`); !inSeconds.MatchString(got) {
		t.Errorf("a lease under 10 s away shows %q, want the seconds left (in N s)", got)
	}

	// What the page shows is never more than 2.5 s from the time left (it
	// is read in the same breath as the clock).
	type sample struct {
		Text string
		Left float64
	}
	check := func(what string) {
		t.Helper()
		got := eval[sample](tb, `(() => { const e = `+expires("minute")+`; return {Text: e.textContent, Left: (Number(e.dataset.t) - Date.now()) / 1000}; })()`)
		m := inSeconds.FindStringSubmatch(got.Text)
		if m == nil {
			t.Fatalf("%s: a lease %.1f s away shows %q, want in N s", what, got.Left, got.Text)
		}
		shown, _ := strconv.Atoi(m[1])
		if d := float64(shown) - got.Left; d > 2.5 || d < -2.5 {
			t.Errorf("%s: a lease %.1f s away shows %q", what, got.Left, got.Text)
		}
	}
	for i := range 7 { // over 4 s
		check("sample " + strconv.Itoa(i))
		time.Sleep(600 * time.Millisecond)
	}

	// A row the filter hid for 4 s comes back with the time left now, not
	// as it was when hidden.
	tb.do("filtering the lease out", chromedp.SendKeys(chromedp.ID("filter"), "seconds"))
	tb.waitFor("the lease hidden", `!`+rowJS("minute"))
	time.Sleep(4 * time.Second)
	tb.do("clearing the filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`))
	tb.waitFor("the lease shown again", rowJS("minute"))
	check("shown again")
	tb.checkProblems()
}
