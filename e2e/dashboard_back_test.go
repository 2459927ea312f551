package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// navHistory is the tab's session history as the browser keeps it: the
// entries' addresses and the index of the current one.
func (tb *tab) navHistory() (int, []string) {
	tb.t.Helper()
	h, err := chromedp.Call(tb.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		tb.t.Fatalf("reading the tab's history: %v", err)
	}
	urls := make([]string, len(h.Entries))
	for i, e := range h.Entries {
		urls[i] = e.URL
	}
	return int(h.CurrentIndex), urls
}

// step goes delta entries back (-1) or forward (+1) in the tab's history,
// as the browser's own Back and Forward buttons do (a phone's Back button
// too), not through the page's script. It does not wait for a page to
// load: an entry the page added (pushState) loads none. (chromedp's
// NavigateBack waits for a load, for ever.)
func (tb *tab) step(delta int) {
	tb.t.Helper()
	h, err := chromedp.Call(tb.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		tb.t.Fatalf("reading the tab's history: %v", err)
	}
	i := int(h.CurrentIndex) + delta
	if i < 0 || i >= len(h.Entries) {
		tb.t.Fatalf("no history entry %d to go to: %d entries, at %d", i, len(h.Entries), h.CurrentIndex)
	}
	if _, err := chromedp.Call(tb.ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[i].ID}); err != nil {
		tb.t.Fatalf("going to history entry %d: %v", i, err)
	}
}

// press focuses the element expr finds and presses Enter on it: a key the
// user pressed, which (unlike a click from the page's script) counts as
// the user's doing. Chromium's Back button skips the entries a page added
// without one.
func (tb *tab) press(what, expr string) {
	tb.t.Helper()
	tb.waitFor(what+": the element", expr)
	tb.do(what, chromedp.Evaluate[chromedp.Void]("("+expr+").focus()"), chromedp.KeyEvent("\r"))
}

const (
	detailOpen   = `!document.getElementById("detail").hidden`
	detailClosed = `document.getElementById("detail").hidden`
)

