package e2e

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardSteadyWhileReloading: the page reads the locks every few
// seconds, also when nothing changed, and after every change anywhere.
// Each read rebuilt the open lock's details and every pool card: text an
// operator had selected there to copy (a holder in the history, a pool
// member's holder) was unselected within 5 s, and the focus on a pool
// member was moved to a new button at each read (a screen reader says it
// again). What did not change stays as it is; what changed is shown.
func TestDashboardSteadyWhileReloading(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", "")
	mustCall(t, "PUT", s.URL+"/pool/envs/env-2", "", "", "")
	mustCall(t, "PUT", s.URL+"/pool/envs", "", "", `{"key":"build-42","lock_by":"pipeline/job/build-42"}`)
	mustCall(t, "PUT", lockURL(s.URL, "deploy"), "", "", `{"key":"k","lock_by":"job-77"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.click("opening deploy", rowJS("deploy")+`.querySelector("button")`)
	tb.waitFor("its history", `document.querySelector("#history tr[data-type=acquired] .holder")?.textContent === "job-77"`)

	// selects selects the text of the element expr finds, and marks the
	// element, to tell it from a new one that looks the same.
	selects := func(expr string) {
		t.Helper()
		tb.do("selecting "+expr, chromedp.Evaluate[chromedp.Void](`(() => {
			const e = `+expr+`, r = document.createRange();
			r.selectNodeContents(e);
			getSelection().removeAllRanges();
			getSelection().addRange(r);
			e.dataset.marked = "yes";
		})()`))
	}
	// reloaded waits for the page to read the locks again twice: a change
	// elsewhere, shown.
	reloaded := func() {
		t.Helper()
		for range 2 {
			var l struct{ Fence int }
			json.Unmarshal([]byte(mustCall(t, "PUT", lockURL(s.URL, "elsewhere"), "", "", `{"key":"k"}`)), &l)
			mustCall(t, "DELETE", lockURL(s.URL, "elsewhere"), "", "", `{"key":"k"}`)
			tb.waitFor("the change elsewhere", rowJS("elsewhere")+`?.querySelector("td[data-label=Fence]").textContent === "`+strconv.Itoa(l.Fence)+`" && `+
				rowJS("elsewhere")+`.dataset.state === "free"`)
		}
	}

	for _, c := range []struct{ what, expr, want string }{
		{"a holder in the open lock's history", `document.querySelector("#history tr[data-type=acquired] .holder")`, "job-77"},
		{"a holder in the open lock's holds", `document.querySelector("#holds .holder")`, "job-77"},
		{"the holder of a pool's member", poolJS("envs") + `.querySelector(".member-holder")`, "pipeline/job/build-42"},
	} {
		selects(c.expr)
		reloaded()
		if got := eval[string](tb, `getSelection().toString()`); got != c.want {
			t.Errorf("%s was selected (%q); after the page read the locks again, the selection is %q", c.what, c.want, got)
		}
		if !eval[bool](tb, `(`+c.expr+`)?.dataset.marked === "yes"`) {
			t.Errorf("%s was built again, though nothing about it changed", c.what)
		}
	}

	// The focus stays on the pool member's button itself.
	tb.do("focusing a member", chromedp.Evaluate[chromedp.Void](`(() => { const b = `+poolJS("envs")+`.querySelector("button.member-link"); b.dataset.marked = "yes"; b.focus(); })()`))
	reloaded()
	if !eval[bool](tb, `document.activeElement?.dataset.marked === "yes"`) {
		t.Errorf("the focus left the pool member's button for another at a reload (now on %s)", eval[string](tb, `document.activeElement?.outerHTML.slice(0, 120) || "nothing"`))
	}

	// What changes is shown, in the pool and in the open lock.
	mustCall(t, "PUT", lockURL(s.URL, "deploy"), "", "", `{"key":"k","lock_by":"job-78"}`)
	tb.waitFor("the new holder in the detail", `[...document.querySelectorAll("#holds .holder")].map(h => h.textContent).join() === "job-77,job-78"`)
	tb.waitFor("the new holder in the history", `document.querySelector("#history tr[data-type=acquired] .holder")?.textContent === "job-78"`)
	mustCall(t, "PUT", s.URL+"/pool/envs", "", "", `{"key":"build-43","lock_by":"pipeline/job/build-43"}`)
	tb.waitFor("the pool all held", poolCount("envs")+` === "●0 of 2 free"`)
	tb.click("opening env-2 from the pool", poolJS("envs")+`.querySelectorAll("button.member-link")[1]`)
	tb.waitFor("env-2's detail, marked open in the pool", `document.getElementById("detail-title").textContent === "env-2" && `+
		poolJS("envs")+`.querySelectorAll("li.member")[1].classList.contains("selected") && !`+poolJS("envs")+`.querySelectorAll("li.member")[0].classList.contains("selected")`)
	tb.checkProblems()
}
