package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardSortColumns: the locks table sorts by its columns. It showed
// held locks first, by name, and nothing else: among hundreds of held
// locks, the one held for days (a stuck deploy), the lease about to run
// out or the lock with a queue could not be brought to the top.
func TestDashboardSortColumns(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "old"), "", "", `{"key":"k"}`)
	time.Sleep(1100 * time.Millisecond) // times in the API have sub-second precision; a margin all the same
	mustCall(t, "PUT", lockURL(s.URL, "mid")+"?ttl=2h", "", "", `{"key":"k"}`)
	time.Sleep(1100 * time.Millisecond)
	mustCall(t, "PUT", lockURL(s.URL, "new")+"?ttl=1h", "", "", `{"key":"k"}`)
	mustCall(t, "PUT", lockURL(s.URL, "a-free"), "", "", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "a-free"), "", "", `{"key":"k"}`)
	// One request waits for "new" until the test ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "PUT", lockURL(s.URL, "new")+"?key=other&wait=5m", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.waitFor("the waiter", rowJS("new")+`?.querySelector("td[data-label=Waiters]").textContent === "1"`)
	order := `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join()`
	sortedBy := `[...document.querySelectorAll("#locks thead th")].filter(th => th.hasAttribute("aria-sort") && th.getAttribute("aria-sort") !== "none").map(th => th.textContent.trim() + " " + th.getAttribute("aria-sort")).join()`
	header := func(label string) string {
		return `[...document.querySelectorAll("#locks thead th button")].find(b => b.textContent.trim() === ` + js(label) + `)`
	}
	check := func(what, want, wantSort string) {
		t.Helper()
		tb.waitFor(what, order+` === `+js(want))
		if got := eval[string](tb, sortedBy); got != wantSort {
			t.Errorf("%s: the headers say %q sorted, want %q", what, got, wantSort)
		}
	}
	check("at first, held locks first, by name", "mid,new,old,a-free", "Lock ascending")
	tb.click("sorting by held since", header("Held since"))
	check("longest held first; free last", "old,mid,new,a-free", "Held since ascending")
	tb.click("sorting by held since again", header("Held since"))
	check("shortest held first; free still last", "new,mid,old,a-free", "Held since descending")
	tb.click("sorting by lease", header("Lease expires"))
	check("soonest lease first; none last", "new,mid,old,a-free", "Lease expires ascending")
	tb.click("sorting by waiters", header("Waiters"))
	check("most waiters first", "new,mid,old,a-free", "Waiters descending")
	tb.click("sorting by name", header("Lock"))
	check("back to held first, by name", "mid,new,old,a-free", "Lock ascending")
	tb.click("sorting by name again", header("Lock"))
	check("held first, by name backwards", "old,new,mid,a-free", "Lock descending")

	// The sort keeps through a live change.
	mustCall(t, "PUT", lockURL(s.URL, "b-late"), "", "", `{"key":"k"}`)
	check("a lock taken since, in its place", "old,new,mid,b-late,a-free", "Lock descending")
	if !strings.Contains(eval[string](tb, `document.querySelector("#locks caption").textContent`), "sorted") {
		t.Errorf("the table's caption does not say how it is sorted")
	}

	// At phone width, where each lock is a card, the sort buttons stay in
	// sight (not kept for assistive technology only, like the other
	// headers, which would leave the keyboard invisible stops).
	tb.do("emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	type box struct{ Left, Right, Width float64 }
	for _, b := range eval[[]box](tb, `[...document.querySelectorAll("#locks thead button.sort")].map(b => { const r = b.getBoundingClientRect(); return {Left: r.left, Right: r.right, Width: r.width}; })`) {
		if b.Width < 40 || b.Left < 0 || b.Right > 390 {
			t.Errorf("at 390px a sort button is at %.0f-%.0f (%.0fpx wide): not in sight", b.Left, b.Right, b.Width)
		}
	}
	tb.checkProblems()
}