// TestDashboardBackClosesDrawer: on a phone, where a lock's detail is a
// drawer over the page, the phone's Back button closes the drawer, as it
// closes such overlays elsewhere, and the dashboard stays (Back left it,
// for whatever page came before, with the drawer open). Closing the drawer otherwise (Close,
// Escape, a forget) leaves no entry behind, so the next Back leaves the
// dashboard rather than do nothing to be seen. On a wide screen, where the
// detail is a panel beside the table, not over it, opening a lock adds no
// entry, as before; a panel that becomes a drawer (the window narrowed, a
// tablet turned) gets one.
func TestDashboardBackClosesDrawer(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	// Without the back/forward cache: a page the browser did not keep (a
	// phone short of memory) is loaded again by Back, which the test
	// checks; one it kept comes back as it was.
	browser := newBrowser(t, chromedp.Flag("disable-features", "BackForwardCache"))
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "build"), "", "", `{"key":"ci","lock_by":"pipeline/build-1"}`)
	mustCall(t, "PUT", lockURL(s.URL, "deploy"), "", "", `{"key":"cd","lock_by":"pipeline/deploy-1"}`)
	for _, name := range []string{"old-1", "old-2"} {
		mustCall(t, "PUT", lockURL(s.URL, name), "", "", `{"key":"k"}`)
		mustCall(t, "DELETE", lockURL(s.URL, name), "", "", `{"key":"k"}`)
	}
	mustCall(t, "PUT", s.URL+"/pool/envs/env-0", "", "", `{}`)
	phone := chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait)

	// open opens a tab on another page first, then on the dashboard: Back
	// from the dashboard has somewhere to go. It returns the index of the
	// dashboard's entry.
	open := func(t *testing.T, size chromedp.Action[chromedp.Void]) (*tab, int) {
		tb := openTab(t, browser, "", "")
		tb.do("sizing the window", size)
		tb.do("opening another page first", chromedp.Navigate(s.URL+"/healthz"))
		tb.open(s.URL)
		eval[bool](tb, `window.notReloaded = true`)
		at, _ := tb.navHistory()
		return tb, at
	}
	// settle waits until a Back or Forward has been dealt with: the
	// dashboard's drawer is in the state want, or another page shows.
	settle := func(tb *tab, want string) {
		tb.t.Helper()
		tb.waitAcrossNavigation("the step in history to end", `document.readyState === "complete" && (location.pathname !== "/" || !document.getElementById("detail") || (`+want+`))`)
		if path := eval[string](tb, `location.pathname`); path != "/" || !eval[bool](tb, `window.notReloaded === true`) {
			tb.t.Fatalf("the browser left the dashboard, or loaded it again: at %s", eval[string](tb, `location.href`))
		}
	}
	// atDashboardEntry waits until the tab's current entry is the
	// dashboard's own: a drawer closed by the page steps back over its
	// entry, a moment later.
	atDashboardEntry := func(tb *tab, dash int, after string) {
		tb.t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if at, _ := tb.navHistory(); at == dash {
				return
			}
		}
		at, urls := tb.navHistory()
		tb.t.Fatalf("after %s the tab's history is at entry %d of %q, not the dashboard's (%d): Back would do nothing to be seen", after, at, urls, dash)
	}
	focusOn := func(tb *tab) string {
		return eval[string](tb, `document.activeElement.closest("tr")?.dataset.name ?? document.activeElement.dataset.name ?? document.activeElement.id ?? document.activeElement.tagName`)
	}

	t.Run("phone", func(t *testing.T) {
		tb, dash := open(t, phone)

		// Back closes the drawer, the dashboard stays, and the focus goes
		// back to the lock, as with Escape.
		tb.press("opening build", rowJS("build")+`?.querySelector("button.lock-link")`)
		tb.waitFor("build's drawer", detailOpen+` && `+detailOf+`"build"`)
		tb.step(-1)
		settle(tb, detailClosed)
		if !eval[bool](tb, detailClosed) {
			t.Fatal("Back did not close the drawer")
		}
		if eval[bool](tb, `document.querySelector("main > .primary").inert || document.querySelector("header.top").inert`) {
			t.Error("the page is still inert after Back closed the drawer")
		}
		if got := focusOn(tb); got != "build" {
			t.Errorf("after Back the focus is on %q, want the button of build", got)
		}

		// Forward opens it again, as the entry says.
		tb.step(+1)
		settle(tb, detailOpen)
		if !eval[bool](tb, detailOpen+` && `+detailOf+`"build"`) {
			t.Errorf("Forward did not open build's drawer again: %s", tb.describe())
		}
		// Close takes its entry with it.
		tb.press("closing with Close", `document.getElementById("detail-close")`)
		tb.waitFor("the drawer to close", detailClosed)
		atDashboardEntry(tb, dash, "Close")
		if got := focusOn(tb); got != "build" {
			t.Errorf("after Close the focus is on %q, want the button of build", got)
		}

		// So does Escape, from a pool member's drawer, which gives the focus
		// back to the member.
		member := poolJS("envs") + `?.querySelector("button.member-link[data-name='env-0']")`
		tb.press("opening a pool member", member)
		tb.waitFor("env-0's drawer", detailOpen+` && `+detailOf+`"env-0"`)
		tb.do("pressing Escape", chromedp.KeyEvent("\x1b"))
		tb.waitFor("the drawer to close", detailClosed)
		atDashboardEntry(tb, dash, "Escape")
		if !eval[bool](tb, `document.activeElement === `+member) {
			t.Errorf("after Escape the focus is on %s, want the pool member", eval[string](tb, `document.activeElement.outerHTML.slice(0, 80)`))
		}

		// And a forget, which closes the drawer of a lock that is gone.
		tb.press("opening old-1", rowJS("old-1")+`?.querySelector("button.lock-link")`)
		tb.waitFor("old-1's drawer with Forget", detailOf+`"old-1" && `+forgetShown)
		tb.do("clicking Forget", chromedp.Click(chromedp.ID("forget")))
		tb.waitFor("the confirmation", `document.getElementById("forget-confirm").open`)
		tb.do("confirming", chromedp.Click(chromedp.ID("confirm-forget")))
		tb.waitFor("the drawer to close and the row to go", detailClosed+` && !`+rowJS("old-1"))
		atDashboardEntry(tb, dash, "a forget")

		// A drawer opened again before the step back over the last one's
		// entry landed keeps an entry.
		tb.press("opening deploy", rowJS("deploy")+`?.querySelector("button.lock-link")`)
		tb.waitFor("deploy's drawer", detailOf+`"deploy"`)
		tb.do("closing it and opening it again at once", chromedp.Evaluate[chromedp.Void](`document.getElementById("detail-close").click(), `+rowJS("deploy")+`.querySelector("button.lock-link").click()`))
		tb.waitFor("deploy's drawer", detailOpen+` && `+detailOf+`"deploy"`)
		tb.waitFor("its entry", `history.state !== null`)
		tb.step(-1)
		settle(tb, detailClosed)
		if !eval[bool](tb, detailClosed) {
			t.Fatal("Back did not close a drawer opened again right after it closed")
		}

		// A reload shows the dashboard without the drawer, as it always
		// did, and leaves no entry of the drawer's behind.
		tb.press("opening deploy", rowJS("deploy")+`?.querySelector("button.lock-link")`)
		tb.waitFor("deploy's drawer", detailOpen+` && `+detailOf+`"deploy"`)
		tb.do("reloading", chromedp.Reload())
		tb.open(s.URL)
		if !eval[bool](tb, detailClosed) {
			t.Error("a reload with the drawer open shows it again")
		}
		eval[bool](tb, `window.notReloaded = true`)
		atDashboardEntry(tb, dash, "a reload")

		// Back to the drawer's entry from another page, which the browser
		// loads again, shows the drawer as it was; Back then closes it.
		tb.press("opening deploy", rowJS("deploy")+`?.querySelector("button.lock-link")`)
		tb.waitFor("deploy's drawer", detailOpen+` && `+detailOf+`"deploy"`)
		tb.do("going to another page", chromedp.Navigate(s.URL+"/readyz"))
		tb.step(-1)
		tb.waitAcrossNavigation("the dashboard, with deploy's drawer", `location.pathname === "/" && document.getElementById("conn")?.dataset.state === "live" && `+detailOpen+` && `+detailOf+`"deploy"`)
		if eval[bool](tb, `window.notReloaded === true`) {
			t.Fatal("the browser kept the page for Back: the test does not test what it says")
		}
		eval[bool](tb, `window.notReloaded = true`)
		tb.step(-1)
		settle(tb, detailClosed)
		if !eval[bool](tb, detailClosed) {
			t.Fatal("Back did not close the drawer shown again")
		}

		// Nothing is left behind: Back now leaves the dashboard, for the
		// page before it.
		tb.step(-1)
		tb.waitAcrossNavigation("the page before the dashboard", `location.pathname === "/healthz"`)
		tb.checkProblems()
	})

	t.Run("wide screen", func(t *testing.T) {
		tb, dash := open(t, chromedp.EmulateViewport(1280, 800))
		tb.press("opening build", rowJS("build")+`?.querySelector("button.lock-link")`)
		tb.waitFor("build's detail", detailOpen+` && `+detailOf+`"build"`)
		tb.press("opening deploy", rowJS("deploy")+`?.querySelector("button.lock-link")`)
		tb.waitFor("deploy's detail", detailOf+`"deploy"`)
		if at, urls := tb.navHistory(); at != dash || len(urls) != dash+1 {
			t.Errorf("opening a lock beside the table changed the tab's history: at %d of %q, was at %d", at, urls, dash)
		}
		// Narrowed, the panel becomes a drawer, which Back closes.
		tb.do("narrowing the window", phone)
		tb.waitFor("the drawer's entry", `history.state !== null`)
		tb.step(-1)
		settle(tb, detailClosed)
		if !eval[bool](tb, detailClosed) {
			t.Fatal("Back did not close the drawer that was a panel before the window narrowed")
		}
		// Wide again, Back leaves the page, as it always did.
		tb.do("widening the window", chromedp.EmulateViewport(1280, 800))
		tb.press("opening build", rowJS("build")+`?.querySelector("button.lock-link")`)
		tb.waitFor("build's detail", detailOpen+` && `+detailOf+`"build"`)
		tb.step(-1)
		tb.waitAcrossNavigation("the page before the dashboard", `location.pathname === "/healthz"`)
		tb.checkProblems()
	})
}
