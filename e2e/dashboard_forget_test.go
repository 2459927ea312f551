package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// The lock detail's Forget action (POST /lock/{name}/forget), beside Force
// release and built like it: offered by the same rule (the server applies
// one rule to both), confirmed in a dialog that says what happens, and a
// refusal shown in the server's words.

const (
	forgetShown  = `!document.getElementById("forget").hidden`
	forgetHidden = `document.getElementById("forget").hidden`
	detailOf     = `document.getElementById("detail-title").textContent === `
)

// listedLocks is the names GET /locks lists.
func listedLocks(t *testing.T, base, user, pass string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(mustCall(t, "GET", base+"/locks", user, pass, "")), &m); err != nil {
		t.Fatalf("GET /locks: %v", err)
	}
	return m
}

// TestDashboardForgetAction: Forget is offered for a free lock in no pool,
// not for a held lock (until it is released: then without a reload) nor a
// free pool member; confirmed, the lock is gone from the page and from the
// server, the detail closes, and the focus lands in the table (or the
// filter), not on a row that is gone nor on the page's body: beside the
// table and in the drawer of a phone-sized screen.
func TestDashboardForgetAction(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	for _, name := range []string{"old-build", "old-build-2", "zz-last"} {
		mustCall(t, "PUT", lockURL(s.URL, name), "", "", `{"key":"k"}`)
		mustCall(t, "DELETE", lockURL(s.URL, name), "", "", `{"key":"k"}`)
	}
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy","lock_by":"deploy/build-1"}`)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-0", "", "", `{}`) // a free member

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	eval[bool](tb, `window.notReloaded = true`)

	// A held lock: no Forget. Released, Forget appears in the open detail.
	tb.click("opening prod", rowJS("prod")+`?.querySelector("button.lock-link")`)
	tb.waitFor("prod's detail, held", detailOf+`"prod" && document.getElementById("detail-facts").textContent.includes("held") && !document.getElementById("force").hidden`)
	if eval[bool](tb, forgetShown) {
		t.Error("Forget is offered on a held lock")
	}
	mustCall(t, "DELETE", lockURL(s.URL, "prod"), "", "", `{"key":"deploy","lock_by":"deploy/build-1"}`)
	tb.waitFor("Forget to appear once prod is free", detailOf+`"prod" && `+forgetShown+` && document.getElementById("force").hidden`)
	if !eval[bool](tb, `window.notReloaded === true`) {
		t.Fatal("the page reloaded")
	}

	// A free pool member: no Forget (it leaves its pool first).
	tb.click("opening the pool member", poolJS("envs")+`?.querySelector("button.member-link[data-name='env-0']")`)
	tb.waitFor("env-0's detail, free", detailOf+`"env-0" && document.getElementById("detail-facts").textContent.includes("free") && document.getElementById("detail-facts").textContent.includes("Pools")`)
	if eval[bool](tb, forgetShown) {
		t.Error("Forget is offered on a pool member")
	}

	// Cancel changes nothing, and gives the focus back to the button.
	tb.click("opening old-build", rowJS("old-build")+`?.querySelector("button.lock-link")`)
	tb.waitFor("old-build's detail with Forget", detailOf+`"old-build" && `+forgetShown)
	tb.do("clicking Forget", chromedp.Click(chromedp.ID("forget")))
	tb.waitFor("the confirmation", `document.getElementById("forget-confirm").open`)
	text := eval[string](tb, `document.getElementById("forget-confirm").textContent`)
	for _, want := range []string{"old-build", "history", "taken again", "higher fence"} {
		if !strings.Contains(text, want) {
			t.Errorf("the confirmation does not say %q: %q", want, text)
		}
	}
	tb.do("cancelling", chromedp.Click(chromedp.CSS(`#forget-confirm button[value=cancel]`)))
	tb.waitFor("the dialog to close, the focus back on Forget", `!document.getElementById("forget-confirm").open && document.activeElement.id === "forget"`)
	if _, ok := listedLocks(t, s.URL, "", "")["old-build"]; !ok {
		t.Fatal("cancelling forgot the lock")
	}

	forget := func(tb *tab, name string) {
		t.Helper()
		tb.click("opening "+name, rowJS(name)+`?.querySelector("button.lock-link")`)
		tb.waitFor(name+"'s detail with Forget", detailOf+js(name)+` && `+forgetShown)
		tb.do("clicking Forget", chromedp.Click(chromedp.ID("forget")))
		tb.waitFor("the confirmation", `document.getElementById("forget-confirm").open`)
		tb.do("confirming", chromedp.Click(chromedp.ID("confirm-forget")))
		tb.waitFor("the detail to close and the row to go", `document.getElementById("detail").hidden && !`+rowJS(name))
		// The focus is in the table or the filter, where the keyboard can
		// go on: not on the page's body, nor in the hidden detail.
		tb.waitFor("the focus in the table or the filter", `(() => {
			const a = document.activeElement;
			return !a.closest("[inert]") && (a.id === "filter" || (a.classList.contains("lock-link") && !!a.closest("#rows")));
		})()`)
		if _, ok := listedLocks(t, s.URL, "", "")[name]; ok {
			t.Errorf("GET /locks still lists %s after the page forgot it", name)
		}
		if got := eval[string](tb, `document.getElementById("locks-result").textContent`); !strings.Contains(got, name) {
			t.Errorf("after forgetting %s the page says %q", name, got)
		}
	}
	forget(tb, "old-build")
	if !eval[bool](tb, `!!`+rowJS("prod")+` && !!`+rowJS("old-build-2")) {
		t.Error("other locks left the table too")
	}
	tb.checkProblems()

	// On a phone the detail is a drawer over an inert page; forgetting
	// from it leaves the page usable and the focus in it.
	phone := openTab(t, browser, "", "")
	phone.do("sizing the window", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	phone.open(s.URL)
	forget(phone, "zz-last") // the last row: no row after it
	if eval[bool](phone, `document.querySelector("main > .primary").inert || document.querySelector("header.top").inert`) {
		t.Error("the page is still inert after the drawer closed")
	}
	phone.checkProblems()
}

