package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// axDescription is the accessible description the browser computes for
// the element expr finds: what a screen reader says of it besides its name.
func (tb *tab) axDescription(expr string) string {
	tb.t.Helper()
	r, err := chromedp.Call(tb.ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: expr})
	if err != nil || r.Result == nil || r.Result.ObjectID == "" {
		tb.t.Fatalf("finding %s: %v", expr, err)
	}
	no := false
	ax, err := chromedp.Call(tb.ctx, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: r.Result.ObjectID, FetchRelatives: &no})
	if err != nil || len(ax.Nodes) == 0 {
		tb.t.Fatalf("the accessibility node of %s: %v", expr, err)
	}
	var s string
	if d := ax.Nodes[0].Description; d != nil {
		json.Unmarshal(d.Value, &s)
	}
	return s
}

// TestDashboardConfirmationsDescribed: the force-release and forget
// confirmations name the lock, and the holders a force ends, but only on
// screen: opened, a screen reader said "Force release?, dialog" and
// "Cancel, button", and nothing of what would be ended (the dialogs had
// no accessible description). They are described by their text.
func TestDashboardConfirmationsDescribed(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod-db"), "", "", `{"key":"deploy","lock_by":"job-9"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.click("opening prod-db", rowJS("prod-db")+`.querySelector("button")`)
	tb.waitFor("Force release offered", `!document.getElementById("force").hidden`)
	tb.do("Force release, from the keyboard", chromedp.Evaluate[chromedp.Void](`document.getElementById("force").focus()`), chromedp.KeyEvent("\r"))
	tb.waitFor("the confirmation, its Cancel focused", `document.getElementById("confirm").open && document.activeElement?.value === "cancel"`)
	desc := tb.axDescription(`document.getElementById("confirm")`)
	for _, want := range []string{"prod-db", "job-9", "deploy"} {
		if !strings.Contains(desc, want) {
			t.Errorf("the force-release confirmation's accessible description is %q, which does not name %q", desc, want)
		}
	}
	tb.do("cancelling", chromedp.KeyEvent("\r"))
	tb.waitFor("the dialog closed, the focus back on Force release", `!document.getElementById("confirm").open && document.activeElement?.id === "force"`)

	mustCall(t, "DELETE", lockURL(s.URL, "prod-db"), "", "", `{"key":"deploy","lock_by":"job-9"}`)
	tb.waitFor("Forget offered", `!document.getElementById("forget").hidden`)
	tb.do("Forget", chromedp.Click(chromedp.ID("forget")))
	tb.waitFor("the forget confirmation", `document.getElementById("forget-confirm").open`)
	if desc := tb.axDescription(`document.getElementById("forget-confirm")`); !strings.Contains(desc, "prod-db") {
		t.Errorf("the forget confirmation's accessible description is %q, which does not name the lock", desc)
	}
	tb.do("cancelling", chromedp.Click(chromedp.CSS(`#forget-confirm button[value=cancel]`)))
	tb.checkProblems()
}
