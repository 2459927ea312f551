package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestDashboardSlashFocusesFilter: the filter is reached from anywhere
// with "/". It comes after the pools in the page, so a keyboard user with
// a pool of 30 members tabbed 30 times to reach it. In the filter, "/"
// is a character like any other (names hold slashes).
func TestDashboardSlashFocusesFilter(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	for i := range 30 {
		mustCall(t, "PUT", fmt.Sprintf("%s/pool/envs/env-%d", s.URL, i), "", "", `{}`)
	}
	mustCall(t, "PUT", lockURL(s.URL, "ci/main"), "", "", `{"key":"k"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	if got := eval[string](tb, `document.getElementById("filter").getAttribute("aria-keyshortcuts") || ""`); got != "/" {
		t.Errorf("the filter's aria-keyshortcuts is %q, want \"/\"", got)
	}
	tb.do("pressing Tab", chromedp.KeyEvent("\t"))
	if got := eval[string](tb, `document.activeElement.className`); got != "member-link member-free" {
		t.Fatalf("Tab went to %q, want the pool's first member", got)
	}
	tb.pressSlash()
	if got := eval[string](tb, `document.activeElement.id`); got != "filter" {
		t.Fatalf("after / the focus is on %q, want the filter", got)
	}
	if got := eval[string](tb, `document.getElementById("filter").value`); got != "" {
		t.Errorf("the / that moved the focus was typed into the filter: %q", got)
	}
	tb.do("typing ci", chromedp.KeyEvent("ci"))
	tb.pressSlash()
	if got := eval[string](tb, `document.getElementById("filter").value`); got != "ci/" {
		t.Errorf("typing ci/ in the filter gave %q", got)
	}
	tb.waitFor("the filter to find the lock", `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === "ci/main"`)
	tb.checkProblems()
}

// pressSlash presses "/" as a keyboard does: one keydown that carries the
// character, whose default (typing it) the page may prevent. (KeyEvent
// sends the character as an event of its own, which no handler of the
// keydown can stop.)
func (tb *tab) pressSlash() {
	tb.t.Helper()
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
		p := input.DispatchKeyEventParams{Type: typ, Key: "/", Code: "Slash", WindowsVirtualKeyCode: 191}
		if typ == input.DispatchKeyEventTypeKeyDown {
			p.Text, p.UnmodifiedText = "/", "/"
		}
		if _, err := chromedp.Call(tb.ctx, input.DispatchKeyEvent, p); err != nil {
			tb.t.Fatalf("pressing /: %v", err)
		}
	}
}