// TestDashboardForgetRefused: a lock taken by someone else after the page
// offered to forget it is refused by the server (423); the page shows the
// server's words, keeps the detail open on the lock, and forgets nothing.
func TestDashboardForgetRefused(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "race"), "", "", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "race"), "", "", `{"key":"k"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.click("opening race", rowJS("race")+`?.querySelector("button.lock-link")`)
	tb.waitFor("race's detail with Forget", detailOf+`"race" && `+forgetShown)
	tb.do("clicking Forget", chromedp.Click(chromedp.ID("forget")))
	tb.waitFor("the confirmation", `document.getElementById("forget-confirm").open`)

	// Taken meanwhile, and confirmed at once: before the page heard, or
	// after, the server refuses.
	mustCall(t, "PUT", lockURL(s.URL, "race"), "", "", `{"key":"hotfix","lock_by":"hotfix/build-7"}`)
	tb.do("confirming", chromedp.Click(chromedp.ID("confirm-forget")))
	tb.waitFor("the server's refusal to show", `document.getElementById("detail-result").textContent.includes("only a free lock can be forgotten")`)
	result := eval[string](tb, `document.getElementById("detail-result").textContent`)
	if !strings.Contains(result, "hotfix") {
		t.Errorf("the refusal shown does not name the holder: %q", result)
	}
	if !eval[bool](tb, `!document.getElementById("detail").hidden && `+detailOf+`"race" && !!`+rowJS("race")) {
		t.Errorf("after the refusal the detail or the row is gone: %s", tb.describe())
	}
	tb.waitFor("the detail to show the new holder, and no Forget", `document.querySelector("#holds .holder")?.textContent === "hotfix/build-7" && `+forgetHidden)
	if l := getDashLock(t, s.URL, "race", "", ""); l.State != "held" || l.LockedBy["hotfix/build-7"] != 1 {
		t.Errorf("after the refused forget the server has race %+v", l)
	}

	// Free again, and taken while the dialog is open: the dialog says so
	// before the user confirms, as the force dialog does. Cancelled, the
	// focus stays in the detail (its Forget is gone).
	mustCall(t, "DELETE", lockURL(s.URL, "race"), "", "", `{"key":"hotfix","lock_by":"hotfix/build-7"}`)
	tb.waitFor("Forget to come back", forgetShown)
	tb.do("clicking Forget", chromedp.Click(chromedp.ID("forget")))
	tb.waitFor("the confirmation", `document.getElementById("forget-confirm").open && document.getElementById("forget-changed").textContent === ""`)
	mustCall(t, "PUT", lockURL(s.URL, "race"), "", "", `{"key":"qa","lock_by":"qa/run-3"}`)
	tb.waitFor("the open dialog to say the lock was taken", `document.getElementById("forget-confirm").open && document.getElementById("forget-changed").textContent.includes("qa/run-3")`)
	tb.do("cancelling", chromedp.Click(chromedp.CSS(`#forget-confirm button[value=cancel]`)))
	tb.waitFor("the focus on the detail's title", `!document.getElementById("forget-confirm").open && document.activeElement.id === "detail-title"`)
	tb.checkProblems()
}

