package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardDetailNarrow: below 1100px, where there is no room for the
// open lock beside the table, opening a lock shows its detail in view, and
// closing it puts the reader back where they were in the table. The
// detail was laid out below the whole table: with many locks, clicking one
// near the bottom scrolled the page away from the row, to a detail at best
// partly in view (at 1024x800 its first 449 of 921px, at the bottom of the
// screen) and at worst not at all (at 768x1024 it was 2,881px down the
// page: nothing seemed to happen).
func TestDashboardDetailNarrow(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	for i := range 59 {
		name := fmt.Sprintf("lock-%02d", i)
		switch i % 3 {
		case 0:
			mustCall(t, "PUT", lockURL(s.URL, name)+"?ttl=45m", "", "", fmt.Sprintf(`{"key":"deploy","lock_by":"pipeline-%d/build-%d"}`, i, 100+i))
		case 1:
			mustCall(t, "PUT", lockURL(s.URL, name), "", "", `{"key":"qa","lock_by":"integration-tests/run-1"}`)
			mustCall(t, "PUT", lockURL(s.URL, name), "", "", `{"key":"qa","lock_by":"smoke-tests/run-2"}`)
		default:
			mustCall(t, "PUT", lockURL(s.URL, name), "", "", `{"key":"k"}`)
		}
	}
	// The last lock, the one opened, has a detail taller than a phone's
	// screen: six holders, six events in its history.
	for i := range 6 {
		mustCall(t, "PUT", lockURL(s.URL, "lock-59"), "", "", fmt.Sprintf(`{"key":"qa","lock_by":"integration-tests/run-%d"}`, i))
	}
	// A pool of two, both taken (held locks sort first, by name: lock-59
	// stays last).
	for i := range 2 {
		mustCall(t, "PUT", fmt.Sprintf("%s/pool/envs/env-%d", s.URL, i), "", "", `{}`)
		mustCall(t, "PUT", s.URL+"/pool/envs", "", "", fmt.Sprintf(`{"key":"e2e-%d"}`, i))
	}
	const last = "lock-59" // last by name, and held: the last row
	type box struct{ Top, Bottom, Left, Right, Height, Width, ScrollY, ScrollWidth float64 }
	rect := func(tb *tab, expr string) box {
		return eval[box](tb, `(() => { const r = (`+expr+`).getBoundingClientRect(); return {Top: r.top, Bottom: r.bottom, Left: r.left, Right: r.right, Height: innerHeight, Width: innerWidth, ScrollY: scrollY, ScrollWidth: document.documentElement.scrollWidth}; })()`)
	}
	for _, size := range []struct {
		name string
		emu  chromedp.Action[chromedp.Void]
	}{
		{"a laptop, 1024x800", chromedp.EmulateViewport(1024, 800)},
		{"a tablet, 768x1024", chromedp.EmulateViewport(768, 1024)},
		{"a small window, 640x800", chromedp.EmulateViewport(640, 800)},
		{"a phone, 390x844", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait)},
	} {
		t.Run(size.name, func(t *testing.T) {
			tb := openTab(t, browser, "", "")
			tb.do("sizing the window", size.emu)
			tb.open(s.URL)
			tb.waitFor("every lock", `document.querySelectorAll("#rows tr[data-name]").length === 62`)
			row := rowJS(last)
			// To the end of the page. Rows not yet shown are laid out as they
			// come into view (content-visibility), which moves the end:
			// scroll again until it has stayed put for a second (frames
			// come late on a busy machine).
			tb.waitFor("the last row in view, at the end of the page", `(() => {
				scrollTo(0, document.documentElement.scrollHeight);
				const y = `+row+`.getBoundingClientRect().top;
				if (y !== window.lastY) { window.lastY = y; window.since = performance.now(); }
				return performance.now() - window.since > 1000 && y > 0 && y < innerHeight;
			})()`)
			before := rect(tb, row)
			// Nothing wider than the screen: under 720px the table's
			// minimum width pushed the whole page (header, filter and all)
			// sideways.
			if before.ScrollWidth > before.Width {
				t.Errorf("the page is %.0fpx wide in a viewport of %.0fpx: it scrolls sideways", before.ScrollWidth, before.Width)
			}
			// Where the table gives way to cards (up to 900px, for fingers
			// as often as not), what opens a lock and the sort buttons are
			// at least 32px high: a lock's name was 22px, a pool member's
			// 20px.
			if before.Width <= 900 {
				for _, small := range eval[[]string](tb, `[...document.querySelectorAll("#rows button, #pool-list button, #locks thead button")].filter(b => b.getBoundingClientRect().height < 32).map(b => b.className + " " + b.textContent + " " + Math.round(b.getBoundingClientRect().height) + "px")`) {
					t.Errorf("a button too small for a finger: %s", small)
				}
			}
			// Holders have room to be read: at 768px the table left them
			// 75px, and broke "integration-tests/run-1" into scraps.
			if h := rect(tb, row+`.querySelector("ul.holders")`); h.Right-h.Left < 150 {
				t.Errorf("the holders of a lock have %.0fpx", h.Right-h.Left)
			}

			tb.click("opening the last lock", row+`.querySelector("button.lock-link")`)
			tb.waitFor("the detail, focused, with its history", `!document.getElementById("detail").hidden && document.activeElement.id === "detail-title" && document.querySelectorAll("#history tr[data-type]").length === 6`)
			// Within the viewport, whole: its top with the name and Close
			// at once, and its bottom too (it scrolls inside if longer).
			inView := `(() => { const r = document.getElementById("detail").getBoundingClientRect(); return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1; })()`
			for deadline := time.Now().Add(5 * time.Second); !eval[bool](tb, inView); {
				if time.Now().After(deadline) {
					d := rect(tb, `document.getElementById("detail")`)
					t.Fatalf("the open lock's detail is at %.0f-%.0f (top-bottom) and %.0f-%.0f (left-right) in a viewport of %.0fx%.0f: not in view", d.Top, d.Bottom, d.Left, d.Right, d.Width, d.Height)
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, id := range []string{"detail-title", "detail-close"} {
				if r := rect(tb, `document.getElementById(`+js(id)+`)`); r.Top < 0 || r.Bottom > r.Height {
					t.Errorf("#%s is at %.0f-%.0f in a viewport %.0fpx high", id, r.Top, r.Bottom, r.Height)
				}
			}
			if d := rect(tb, `document.getElementById("detail")`); d.ScrollWidth > d.Width {
				t.Errorf("with the detail open the page is %.0fpx wide in a viewport of %.0fpx: it scrolls sideways", d.ScrollWidth, d.Width)
			}

			// The page behind cannot be reached from the keyboard while it
			// is covered: Tab goes round the detail's own controls (and out
			// of the page, to the browser's, as from a modal dialog).
			for i := range 8 {
				tb.do("pressing Tab", chromedp.KeyEvent("\t"))
				if in := eval[bool](tb, `!!document.activeElement.closest("#detail") || document.activeElement === document.body`); !in {
					t.Fatalf("Tab %d went to %s, behind the open detail", i+1, eval[string](tb, `document.activeElement.outerHTML.slice(0, 80)`))
				}
			}

			// Escape closes it, wherever the focus is (a click on its text
			// leaves it on the page's body): the focus is back on the lock's
			// button, and the table where it was.
			tb.do("moving the focus to the page's body", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
			tb.do("pressing Escape", chromedp.KeyEvent("\x1b"))
			tb.waitFor("the detail to close", `document.getElementById("detail").hidden`)
			if got := eval[string](tb, `document.activeElement.closest("tr")?.dataset.name ?? document.activeElement.tagName`); got != last {
				t.Errorf("after Escape the focus is on %q, want the button of %s", got, last)
			}
			if after := rect(tb, row); after.Top < before.Top-2 || after.Top > before.Top+2 || after.ScrollY != before.ScrollY {
				t.Errorf("the row of %s was at %.0f (page scrolled to %.0f) before opening it, at %.0f (scrolled to %.0f) after closing it: not back in place", last, before.Top, before.ScrollY, after.Top, after.ScrollY)
			}

			// Where the page shows beside the drawer, a click there closes
			// it too, with the same result.
			if before.Width > 600 {
				tb.click("opening the last lock again", row+`.querySelector("button.lock-link")`)
				tb.waitFor("the detail", `!document.getElementById("detail").hidden`)
				tb.do("clicking beside the detail", chromedp.MouseClickXY(10, before.Height/2))
				tb.waitFor("the detail to close", `document.getElementById("detail").hidden`)
				if got := eval[string](tb, `document.activeElement.closest("tr")?.dataset.name ?? document.activeElement.tagName`); got != last {
					t.Errorf("after a click beside the detail the focus is on %q, want the button of %s", got, last)
				}
				if after := rect(tb, row); after.Top < before.Top-2 || after.Top > before.Top+2 {
					t.Errorf("the row of %s was at %.0f before opening it, at %.0f after closing it with a click beside it", last, before.Top, after.Top)
				}
			}

			// Opened from a pool's member, it takes the focus back there.
			member := poolJS("envs") + `?.querySelector("button.member-link[data-name='env-1']")`
			tb.do("scrolling to the top", chromedp.Evaluate[chromedp.Void](`scrollTo(0, 0)`))
			tb.click("opening a pool member", member)
			tb.waitFor("its detail", `!document.getElementById("detail").hidden && document.getElementById("detail-title").textContent === "env-1"`)
			tb.do("pressing Escape", chromedp.KeyEvent("\x1b"))
			tb.waitFor("the detail to close", `document.getElementById("detail").hidden`)
			if !eval[bool](tb, `document.activeElement === `+member) {
				t.Errorf("after Escape the focus is on %s, want the pool member that opened the lock", eval[string](tb, `document.activeElement.outerHTML.slice(0, 80)`))
			}
			tb.checkProblems()
		})
	}
}