// TestDashboardForgetAdminOnly: with an admin user set, only the admin may
// forget, so only the admin is offered Forget; the AUTH_USER user and the
// read-only user are not.
func TestDashboardForgetAdminOnly(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass",
		"LOCKER_READONLY_USER=ro", "LOCKER_READONLY_PASS=ro-pass"})
	mustCall(t, "PUT", lockURL(s.URL, "old-build"), "ci", "ci-pass", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "old-build"), "ci", "ci-pass", `{"key":"k"}`)

	admin := openTab(t, browser, "ops", "ops-pass")
	admin.open(s.URL)
	admin.click("opening old-build", rowJS("old-build")+`?.querySelector("button.lock-link")`)
	admin.waitFor("Forget offered to the admin", detailOf+`"old-build" && `+forgetShown)

	for _, u := range [][2]string{{"ci", "ci-pass"}, {"ro", "ro-pass"}} {
		tb := openTab(t, browser, u[0], u[1])
		tb.open(s.URL)
		tb.waitFor("the page to know who "+u[0]+" is", `document.getElementById("who").textContent.startsWith("signed in as `+u[0]+`")`)
		tb.click("opening old-build", rowJS("old-build")+`?.querySelector("button.lock-link")`)
		tb.waitFor("old-build's detail, free", detailOf+`"old-build" && document.getElementById("detail-facts").textContent.includes("free")`)
		if eval[bool](tb, forgetShown) {
			t.Errorf("Forget is offered to %s, who may not forget", u[0])
		}
		tb.checkProblems()
	}
	admin.checkProblems()
}

// answerWhoami answers the tab's GET /whoami with body, as a server would:
// the page is then told what the server never says together (may_force
// without may_forget, say).
func (tb *tab) answerWhoami(body string) {
	tb.t.Helper()
	paused := chromedp.Events(tb.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(tb.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(body)})
		}
	}()
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/whoami"}}}); err != nil {
		tb.t.Fatalf("enabling the Fetch domain: %v", err)
	}
}

// TestDashboardForgetFollowsMayForget: the page offers Forget by whoami's
// may_forget, the rule of the forget itself, and Force release by
// may_force; it offered Forget by may_force. The server's two rules are
// one today, so whoami is answered here by the test, with the two apart.
func TestDashboardForgetFollowsMayForget(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "old-build"), "", "", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "old-build"), "", "", `{"key":"k"}`)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)

	for _, tc := range []struct{ mayForce, mayForget bool }{{true, false}, {false, true}} {
		tb := openTab(t, browser, "", "")
		tb.answerWhoami(fmt.Sprintf(`{"user":"someone","may_force":%v,"may_forget":%v,"sign_in":false}`, tc.mayForce, tc.mayForget))
		tb.open(s.URL)
		tb.waitFor("the page to know who the user is", `document.getElementById("who").textContent.startsWith("signed in as someone")`)
		tb.click("opening prod", rowJS("prod")+`?.querySelector("button.lock-link")`)
		tb.waitFor("prod's detail, held", detailOf+`"prod" && document.getElementById("detail-facts").textContent.includes("held")`)
		if shown := eval[bool](tb, `!document.getElementById("force").hidden`); shown != tc.mayForce {
			t.Errorf("with may_force %v and may_forget %v, Force release shown: %v", tc.mayForce, tc.mayForget, shown)
		}
		tb.click("opening old-build", rowJS("old-build")+`?.querySelector("button.lock-link")`)
		tb.waitFor("old-build's detail, free", detailOf+`"old-build" && document.getElementById("detail-facts").textContent.includes("free")`)
		if shown := eval[bool](tb, forgetShown); shown != tc.mayForget {
			t.Errorf("with may_force %v and may_forget %v, Forget shown: %v", tc.mayForce, tc.mayForget, shown)
		}
		tb.checkProblems()
	}
}

// TestDashboardForgottenElsewhere: a lock forgotten by someone else while
// its detail is open leaves the table, and its detail said "No history.",
// as if it never had any: the server removed it. The detail says the
// server no longer has the lock nor its history.
func TestDashboardForgottenElsewhere(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "old-build"), "", "", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "old-build"), "", "", `{"key":"k"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.click("opening old-build", rowJS("old-build")+`?.querySelector("button.lock-link")`)
	tb.waitFor("its history", `document.querySelectorAll("#history tr[data-type]").length === 2`)
	mustCall(t, "POST", lockURL(s.URL, "old-build")+"/forget", "", "", "")
	tb.waitFor("the row to go", `!`+rowJS("old-build")+` && document.getElementById("detail-facts").textContent.includes("not found")`)
	tb.waitFor("the history to go", `!document.querySelector("#history tr[data-type]")`)
	if got := eval[string](tb, `document.getElementById("history").textContent`); !strings.Contains(got, "no longer has") {
		t.Errorf("the detail of a lock forgotten elsewhere says %q of its history, want that the server no longer has it", got)
	}
	tb.checkProblems()
}
