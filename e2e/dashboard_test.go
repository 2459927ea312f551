package e2e

// The web dashboard in a real headless Chromium, driven over the DevTools
// protocol (chromedp), against the real binary. Without Chromium these tests
// skip and say how to install it (.ci/run installs it).
//
// LOCKER_UPDATE_SCREENSHOT=1 makes TestDashboardScreenshot write
// docs/dashboard.png (the README's screenshot); otherwise it writes to a
// temporary directory.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/debugger"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath finds Debian's chromium (or Ubuntu's chromium-browser).
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium for the test, with a profile of its
// own, and returns the browser's context. It skips the test when Chromium
// is not installed.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium not installed: apt-get install -y chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium makes a directory for its singleton socket in TMPDIR
		// and, stopped by a kill, leaves it: one per browser in /tmp
		// (200 after a few runs) without a TMPDIR of the test's own.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// tab is one browser tab, signed in as one user. It records what must never
// happen: a JavaScript dialog (alert from injected markup), an uncaught
// exception, a Content-Security-Policy violation.
type tab struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

// openTab opens a tab that sends basic-auth credentials (none if user is
// "") with every request, the way a browser does once the user signed in.
func openTab(t *testing.T, browser context.Context, user, pass string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.problem("a JavaScript %s dialog opened: %q", ev.Type, ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				tb.problem("browser console: %s (%s:%d)", m.Text, m.URL, m.Line+1)
			}
		}
	}()
	if user != "" {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
			t.Fatalf("setting the Authorization header: %v", err)
		}
	}
	return tb
}

func (tb *tab) problem(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.problems = append(tb.problems, fmt.Sprintf(format, args...))
}

// checkProblems fails the test for anything recorded so far.
func (tb *tab) checkProblems() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		tb.t.Error(p)
	}
	tb.problems = nil
}

// do runs actions in the tab.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v\npage: %s", what, err, tb.describe())
	}
}

// open loads the dashboard and waits until it has the locks and a live
// event stream.
func (tb *tab) open(base string) {
	tb.t.Helper()
	tb.do("opening the dashboard", chromedp.Navigate(base+"/"))
	// Across navigation: a navigation already under way (a Reload just
	// before) can land after Navigate returns, and a condition evaluated
	// in between finds no dashboard (seen in CI: "conn" was null).
	tb.waitAcrossNavigation("the dashboard to load and go live",
		`document.getElementById("conn").dataset.state === "live" && document.getElementById("summary").textContent !== ""`)
}

// click clicks the element a JavaScript expression finds, from the page's
// own script. The table and the pools are redrawn whenever the data is
// reloaded, which replaces their buttons: a click through the DevTools
// protocol (find the node, then click it) can lose the node in between; a
// person clicking at that place gets the new button.
func (tb *tab) click(what, expr string) {
	tb.t.Helper()
	tb.waitFor(what+": the element", expr)
	tb.do(what, chromedp.Evaluate[chromedp.Void]("("+expr+").click()"))
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition for up to 15 seconds.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !eval[bool](tb, "!!("+cond+")") {
		if time.Now().After(deadline) {
			tb.t.Fatalf("still not true after 15s: %s (%s)\npage: %s", what, cond, tb.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAcrossNavigation is waitFor while the tab navigates: a condition
// evaluated as one page goes and the next comes fails, and is asked again.
func (tb *tab) waitAcrossNavigation(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("still not true after 15s: %s (%s; last error: %v)\npage: %s", what, cond, err, tb.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describe summarizes the page for failure messages.
func (tb *tab) describe() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		conn: document.getElementById("conn") && document.getElementById("conn").textContent,
		notice: document.getElementById("notice") && document.getElementById("notice").textContent,
		rows: [...document.querySelectorAll("#rows tr")].map(r => r.innerText.replace(/\s+/g, " ")),
		detail: document.getElementById("detail") && document.getElementById("detail").innerText.replace(/\s+/g, " "),
	})`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rowJS is an expression for the table row of a lock (or undefined).
func rowJS(name string) string {
	return `[...document.querySelectorAll("#rows tr")].find(r => r.dataset.name === ` + js(name) + `)`
}

// call sends an API request as user (none if ""), and returns the status
// and body.
func call(t *testing.T, method, u, user, pass, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustCall is call that fails the test unless the status is 200.
func mustCall(t *testing.T, method, u, user, pass, body string) string {
	t.Helper()
	status, b := call(t, method, u, user, pass, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, u, status, b)
	}
	return b
}

func lockURL(base, name string) string { return base + "/lock/" + url.PathEscape(name) }

const (
	hostileName   = "<script>alert(1)\u202e</script>" // with a right-to-left override
	hostileHolder = `<img src=x onerror=alert(2)>`
	hostileKey    = `"><svg onload=alert(3)>`
)

func TestDashboard(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	data := filepath.Join(t.TempDir(), "locks.yml")
	env := []string{"LOCKER_CONFIG=" + data, "AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"}
	s := startServer(t, env)
	base := s.URL

	// Before the page opens: a hostile lock, held, and a free lock.
	mustCall(t, "PUT", lockURL(base, hostileName), "ci", "ci-pass", jsonBody(map[string]string{"key": hostileKey, "lock_by": hostileHolder}))
	mustCall(t, "PUT", lockURL(base, "db-migrations"), "ci", "ci-pass", `{"key":"migrate"}`)
	mustCall(t, "DELETE", lockURL(base, "db-migrations"), "ci", "ci-pass", `{"key":"migrate"}`)

	admin := openTab(t, browser, "ops", "ops-pass")
	admin.open(base)
	if who := eval[string](admin, `document.getElementById("who").textContent`); !strings.Contains(who, "ops") {
		t.Errorf("the header says %q, want the user ops", who)
	}

	// Hostile strings are shown as text, everywhere, and create nothing.
	type rendered struct {
		Name, Holder, Key string
		Scripts, Images   int
	}
	got := eval[rendered](admin, `(() => { const tr = `+rowJS(hostileName)+`; return {
		Name: tr.querySelector("button.lock-link").textContent,
		Holder: tr.querySelector(".holder").textContent,
		Key: tr.querySelector("code.key").textContent,
		Scripts: document.querySelectorAll("script").length,
		Images: document.querySelectorAll("img, svg, iframe, object").length,
	}; })()`)
	want := rendered{Name: hostileName, Holder: hostileHolder, Key: hostileKey, Scripts: 1, Images: 0}
	if got != want {
		t.Errorf("hostile lock rendered as %+v, want %+v", got, want)
	}

	// Held locks come before free ones.
	states := eval[[]string](admin, `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.state)`)
	if strings.Join(states, ",") != "held,free" {
		t.Errorf("row states in order = %v, want held then free", states)
	}

	// A lock taken now appears without a reload.
	eval[bool](admin, `window.notReloaded = true`)
	mustCall(t, "PUT", lockURL(base, "prod-deployments")+"?ttl=1h", "ci", "ci-pass", `{"key":"deploy","lock_by":"deploy-prod/build-142"}`)
	admin.waitFor("prod-deployments to appear, held", rowJS("prod-deployments")+`?.dataset.state === "held"`)
	admin.waitFor("its holder to show", rowJS("prod-deployments")+`.querySelector(".holder").textContent === "deploy-prod/build-142"`)
	if !eval[bool](admin, `window.notReloaded === true`) {
		t.Fatal("the page reloaded to show the new lock")
	}
	if states := eval[[]string](admin, `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name)`); len(states) != 3 || states[2] != "db-migrations" {
		t.Errorf("rows in order = %q, want the free db-migrations last", states)
	}
	admin.waitFor("the lease expiry to show", rowJS("prod-deployments")+`.querySelector("td[data-label='Lease expires'] time").textContent.startsWith("in ")`)

	// Keyboard: focus the lock and press Enter to open its detail.
	admin.do("opening the detail with the keyboard", chromedp.Evaluate[chromedp.Void](rowJS("prod-deployments")+`.querySelector("button.lock-link").focus()`), chromedp.KeyEvent(kb.Enter))
	admin.waitFor("the detail panel", `!document.getElementById("detail").hidden && document.getElementById("detail-title").textContent === "prod-deployments"`)
	admin.waitFor("the history to show the acquisition",
		`[...document.querySelectorAll("#history tr[data-type=acquired]")].some(r => r.innerText.includes("deploy-prod/build-142"))`)

	// The open detail follows changes: a second hold by the same holder.
	mustCall(t, "PUT", lockURL(base, "prod-deployments"), "ci", "ci-pass", `{"key":"deploy","lock_by":"deploy-prod/build-142"}`)
	admin.waitFor("the count to reach 2 in the detail", `document.querySelector("#holds td.num")?.textContent === "2"`)
	admin.waitFor("two acquisitions in the history", `document.querySelectorAll("#history tr[data-type=acquired]").length === 2`)

	// Force release: the button, the confirmation naming the lock and its
	// holder, the result at once, the lock free.
	admin.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
	admin.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
	if name := eval[string](admin, `document.getElementById("confirm-name").textContent`); name != "prod-deployments" {
		t.Errorf("the confirmation names %q", name)
	}
	if holders := eval[string](admin, `document.getElementById("confirm-holders").textContent`); !strings.Contains(holders, "deploy-prod/build-142") {
		t.Errorf("the confirmation lists holders %q", holders)
	}
	admin.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
	admin.waitFor("the lock to turn free", rowJS("prod-deployments")+`?.dataset.state === "free"`)
	admin.waitFor("the result to show", `document.getElementById("detail-result").textContent.includes("force-released")`)
	admin.waitFor("the forced release in the history", `document.querySelector("#history tr")?.dataset.type === "forced" && document.querySelector("#history tr").innerText.includes("ops")`)
	if eval[bool](admin, `!document.getElementById("force").hidden`) {
		t.Error("Force release is still offered on a free lock")
	}
	var l struct {
		State string `json:"state"`
	}
	json.Unmarshal([]byte(mustCall(t, "GET", lockURL(base, "prod-deployments"), "ci", "ci-pass", "")), &l)
	if l.State != "free" {
		t.Errorf("after the force release the server says %q", l.State)
	}

	// The hostile lock's detail and confirmation show its strings as text;
	// cancelling changes nothing.
	admin.click("opening the hostile lock", rowJS(hostileName)+`.querySelector("button")`)
	admin.waitFor("its detail", `document.getElementById("detail-title").textContent === `+js(hostileName))
	admin.waitFor("its history", `document.querySelector("#history tr[data-type=acquired] .holder")?.textContent === `+js(hostileHolder))
	admin.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
	admin.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
	if name := eval[string](admin, `document.getElementById("confirm-name").textContent`); name != hostileName {
		t.Errorf("the confirmation names %q, want %q", name, hostileName)
	}
	if holder := eval[string](admin, `document.querySelector("#confirm-holders .holder").textContent`); holder != hostileHolder {
		t.Errorf("the confirmation lists %q, want %q", holder, hostileHolder)
	}
	// The name's right-to-left override stays in its own element: the
	// words after it (", whatever its key?") still come after it, instead
	// of reversed into it.
	if after := eval[bool](admin, `(() => {
		const name = document.getElementById("confirm-name"), text = name.nextSibling;
		const r = document.createRange();
		r.setStart(text, 0); r.setEnd(text, 1); // ","
		const comma = r.getBoundingClientRect(), boxes = name.getClientRects(), last = boxes[boxes.length - 1];
		// Right of the name's last line, or on a line below it (the name,
		// its U+202E shown as a box, may wrap).
		return r.toString() === "," && (comma.left >= last.right - 1 || comma.top >= last.bottom - 1);
	})()`); !after {
		t.Error("a right-to-left override in a lock's name reverses the confirmation's words after it")
	}
	admin.do("cancelling", chromedp.Click(chromedp.CSS(`#confirm button[value=cancel]`)))
	admin.waitFor("the dialog to close", `!document.getElementById("confirm").open`)
	json.Unmarshal([]byte(mustCall(t, "GET", lockURL(base, hostileName), "ci", "ci-pass", "")), &l)
	if l.State != "held" {
		t.Errorf("after cancelling, the hostile lock is %q, want held", l.State)
	}
	if n := eval[int](admin, `document.querySelectorAll("img, svg, iframe, object").length + document.querySelectorAll("script").length`); n != 1 {
		t.Errorf("the page has %d script/img/svg/iframe/object elements, want only its one script", n)
	}

	// A user who may not force is not offered the button.
	user := openTab(t, browser, "ci", "ci-pass")
	user.open(base)
	user.click("opening the hostile lock", rowJS(hostileName)+`.querySelector("button")`)
	user.waitFor("its detail", `document.getElementById("detail-title").textContent === `+js(hostileName))
	if eval[bool](user, `!document.getElementById("force").hidden`) {
		t.Error("Force release is offered to a user who may not force")
	}

	// The server goes down: the page says so; it comes back on the same
	// address: the page reconnects by itself and reloads.
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, s.Output())
	}
	admin.waitFor("the page to say disconnected",
		`document.getElementById("conn").dataset.state === "down" && document.getElementById("conn").textContent.includes("disconnected")`)
	addr := strings.TrimPrefix(base, "http://")
	s = startServer(t, append(env, "LOCKER_LISTEN="+addr))
	mustCall(t, "PUT", lockURL(base, "after-restart"), "ci", "ci-pass", `{"key":"k"}`)
	admin.waitFor("the page to reconnect", `document.getElementById("conn").dataset.state === "live"`)
	admin.waitFor("a lock taken after the restart to appear", rowJS("after-restart")+`?.dataset.state === "held"`)
	if !eval[bool](admin, `window.notReloaded === true`) {
		t.Error("the page reloaded to reconnect")
	}

	admin.checkProblems()
	user.checkProblems()
}

// At phone width the table becomes cards that fit the screen, long names
// and many holders wrap, and the filter works.
func TestDashboardPhoneWidth(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	long := strings.Repeat("very-long-lock-name-without-spaces-", 8) + "end"
	mustCall(t, "PUT", lockURL(s.URL, long), "", "", `{"key":"a-key-that-is-also-rather-long-for-a-phone-screen"}`)
	for i := range 12 {
		mustCall(t, "PUT", lockURL(s.URL, "staging"), "", "", jsonBody(map[string]string{"key": "qa", "lock_by": fmt.Sprintf("integration-tests-pipeline/job-%d/build-%d", i, 1000+i)}))
	}
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)

	phone := openTab(t, browser, "", "")
	phone.do("emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	phone.open(s.URL)
	type layout struct {
		ScrollWidth, Width, Widest int
		Display, Label             string
	}
	got := eval[layout](phone, `(() => ({
		ScrollWidth: document.documentElement.scrollWidth,
		Width: window.innerWidth,
		Widest: Math.ceil(Math.max(...[...document.querySelectorAll("#rows tr, #rows tr *")].map(e => e.getBoundingClientRect().right))),
		Display: getComputedStyle(document.querySelector("#rows tr")).display,
		Label: getComputedStyle(document.querySelector("#rows td"), "::before").content,
	}))()`)
	// A page too wide for a mobile viewport widens the viewport itself
	// (innerWidth grows with it): compare with the phone's 390px.
	if got.Width != 390 || got.ScrollWidth > 390 || got.Widest > 390 {
		t.Errorf("at 390px the viewport is %dpx, the page %dpx wide and its widest lock element ends at %dpx: it does not fit", got.Width, got.ScrollWidth, got.Widest)
	}
	if got.Display != "block" || got.Label != `"State"` {
		t.Errorf("at 390px a row is display %q with cell label %s, want cards (block) with labels", got.Display, got.Label)
	}
	if more := eval[string](phone, rowJS("staging")+`.querySelector(".more").textContent`); more != "and 8 more" {
		t.Errorf("12 holders show %q after the first 4, want %q", more, "and 8 more")
	}

	// The filter, by its label.
	if label := eval[string](phone, `document.querySelector("label[for=filter]").textContent`); label == "" {
		t.Error("the filter box has no label")
	}
	phone.do("filtering", chromedp.SendKeys(chromedp.ID("filter"), "job-7/"))
	phone.waitFor("only the lock with that holder to show", `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === "staging"`)
	phone.checkProblems()
}

// poolJS is an expression for a pool's card (or undefined).
func poolJS(name string) string {
	return `[...document.querySelectorAll("#pool-list li.pool")].find(p => p.dataset.pool === ` + js(name) + `)`
}

// poolCount is an expression for the free/total text of a pool's card.
func poolCount(name string) string {
	return poolJS(name) + `?.querySelector(".pool-count")?.textContent`
}

const hostilePool = `<b onmouseover=alert(6)>pool</b>`

// Pools in the dashboard: each pool with its free/total count and its
// members, kept live; a member opens its lock's detail, with the metadata
// pretty-printed as text.
func TestDashboardPools(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"})
	api := func(method, path, body string) {
		t.Helper()
		mustCall(t, method, s.URL+path, "ci", "ci-pass", body)
	}
	md1 := `{"host":"aws-1.example.com","ports":[22,443],"tags":{"tier":"gold"},"note":"<img src=x onerror=alert(5)>"}`
	api("PUT", "/pool/aws-envs/aws-1", `{"metadata":`+md1+`}`)
	api("PUT", "/pool/aws-envs/aws-2", `{"metadata":{"host":"aws-2.example.com"}}`)
	api("PUT", "/pool/aws-envs/aws-3", "")
	api("PUT", "/pool/aws-envs", `{"key":"smoke","lock_by":"smoke-tests/run-881"}`) // aws-1, free longest
	api("PUT", "/pool/"+url.PathEscape(hostilePool)+"/"+url.PathEscape(hostileName), jsonBody(map[string]any{"metadata": map[string]string{"k": hostileHolder}}))
	api("PUT", "/lock/plain-lock", `{"key":"k"}`)
	// A request waiting for a member of a pool whose only member is held.
	api("PUT", "/pool/solo/only", "")
	api("PUT", "/pool/solo", `{"key":"holder"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "PUT", s.URL+"/pool/solo?key=waiter&wait=10m", nil)
		req.SetBasicAuth("ci", "ci-pass")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(mustCall(t, "GET", s.URL+"/pool/solo", "ci", "ci-pass", ""), `"waiters":1`) {
		if time.Now().After(deadline) {
			t.Fatal("the pool waiter did not queue")
		}
		time.Sleep(20 * time.Millisecond)
	}

	admin := openTab(t, browser, "ops", "ops-pass")
	admin.open(s.URL)
	admin.waitFor("the pools to show", `!document.getElementById("pools").hidden && `+poolJS("aws-envs"))

	// Each pool: its name, free/total, its members (sorted, with state and
	// holder), its waiters.
	type card struct {
		Count, Free, Total string
		Members, States    []string
		Holder             string
	}
	got := eval[card](admin, `(() => { const p = `+poolJS("aws-envs")+`; const c = p.querySelector(".pool-count"); return {
		Count: c.textContent, Free: c.dataset.free, Total: c.dataset.total,
		Members: [...p.querySelectorAll("li.member")].map(m => m.dataset.name),
		States: [...p.querySelectorAll("li.member")].map(m => m.dataset.state + ":" + m.querySelector("button").textContent),
		Holder: p.querySelector("li.member[data-name='aws-1'] .member-holder")?.textContent || "",
	}; })()`)
	want := card{Count: "○2 of 3 free", Free: "2", Total: "3", Members: []string{"aws-1", "aws-2", "aws-3"},
		States: []string{"held:●aws-1, held", "free:○aws-2, free", "free:○aws-3, free"}, Holder: "smoke-tests/run-881"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the aws-envs card shows %+v, want %+v", got, want)
	}
	if names := eval[[]string](admin, `[...document.querySelectorAll("#pool-list li.pool")].map(p => p.querySelector(".pool-name").textContent)`); strings.Join(names, "|") != hostilePool+"|aws-envs|solo" {
		t.Errorf("pools shown in order %q", names)
	}
	if c := eval[string](admin, poolCount("solo")); c != "●0 of 1 free" {
		t.Errorf("the solo card counts %q", c)
	}
	if w := eval[string](admin, poolJS("solo")+`.querySelector(".pool-waiting")?.textContent || ""`); w != "1 waiting" {
		t.Errorf("the solo card shows waiters %q, want \"1 waiting\"", w)
	}
	if w := eval[int](admin, `document.querySelectorAll("#pool-list .pool-waiting").length`); w != 1 {
		t.Errorf("%d pools show waiters, want only solo", w)
	}
	// The hostile pool and member names are text.
	if name := eval[string](admin, poolJS(hostilePool)+`.querySelector("li.member").dataset.name`); name != hostileName {
		t.Errorf("the hostile member is named %q", name)
	}
	// The locks table says which pool each member is in.
	if in := eval[string](admin, rowJS("aws-2")+`.querySelector(".in-pools").textContent`); in != "pool aws-envs" {
		t.Errorf("the aws-2 row says %q", in)
	}
	if n := eval[int](admin, rowJS("plain-lock")+`.querySelectorAll(".in-pools").length`); n != 0 {
		t.Error("a lock in no pool shows a pool")
	}

	// Live: a member taken, added, removed, without a reload.
	eval[bool](admin, `window.notReloaded = true`)
	api("PUT", "/pool/aws-envs", `{"key":"deploy"}`) // aws-2
	admin.waitFor("the count to drop", poolCount("aws-envs")+` === "○1 of 3 free"`)
	api("PUT", "/pool/aws-envs/aws-4", `{"metadata":{"host":"aws-4.example.com"}}`)
	admin.waitFor("the new member to appear", poolCount("aws-envs")+` === "○2 of 4 free" && `+poolJS("aws-envs")+`.querySelector("li.member[data-name='aws-4']")`)
	api("DELETE", "/pool/aws-envs/aws-4", "")
	admin.waitFor("the removed member to go", poolCount("aws-envs")+` === "○1 of 3 free" && !`+poolJS("aws-envs")+`.querySelector("li.member[data-name='aws-4']")`)
	api("PUT", "/pool/aws-envs", `{"key":"qa"}`) // aws-3
	admin.waitFor("no member free", poolCount("aws-envs")+` === "●0 of 3 free"`)
	if !eval[bool](admin, `window.notReloaded === true`) {
		t.Fatal("the page reloaded to show pool changes")
	}

	// A member opens its lock's detail (keyboard too): pools, and the
	// metadata pretty-printed as text.
	admin.do("opening aws-1 with the keyboard", chromedp.Evaluate[chromedp.Void](`document.querySelector('#pool-list li.member[data-name="aws-1"] button').focus()`), chromedp.KeyEvent(kb.Enter))
	admin.waitFor("the detail of aws-1", `!document.getElementById("detail").hidden && document.getElementById("detail-title").textContent === "aws-1"`)
	admin.waitFor("the metadata", `!document.getElementById("detail-metadata-box").hidden`)
	if ok := eval[bool](admin, `document.getElementById("detail-metadata").textContent === JSON.stringify(JSON.parse(`+js(md1)+`), null, 2)`); !ok {
		t.Errorf("the metadata shows %q", eval[string](admin, `document.getElementById("detail-metadata").textContent`))
	}
	if lines := eval[int](admin, `document.getElementById("detail-metadata").textContent.split("\n").length`); lines < 10 {
		t.Errorf("the metadata is not pretty-printed: %d lines", lines)
	}
	if facts := eval[string](admin, `document.getElementById("detail-facts").textContent`); !strings.Contains(facts, "Poolsaws-envs") {
		t.Errorf("the facts do not name the pool: %q", facts)
	}
	if eval[bool](admin, `document.querySelector("#pool-list li.member[data-name='aws-1']").classList.contains("selected")`) != true {
		t.Error("the open member is not marked in its pool")
	}
	admin.waitFor("the added event in the history", `[...document.querySelectorAll("#history tr[data-type=added]")].some(r => r.innerText.includes("to pool aws-envs"))`)

	// Force release from the member's detail: the pool counts it free at
	// once.
	admin.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
	admin.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
	admin.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
	admin.waitFor("aws-1 to be free in its pool", poolCount("aws-envs")+` === "○1 of 3 free" && `+poolJS("aws-envs")+`.querySelector("li.member[data-name='aws-1']").dataset.state === "free"`)
	admin.waitFor("the free-since fact", `document.getElementById("detail-facts").textContent.includes("Free since")`)

	// A lock without metadata shows none.
	admin.click("opening plain-lock", rowJS("plain-lock")+`.querySelector("button")`)
	admin.waitFor("its detail, without metadata", `document.getElementById("detail-title").textContent === "plain-lock" && document.getElementById("detail-metadata-box").hidden`)

	// The hostile member: its metadata (with markup in it) is text.
	admin.click("opening the hostile member", poolJS(hostilePool)+`.querySelector("button")`)
	admin.waitFor("its metadata", `document.getElementById("detail-metadata").textContent.includes(`+js(hostileHolder)+`)`)
	if n := eval[int](admin, `document.querySelectorAll("img, svg, iframe, object, b").length + document.querySelectorAll("script").length`); n != 1 {
		t.Errorf("the page has %d script/img/svg/iframe/object/b elements, want only its one script", n)
	}

	// The filter finds pools by name and by member.
	admin.do("filtering by a member", chromedp.SendKeys(chromedp.ID("filter"), "aws-2"))
	admin.waitFor("only aws-envs and the aws-2 row", `[...document.querySelectorAll("#pool-list li.pool")].map(p => p.dataset.pool).join() === "aws-envs" && [...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === "aws-2"`)
	admin.do("filtering by a pool", chromedp.Evaluate[chromedp.Void](`document.getElementById("filter").value = ""`), chromedp.SendKeys(chromedp.ID("filter"), "solo"))
	admin.waitFor("the solo pool and its member", `[...document.querySelectorAll("#pool-list li.pool")].map(p => p.dataset.pool).join() === "solo" && [...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === "only"`)

	// At phone width, pools with long member and holder names fit.
	long := strings.Repeat("long-member-name-without-spaces-", 6) + "end"
	api("PUT", "/pool/aws-envs/"+long, "")
	api("PUT", "/lock/"+long, jsonBody(map[string]string{"key": "k", "lock_by": strings.Repeat("holder-", 20)}))
	phone := openTab(t, browser, "ops", "ops-pass")
	phone.do("emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	phone.open(s.URL)
	phone.waitFor("the long member", poolJS("aws-envs")+`?.querySelector("li.member[data-name='`+long+`']")`)
	type fit struct{ ScrollWidth, Width, Widest int }
	f := eval[fit](phone, `(() => ({
		ScrollWidth: document.documentElement.scrollWidth,
		Width: window.innerWidth,
		Widest: Math.ceil(Math.max(...[...document.querySelectorAll("#pool-list, #pool-list *")].map(e => e.getBoundingClientRect().right))),
	}))()`)
	// A page too wide for a mobile viewport widens the viewport itself:
	// compare with the phone's 390px.
	if f.Width != 390 || f.ScrollWidth > 390 || f.Widest > 390 {
		t.Errorf("at 390px the viewport is %dpx, the page %dpx wide and the widest pool element ends at %dpx: it does not fit", f.Width, f.ScrollWidth, f.Widest)
	}

	admin.checkProblems()
	phone.checkProblems()
}

// TestDashboardScreenshot takes the README's screenshot: a few realistic
// locks, one of them open in the detail panel.
func TestDashboardScreenshot(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"})
	put := func(name, query, body string) {
		mustCall(t, "PUT", lockURL(s.URL, name)+query, "ci", "ci-pass", body)
	}
	del := func(name, query, body string) {
		mustCall(t, "DELETE", lockURL(s.URL, name)+query, "ci", "ci-pass", body)
	}
	put("prod-deployments", "", `{"key":"deploy","lock_by":"deploy-prod/build-140"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "prod-deployments")+"?force=true", "ops", "ops-pass", "")
	put("prod-deployments", "", `{"key":"deploy","lock_by":"deploy-prod/build-141"}`)
	del("prod-deployments", "", `{"key":"deploy","lock_by":"deploy-prod/build-141"}`)
	put("prod-deployments", "?ttl=45m", `{"key":"deploy","lock_by":"deploy-prod/build-142"}`)
	put("staging-env", "", `{"key":"qa","lock_by":"smoke-tests/run-881"}`)
	put("staging-env", "", `{"key":"qa","lock_by":"integration-tests/run-302"}`)
	put("staging-env", "", `{"key":"qa","lock_by":"integration-tests/run-302"}`)
	put("bosh-director", "?ttl=2h", `{"key":"ops","lock_by":"upgrade-stemcells/build-9"}`)
	put("db-migrations", "", `{"key":"migrate","lock_by":"migrate-prod/build-57"}`)
	del("db-migrations", "", `{"key":"migrate","lock_by":"migrate-prod/build-57"}`)
	put("release-candidate", "", `{"key":"rc","lock_by":"cut-release/build-12"}`)
	del("release-candidate", "", `{"key":"rc","lock_by":"cut-release/build-12"}`)
	// A pool of test environments, two of three taken.
	for i, region := range []string{"eu-west-1", "us-east-1", "us-west-2"} {
		mustCall(t, "PUT", fmt.Sprintf("%s/pool/test-envs/env-%d", s.URL, i+1), "ci", "ci-pass",
			fmt.Sprintf(`{"metadata":{"api":"https://api.env-%d.example.com","region":%q}}`, i+1, region))
	}
	mustCall(t, "PUT", s.URL+"/pool/test-envs", "ci", "ci-pass", `{"key":"e2e","lock_by":"acceptance-tests/run-77"}`)
	mustCall(t, "PUT", s.URL+"/pool/test-envs", "ci", "ci-pass", `{"key":"soak","lock_by":"upgrade-tests/run-12"}`)

	// A deploy waiting for the production lock.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "PUT", lockURL(s.URL, "prod-deployments")+"?wait=10m", strings.NewReader(`{"key":"hotfix","lock_by":"hotfix-prod/build-17"}`))
		req.SetBasicAuth("ci", "ci-pass")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()

	admin := openTab(t, browser, "ops", "ops-pass")
	admin.do("sizing the window", chromedp.EmulateViewport(1440, 900))
	admin.open(s.URL)
	admin.waitFor("the waiter to show", rowJS("prod-deployments")+`?.querySelector("td.waiting")?.textContent === "1"`)
	admin.click("opening prod-deployments", rowJS("prod-deployments")+`.querySelector("button")`)
	admin.waitFor("its history", `document.querySelectorAll("#history tr[data-type]").length >= 5`)
	admin.do("moving the focus off the lock", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))

	shot, err := chromedp.Run(admin.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1440 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1440x900", b.Dx(), b.Dy())
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("LOCKER_UPDATE_SCREENSHOT") == "1" {
		out = filepath.Join("..", "docs", "dashboard.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot written to %s", out)
	admin.checkProblems()
}

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestDashboardCredentialsInURL opens the dashboard the way a bookmark or a
// link in a runbook can: with the basic-auth login in the URL
// (http://user:pass@host/). The page's own requests must still work:
// browsers refuse to fetch a URL that carries credentials, and a relative
// URL resolved against such a page's address carries them.
func TestDashboardCredentialsInURL(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=ci-pass"})
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "ci", "ci-pass", `{"key":"deploy"}`)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("ci", "ci-pass")

	tb := openTab(t, browser, "", "")
	tb.open(u.String())
	tb.waitFor("the held lock to show", rowJS("prod"))
	if who := eval[string](tb, `document.getElementById("who").textContent`); !strings.Contains(who, "ci") {
		t.Errorf("the header says %q, want the user ci", who)
	}
	tb.checkProblems()
}

// TestDashboardDotNames: a browser cannot address a lock named "." or ".."
// (it resolves "%2E" in a path as a dot segment, so lock/%2E/history is
// lock/history, another lock's). The page must say so and point to the
// CLI, offer no Force release that must fail, and never show or change
// another lock.
func TestDashboardDotNames(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", s.URL+"/lock/%2E", "", "", `{"key":"dot","lock_by":"dot-holder"}`)
	mustCall(t, "PUT", s.URL+"/lock/%2E%2E", "", "", `{"key":"dots"}`)
	mustCall(t, "PUT", lockURL(s.URL, "history"), "", "", `{"key":"other","lock_by":"other-holder"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	for _, name := range []string{".", ".."} {
		tb.click("opening "+name, rowJS(name)+`.querySelector("button")`)
		tb.waitFor(name+"'s detail", `document.getElementById("detail-title").textContent === `+js(name))
		tb.waitFor(name+"'s history to say why it cannot be shown", `document.querySelector("#history tr")?.innerText.includes("locker history")`)
		if other := eval[bool](tb, `document.getElementById("history").innerText.includes("other-holder")`); other {
			t.Errorf("the detail of %q shows the history of the lock named history", name)
		}
		// No Force release button that must fail: a word on the CLI.
		tb.waitFor("the detail to point to the CLI for forcing", `!document.getElementById("force-cli").hidden && document.getElementById("force-cli").textContent.includes("locker unlock '`+name+`' --force")`)
		if eval[bool](tb, `!document.getElementById("force").hidden`) {
			t.Errorf("Force release is offered on %q, which a browser cannot address", name)
		}
	}
	// Any other lock is forced from the page as usual.
	tb.click("opening history", rowJS("history")+`.querySelector("button")`)
	tb.waitFor("history's detail with Force release", `document.getElementById("detail-title").textContent === "history" && !document.getElementById("force").hidden`)
	if eval[bool](tb, `!document.getElementById("force-cli").hidden`) {
		t.Error("the detail of an ordinary lock points to the CLI for forcing")
	}
	for _, path := range []string{"/lock/%2E", "/lock/%2E%2E", "/lock/history"} {
		var l struct {
			State string `json:"state"`
		}
		json.Unmarshal([]byte(mustCall(t, "GET", s.URL+path, "", "", "")), &l)
		if l.State != "held" {
			t.Errorf("%s is %q after the page showed it, want held", path, l.State)
		}
	}
	tb.checkProblems()
}

// TestDashboardRebinding: a page of another site whose name leads to a
// server without credentials (DNS rebinding; here Chromium's own resolver
// rules make evil.test and locker.test lead to 127.0.0.1) shows the locks
// but cannot change them, and says what to set; a name the server lists in
// LOCKER_ALLOWED_HOSTS can.
func TestDashboardRebinding(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP evil.test 127.0.0.1, MAP locker.test 127.0.0.1"))
	for _, c := range []struct {
		name, env string
		allowed   bool
	}{{"evil.test", "", false}, {"locker.test", "LOCKER_ALLOWED_HOSTS=locker.test", true}} {
		var env []string
		if c.env != "" {
			env = append(env, c.env)
		}
		s := startServer(t, env)
		mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = c.name + ":" + u.Port()

		tb := openTab(t, browser, "", "")
		tb.open(u.String())
		tb.click("opening prod", rowJS("prod")+`.querySelector("button")`)
		tb.waitFor("prod's detail", `document.getElementById("detail-title").textContent === "prod"`)
		tb.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
		tb.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
		tb.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
		var l struct {
			State string `json:"state"`
		}
		if c.allowed {
			tb.waitFor("the result to show", `document.getElementById("detail-result").textContent.includes("force-released")`)
			json.Unmarshal([]byte(mustCall(t, "GET", lockURL(s.URL, "prod"), "", "", "")), &l)
			if l.State != "free" {
				t.Errorf("at %s, a name the server lists, the force release left prod %q", c.name, l.State)
			}
		} else {
			tb.waitFor("the result to say what to set", `document.getElementById("detail-result").textContent.includes("LOCKER_ALLOWED_HOSTS=evil.test")`)
			json.Unmarshal([]byte(mustCall(t, "GET", lockURL(s.URL, "prod"), "", "", "")), &l)
			if l.State != "held" {
				t.Errorf("a page at %s, reached by rebinding, left prod %q", c.name, l.State)
			}
		}
		tb.checkProblems()
	}
}

// dashLock is what the tests read back of a lock from the API.
type dashLock struct {
	State    string         `json:"state"`
	Key      string         `json:"key"`
	Fence    uint64         `json:"fence"`
	LockedBy map[string]int `json:"locked_by"`
}

func getDashLock(t *testing.T, base, name, user, pass string) dashLock {
	t.Helper()
	var l dashLock
	if err := json.Unmarshal([]byte(mustCall(t, "GET", lockURL(base, name), user, pass, "")), &l); err != nil {
		t.Fatalf("GET %s: %v", name, err)
	}
	return l
}

// TestDashboardForceStale: the force confirmation names holders; what it
// ends must be those holders, whatever happens while it is open. A holder
// that joins under the same key (the same fence) is named before the user
// confirms; a lock released and taken by another key meanwhile is left to
// its new holder, and the page says why nothing was forced.
func TestDashboardForceStale(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, []string{"AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"})
	api := func(method, name, body string) {
		t.Helper()
		mustCall(t, method, lockURL(s.URL, name), "ci", "ci-pass", body)
	}
	api("PUT", "prod", `{"key":"deploy","lock_by":"deploy/build-1"}`)

	admin := openTab(t, browser, "ops", "ops-pass")
	admin.open(s.URL)
	admin.click("opening prod", rowJS("prod")+`.querySelector("button")`)
	admin.waitFor("prod's detail", `document.getElementById("detail-title").textContent === "prod" && !document.getElementById("force").hidden`)
	admin.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
	admin.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
	holders := `[...document.querySelectorAll("#confirm-holders .holder")].map(h => h.textContent).join()`
	if got := eval[string](admin, holders); got != "deploy/build-1" {
		t.Errorf("the confirmation names %q, want deploy/build-1", got)
	}

	// Another job joins under the same key while the dialog is open: the
	// dialog names it before the user confirms.
	api("PUT", "prod", `{"key":"deploy","lock_by":"deploy/build-2"}`)
	admin.waitFor("the joining holder to be named in the open dialog", holders+` === "deploy/build-1,deploy/build-2" && document.getElementById("confirm").open`)

	// Both release, and another key takes the lock: the holds the dialog
	// named are gone. It says so, and confirming leaves the new holder.
	api("DELETE", "prod", `{"key":"deploy","lock_by":"deploy/build-1"}`)
	api("DELETE", "prod", `{"key":"deploy","lock_by":"deploy/build-2"}`)
	api("PUT", "prod", `{"key":"hotfix","lock_by":"hotfix/build-7"}`)
	taken := getDashLock(t, s.URL, "prod", "ci", "ci-pass")
	admin.waitFor("the dialog to say the lock was taken again", `document.getElementById("confirm-changed").textContent.includes("hotfix/build-7") && document.getElementById("confirm").open`)
	admin.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
	admin.waitFor("the page to say why nothing was forced", `document.getElementById("detail-result").textContent.includes("nothing was forced")`)
	result := eval[string](admin, `document.getElementById("detail-result").textContent`)
	if !strings.Contains(result, "taken again since fence") || strings.Contains(result, "force-released") {
		t.Errorf("after a refused force the page says %q", result)
	}
	if l := getDashLock(t, s.URL, "prod", "ci", "ci-pass"); l.State != "held" || l.Key != "hotfix" || l.LockedBy["hotfix/build-7"] != 1 || l.Fence != taken.Fence {
		t.Fatalf("confirming a dialog that named deploy's holders left prod %+v, want it held by hotfix/build-7 under fence %d", l, taken.Fence)
	}
	// The detail shows the lock as it is now.
	admin.waitFor("the detail to show the new holder", `document.querySelector("#holds .holder")?.textContent === "hotfix/build-7" && document.getElementById("detail-facts").textContent.includes("hotfix")`)
	admin.waitFor("the table to show the new holder", rowJS("prod")+`?.querySelector(".holder")?.textContent === "hotfix/build-7"`)

	// A dialog opened now names the new holder, and forces it.
	admin.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
	admin.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
	if got := eval[string](admin, holders); got != "hotfix/build-7" {
		t.Errorf("the new confirmation names %q, want hotfix/build-7", got)
	}
	if got := eval[string](admin, `document.getElementById("confirm-changed").textContent`); got != "" {
		t.Errorf("a new confirmation says %q", got)
	}
	admin.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
	admin.waitFor("the result to show", `document.getElementById("detail-result").textContent.includes("force-released")`)
	if l := getDashLock(t, s.URL, "prod", "ci", "ci-pass"); l.State != "free" {
		t.Errorf("after confirming, prod is %q, want free", l.State)
	}
	admin.checkProblems()
}

// TestDashboardPrototypeNames: names are whatever clients chose, including
// the names of Object.prototype's properties. A lock named toString is no
// member of every pool, and a lock named __proto__ is a lock like another.
func TestDashboardPrototypeNames(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", "")
	mustCall(t, "PUT", s.URL+"/pool/envs/env-2", "", "", "")
	for _, name := range []string{"toString", "__proto__"} {
		mustCall(t, "PUT", lockURL(s.URL, name), "", "", `{"key":"k","lock_by":"job-1"}`)
	}

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.waitFor("the pool", poolCount("envs")+` === "○2 of 2 free"`)
	tb.waitFor("both locks in the table", rowJS("toString")+` && `+rowJS("__proto__"))
	// Record every count and member list the pool card ever shows, and
	// every time the table loses a lock.
	tb.do("watching the pool", chromedp.Evaluate[chromedp.Void](`(() => {
		window.seen = [];
		const record = () => {
			const p = `+poolJS("envs")+`;
			window.seen.push((p?.querySelector(".pool-count")?.textContent || "") + " " + [...(p?.querySelectorAll("li.member") || [])].map(m => m.dataset.name).join());
			for (const n of ["toString", "__proto__"]) if (!`+`[...document.querySelectorAll("#rows tr")].some(r => r.dataset.name === n)) window.seen.push("no row " + n);
		};
		new MutationObserver(record).observe(document.getElementById("main"), { childList: true, subtree: true, characterData: true });
	})()`))

	// checkSeen fails the test for anything else the pool or the table
	// showed since the last check.
	checkSeen := func(after string) {
		t.Helper()
		tb.waitFor("the pool", poolCount("envs")+` === "○2 of 2 free"`)
		for _, seen := range eval[[]string](tb, `[...new Set(window.seen.splice(0))]`) {
			if seen != "○2 of 2 free env-1,env-2" {
				t.Errorf("%s the page showed %q, want the pool envs always \"○2 of 2 free\" with env-1 and env-2 only, and both locks in the table", after, seen)
			}
		}
	}
	// Changes by others, seen through the event stream.
	mustCall(t, "PUT", lockURL(s.URL, "toString"), "", "", `{"key":"k","lock_by":"job-2"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "toString"), "", "", `{"key":"k","lock_by":"job-2"}`)
	tb.waitFor("the change", rowJS("toString")+`?.querySelector(".holder")?.textContent === "job-1" && !`+rowJS("toString")+`.innerText.includes("job-2")`)
	checkSeen("after live changes of toString")

	// Force release from the page, which puts the answer in the page at
	// once; the last time with a holder joining while the dialog is open,
	// which the dialog reads at once too.
	for _, c := range []struct {
		name string
		join bool
	}{{"toString", false}, {"__proto__", false}, {"toString", true}} {
		if c.join {
			mustCall(t, "PUT", lockURL(s.URL, c.name), "", "", `{"key":"k","lock_by":"job-1"}`)
		}
		tb.click("opening "+c.name, rowJS(c.name)+`.querySelector("button")`)
		tb.waitFor(c.name+"'s detail", `document.getElementById("detail-title").textContent === `+js(c.name)+` && document.querySelector("#holds .holder")?.textContent === "job-1"`)
		tb.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
		tb.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
		if c.join {
			mustCall(t, "PUT", lockURL(s.URL, c.name), "", "", `{"key":"k","lock_by":"job-2"}`)
			tb.waitFor("the dialog to name the second holder", `document.getElementById("confirm-holders").textContent.includes("job-2")`)
		}
		tb.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
		tb.waitFor(c.name+" to be free", rowJS(c.name)+`?.dataset.state === "free" && document.getElementById("detail-result").textContent.includes("force-released")`)
		// A change elsewhere: one more reload.
		mustCall(t, "PUT", lockURL(s.URL, "after"), "", "", `{"key":"k"}`)
		mustCall(t, "DELETE", lockURL(s.URL, "after"), "", "", `{"key":"k"}`)
		tb.waitFor("the change elsewhere", rowJS("after")+`?.dataset.state === "free"`)
		checkSeen("after forcing " + c.name + " from the page,")
	}
	tb.checkProblems()
}

// TestDashboardManyLocks: what keeps a page with thousands of locks
// responsive, checked by what the page does rather than how fast. The
// filter redraws once typing pauses, not for every keystroke; a change
// rebuilds only the changed lock's row; a burst of changes costs a few
// reloads, not one each.
func TestDashboardManyLocks(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	const typed = "abcdefghij"
	for i := 1; i <= len(typed); i++ {
		mustCall(t, "PUT", lockURL(s.URL, typed[:i]+"-lock"), "", "", `{"key":"k"}`)
	}
	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.waitFor("every lock", fmt.Sprintf(`document.querySelectorAll("#rows tr[data-name]").length === %d`, len(typed)))

	// Typing: each keystroke narrows the rows, but the table is redrawn
	// once, after the last.
	tb.do("watching the table", chromedp.Evaluate[chromedp.Void](`(() => {
		window.redraws = 0;
		new MutationObserver(() => window.redraws++).observe(document.getElementById("rows"), { childList: true });
		window.keyTimes = [];
		document.getElementById("filter").addEventListener("input", () => window.keyTimes.push(performance.now()));
	})()`))
	tb.do("typing in the filter", chromedp.SendKeys(chromedp.ID("filter"), typed))
	tb.waitFor("only the last lock", `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === `+js(typed+"-lock"))
	// A loaded machine may pause between keystrokes for as long as the
	// page waits for typing to pause (150ms): each such pause may redraw.
	pauses := eval[int](tb, `window.keyTimes.filter((t, i) => i > 0 && t - window.keyTimes[i-1] >= 140).length`)
	if n := eval[int](tb, `window.redraws`); n > 3+pauses {
		t.Errorf("typing %d characters redrew the table %d times (keystrokes %d ms apart), want it once typing pauses", len(typed), n, eval[[]int](tb, `window.keyTimes.map((t, i) => i ? Math.round(t - window.keyTimes[i-1]) : 0)`))
	}
	tb.do("clearing the filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`))
	tb.waitFor("every lock again", fmt.Sprintf(`document.querySelectorAll("#rows tr[data-name]").length === %d`, len(typed)))

	// A change to one lock keeps the other rows as they are.
	tb.do("marking a row", chromedp.Evaluate[chromedp.Void](rowJS("a-lock")+`.kept = true`))
	mustCall(t, "PUT", lockURL(s.URL, "ab-lock"), "", "", `{"key":"k","lock_by":"second"}`)
	tb.waitFor("the change", rowJS("ab-lock")+`?.innerText.includes("second")`)
	if !eval[bool](tb, rowJS("a-lock")+`.kept === true`) {
		t.Error("a change to one lock rebuilt the row of another")
	}

	// A burst of 200 changes: far fewer reloads of the locks than changes.
	tb.do("counting reloads", chromedp.Evaluate[chromedp.Void](`(() => {
		window.locksFetches = 0;
		const f = window.fetch;
		window.fetch = function (u, ...rest) {
			if (new URL(String(u), document.baseURI).pathname === "/locks") window.locksFetches++;
			return f.call(this, u, ...rest);
		};
	})()`))
	for i := range 200 {
		mustCall(t, "PUT", lockURL(s.URL, fmt.Sprintf("burst-%d", i)), "", "", `{"key":"k"}`)
	}
	tb.waitFor("the burst's last change", rowJS("burst-199"))
	n := eval[int](tb, `window.locksFetches`)
	t.Logf("200 changes, %d reloads of the locks", n)
	if n == 0 || n > 20 {
		t.Errorf("200 changes made the page read the locks %d times, want a few", n)
	}

	// Rows far below the screen are not laid out (content-visibility):
	// laying out 10,000 rows froze the page for seconds. Their contents are
	// still there, to find and to read.
	type shown struct{ First, Last bool }
	visible := `{contentVisibilityAuto: true}`
	got := eval[shown](tb, `({
		First: document.querySelector("#rows tr button.lock-link").checkVisibility(`+visible+`),
		Last: `+rowJS("burst-199")+`.querySelector("button.lock-link").checkVisibility(`+visible+`),
	})`)
	if !got.First || got.Last {
		t.Errorf("the first row's contents are rendered: %v, the last row's (far below the screen): %v; want only the first", got.First, got.Last)
	}
	if name := eval[string](tb, rowJS("burst-199")+`.querySelector("button.lock-link").textContent`); name != "burst-199" {
		t.Errorf("the last row's name reads %q", name)
	}
	tb.checkProblems()
}

// answerLogins makes the tab answer the server's basic-auth challenges (a
// 401 with WWW-Authenticate) with user and pass, as a person typing them
// into the browser's login prompt would, through the DevTools protocol's
// Fetch domain. It returns the number of challenges answered so far.
func (tb *tab) answerLogins(user, pass string) func() int {
	tb.t.Helper()
	var mu sync.Mutex
	n := 0
	paused := chromedp.Events(tb.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	challenges := chromedp.Events(tb.ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range challenges {
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			chromedp.Call(tb.ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: &fetch.AuthChallengeResponse{
				Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: pass,
			}})
		}
	}()
	yes := true
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes, Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		tb.t.Fatalf("enabling the Fetch domain: %v", err)
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestDashboardSignIn: with only LOCKER_ADMIN_USER set, reads are open and
// nothing asks the browser for a login, so it never sends the admin's, not
// even when the page's address carries it. The page offers "Sign in", which
// leads to a route that asks (a real 401 challenge, answered here as a
// person would answer the browser's prompt) and comes back; then the admin
// gets Force release, as the README promises.
func TestDashboardSignIn(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	s := startServer(t, []string{"LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"})
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy","lock_by":"deploy/build-1"}`)
	mustCall(t, "PUT", lockURL(s.URL, "staging"), "", "", `{"key":"qa","lock_by":"qa/build-2"}`)

	signIn := func(t *testing.T, tb *tab, base, name string) {
		t.Helper()
		tb.open(base)
		tb.waitFor("the Sign in link", `document.getElementById("signin")`)
		if who := eval[string](tb, `document.getElementById("who").textContent`); who != "Sign in" {
			t.Errorf("before signing in the header says %q, want only the Sign in link", who)
		}
		tb.click("opening "+name, rowJS(name)+`.querySelector("button")`)
		tb.waitFor(name+"'s detail", `document.getElementById("detail-title").textContent === `+js(name))
		if eval[bool](tb, `!document.getElementById("force").hidden`) {
			t.Errorf("Force release is offered before signing in")
		}
		tb.click("clicking Sign in", `document.getElementById("signin")`)
		tb.waitAcrossNavigation("the page to come back signed in as ops", `document.getElementById("who")?.textContent === "signed in as ops (may force release)" && document.getElementById("conn").dataset.state === "live"`)
		if eval[bool](tb, `!!document.getElementById("signin")`) {
			t.Error("the Sign in link is still offered to the admin")
		}
		tb.click("opening "+name, rowJS(name)+`.querySelector("button")`)
		tb.waitFor(name+"'s detail with Force release", `document.getElementById("detail-title").textContent === `+js(name)+` && !document.getElementById("force").hidden`)
		tb.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
		tb.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
		tb.do("confirming", chromedp.Click(chromedp.ID("confirm-force")))
		tb.waitFor("the result to show", `document.getElementById("detail-result").textContent.includes("force-released")`)
		tb.waitFor("the forced release by ops in the history", `document.querySelector("#history tr")?.dataset.type === "forced" && document.querySelector("#history tr").innerText.includes("ops")`)
		if l := getDashLock(t, s.URL, name, "", ""); l.State != "free" {
			t.Errorf("after the admin forced %s from the page, the server says %q", name, l.State)
		}
		tb.checkProblems()
	}

	// Each way in its own browser: a browser keeps a login it was given for
	// the whole origin.
	// The login typed into the browser's prompt.
	t.Run("prompt", func(t *testing.T) {
		tb := openTab(t, newBrowser(t), "", "")
		challenges := tb.answerLogins("ops", "ops-pass")
		signIn(t, tb, s.URL, "prod")
		if n := challenges(); n == 0 {
			t.Error("signed in without a 401 challenge: the test did not drive the real sign-in")
		}
	})

	// The login in the page's address: Chromium does not send it with the
	// page's requests (the header said "Sign in"), but gives it when asked.
	t.Run("address", func(t *testing.T) {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("ops", "ops-pass")
		signIn(t, openTab(t, newBrowser(t), "", ""), u.String(), "staging")
	})
}

// failRequests makes the tab's requests whose URL matches one of patterns
// (Fetch domain wildcards) fail as if the server could not be reached,
// while fail(url) says so; the others go through.
func (tb *tab) failRequests(fail func(url string) bool, patterns ...string) {
	tb.t.Helper()
	paused := chromedp.Events(tb.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if fail(ev.Request.URL) {
				chromedp.Call(tb.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionRefused})
			} else {
				chromedp.Call(tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}
		}
	}()
	var ps []*fetch.RequestPattern
	for _, p := range patterns {
		ps = append(ps, &fetch.RequestPattern{URLPattern: p})
	}
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: ps}); err != nil {
		tb.t.Fatalf("enabling the Fetch domain: %v", err)
	}
}

// TestDashboardWhoamiFailedAtLoad: a page that opened while the server was
// restarting could not read who the user is. Once the server answers again
// and the event stream reopens, the page asks again: the admin gets Force
// release without reloading the page.
func TestDashboardWhoamiFailedAtLoad(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	env := []string{"LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml"), "AUTH_USER=ci", "AUTH_PASS=ci-pass", "LOCKER_ADMIN_USER=ops", "LOCKER_ADMIN_PASS=ops-pass"}
	s := startServer(t, env)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "ci", "ci-pass", `{"key":"deploy"}`)

	admin := openTab(t, browser, "ops", "ops-pass")
	var mu sync.Mutex
	down := true
	admin.failRequests(func(string) bool {
		mu.Lock()
		defer mu.Unlock()
		return down
	}, "*/whoami")
	admin.open(s.URL)
	admin.click("opening prod", rowJS("prod")+`.querySelector("button")`)
	admin.waitFor("prod's detail", `document.getElementById("detail-title").textContent === "prod"`)
	if eval[bool](admin, `!document.getElementById("force").hidden || document.getElementById("who").textContent !== ""`) {
		t.Fatal("the page knows who the user is although /whoami failed: the test does not test what it says")
	}
	eval[bool](admin, `window.notReloaded = true`)

	// The server restarts, and answers /whoami again.
	mu.Lock()
	down = false
	mu.Unlock()
	if err := s.Stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, s.Output())
	}
	admin.waitFor("the page to say disconnected", `document.getElementById("conn").dataset.state === "down"`)
	startServer(t, append(env, "LOCKER_LISTEN="+strings.TrimPrefix(s.URL, "http://")))
	admin.waitFor("the page to reconnect", `document.getElementById("conn").dataset.state === "live"`)
	admin.waitFor("Force release to be offered to the admin", `!document.getElementById("force").hidden && document.getElementById("who").textContent === "signed in as ops (may force release)"`)
	if !eval[bool](admin, `window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
	admin.checkProblems()
}

// TestDashboardLocksFailedAtLoad: when the locks cannot be read as the page
// opens (the server is going down), the page says so above the table, and
// the table does not claim to be loading still; the next change read
// brings the locks.
func TestDashboardLocksFailedAtLoad(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)

	tb := openTab(t, browser, "", "")
	var mu sync.Mutex
	down := true
	tb.failRequests(func(string) bool {
		mu.Lock()
		defer mu.Unlock()
		return down
	}, "*/locks")
	tb.do("opening the dashboard", chromedp.Navigate(s.URL+"/"))
	tb.waitFor("the page to say the locks could not be loaded", `document.getElementById("notice").textContent.startsWith("Could not load the locks")`)
	if rows := eval[string](tb, `document.getElementById("rows").textContent`); rows != "The locks could not be loaded." {
		t.Errorf("beneath the error, the table says %q", rows)
	}

	mu.Lock()
	down = false
	mu.Unlock()
	mustCall(t, "PUT", lockURL(s.URL, "staging"), "", "", `{"key":"qa"}`)
	tb.waitFor("the locks after the next change", rowJS("prod")+` && `+rowJS("staging")+` && document.getElementById("notice").textContent === ""`)
	tb.checkProblems()
}

// TestDashboardDetailOpenFits: at 1280px with the detail panel open, the
// table's columns leave every heading and an ordinary key whole: "LEASE
// EXPIRE S" and "deplo y-key" were broken inside words.
func TestDashboardDetailOpenFits(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod-deployments")+"?ttl=1h", "", "", `{"key":"deploy-key","lock_by":"deploy-prod/build-142"}`)

	tb := openTab(t, browser, "", "")
	tb.do("sizing the window", chromedp.EmulateViewport(1280, 800))
	tb.open(s.URL)
	tb.click("opening prod-deployments", rowJS("prod-deployments")+`.querySelector("button")`)
	tb.waitFor("the detail beside the table", `!document.getElementById("detail").hidden && document.getElementById("detail").getBoundingClientRect().left > document.getElementById("locks").getBoundingClientRect().right`)
	// A word broken across lines has more than one box.
	broken := eval[[]string](tb, `(() => {
		const out = [];
		const words = (node) => {
			const r = document.createRange();
			for (const m of node.textContent.matchAll(/\S+/g)) {
				r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
				if (r.getClientRects().length > 1) out.push(m[0]);
			}
		};
		// Every word of every heading (some are sort buttons: the text is theirs).
		for (const th of document.querySelectorAll("#locks thead th")) {
			const w = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
			for (let n; (n = w.nextNode()); ) words(n);
		}
		const key = `+rowJS("prod-deployments")+`.querySelector("code.key");
		if (key.getClientRects().length > 1) out.push(key.textContent);
		return out;
	})()`)
	if len(broken) > 0 {
		t.Errorf("with the detail panel open at 1280px, these are broken across lines: %q", broken)
	}
	if over := eval[bool](tb, `(() => { const w = document.querySelector(".table-wrap"); return w.scrollWidth > w.clientWidth; })()`); over {
		t.Error("the table is wider than its box: it scrolls sideways")
	}

	// The open lock's row is highlighted from edge to edge: cells that skip
	// painting off screen (content-visibility) showed hairline gaps between
	// their backgrounds. Look along a line through the row's top padding.
	type box struct{ Left, Right, Top float64 }
	row := eval[box](tb, `(() => { const r = `+rowJS("prod-deployments")+`.getBoundingClientRect(); return {Left: r.left, Right: r.right, Top: r.top}; })()`)
	tb.do("moving the focus off the page", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	shot, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	y := int(row.Top) + 4
	var off []int
	for x := int(row.Left) + 2; x < int(row.Right)-2; x++ {
		r, g, b, _ := img.At(x, y).RGBA()
		if r>>8 != 0xf0 || g>>8 != 0xf6 || b>>8 != 0xff {
			off = append(off, x)
		}
	}
	if len(off) > 0 {
		t.Errorf("the selected row's background (#f0f6ff) has gaps at x = %v (y = %d)", off, y)
	}
	tb.checkProblems()
}

// TestDashboardRenderCost measures, without judging, what the first render
// of many locks costs the page: it only runs when LOCKER_MEASURE_DASHBOARD
// is set, and logs the numbers. Against a server of its own with 10,000
// locks (a third free), or against LOCKER_MEASURE_URL (already seeded, so
// that two builds can be compared on the same data):
//
//	LOCKER_MEASURE_DASHBOARD=1 go test ./e2e -run TestDashboardRenderCost -v
//
// Each run is a fresh browser at 1280x800. "freeze" is the longest frame
// the page took (long-animation-frame), "script" and "render" its parts.
func TestDashboardRenderCost(t *testing.T) {
	if os.Getenv("LOCKER_MEASURE_DASHBOARD") == "" {
		t.Skip("a measurement, not a test: set LOCKER_MEASURE_DASHBOARD=1 to run it")
	}
	const n = 10000
	base := os.Getenv("LOCKER_MEASURE_URL")
	if base == "" {
		base = startServer(t, nil).URL
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range next {
					body := fmt.Sprintf(`{"key":"key-%d","lock_by":"pipeline-%d/job/build-%d"}`, i%37, i%101, i)
					name := fmt.Sprintf("lock-%05d", i)
					methods := []string{"PUT"}
					if i%3 == 0 {
						methods = append(methods, "DELETE") // a third free
					}
					for _, method := range methods {
						if st, _, b, err := tryCall(nil, method, lockURL(base, name), "", "", body); err != nil || st != http.StatusOK {
							t.Errorf("%s %s: %d %s %v", method, name, st, b, err)
						}
					}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	for run := range 3 {
		tb := openTab(t, newBrowser(t), "", "")
		if _, err := chromedp.Call(tb.ctx, performance.Enable, performance.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			window.frames_ = [];
			new PerformanceObserver(l => { for (const e of l.getEntries()) window.frames_.push({d: e.duration, script: e.renderStart - e.startTime, render: e.startTime + e.duration - e.renderStart}); })
				.observe({ type: "long-animation-frame", buffered: true });`}); err != nil {
			t.Fatal(err)
		}
		// The page may stay frozen for longer than eval waits: each look
		// at it may take minutes.
		look := func(expr string, v any) {
			t.Helper()
			ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Minute)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void]("(async () => { window.result_ = await ("+expr+"); })()", chromedp.EvalAwaitPromise)); err != nil {
				t.Fatalf("evaluating %s: %v", expr, err)
			}
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.result_)`))
			if err != nil {
				t.Fatalf("evaluating %s: %v", expr, err)
			}
			if err := json.Unmarshal([]byte(raw), v); err != nil {
				t.Fatalf("evaluating %s: %v", expr, err)
			}
		}
		start := time.Now()
		tb.do("opening the dashboard", chromedp.Navigate(base+"/"))
		var ok bool
		look(`new Promise(done => { const check = () => document.querySelectorAll("#rows tr[data-name]").length >= `+strconv.Itoa(n)+`
			? requestAnimationFrame(() => requestAnimationFrame(() => done(true))) : setTimeout(check, 20); check(); })`, &ok)
		shown := time.Since(start)
		// The longest frame's entry comes a little after the frame.
		type frame struct{ D, Script, Render float64 }
		var worst frame
		look(`new Promise(done => { const t0 = performance.now(); const check = () => (window.frames_.some(f => f.d > 200) || performance.now() - t0 > 10000)
			? done(window.frames_.reduce((a, f) => f.d > a.D ? {D: f.d, Script: f.script, Render: f.render} : a, {D: 0, Script: 0, Render: 0})) : setTimeout(check, 50); check(); })`, &worst)
		m, err := chromedp.Call(tb.ctx, performance.GetMetrics, cdp.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, x := range m.Metrics {
			got[x.Name] = x.Value
		}
		t.Logf("run %d: all rows shown after %.2fs; freeze %.2fs (script %.2fs, render %.2fs); in all: layout %.2fs, style %.2fs, tasks %.2fs",
			run+1, shown.Seconds(), worst.D/1000, worst.Script/1000, worst.Render/1000, got["LayoutDuration"], got["RecalcStyleDuration"], got["TaskDuration"])
	}
}

// connJS is an expression for a tab's connection indicator: its state
// (live, down, connecting) and whether the tab holds the event stream
// itself ("own") or hears it from another tab ("relayed").
const connJS = `({State: document.getElementById("conn").dataset.state, Stream: document.getElementById("conn").dataset.stream || ""})`

type connView struct{ State, Stream string }

// TestDashboardManyTabs: a browser gives a server six HTTP/1.1 connections,
// and an event stream holds one for good. With a stream per tab, six tabs
// used them all: each went stale while saying "live" (its reloads had no
// connection left) and a seventh never loaded. One tab holds the stream and
// relays it to the others; when it closes, another takes over, and every
// tab's indicator tells the truth. Where the page is a secure context
// (127.0.0.1) the tabs elect the holder with the Web Locks API; at a host
// name over plain HTTP (locker.test, mapped to 127.0.0.1) there is none, and
// they elect one among themselves over the BroadcastChannel.
func TestDashboardManyTabs(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	for _, c := range []struct {
		name, host string
		locks      bool
	}{
		{"web locks", "127.0.0.1", true},
		{"plain http host", "locker.test", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each its own browser and server; mostly waiting
			browser := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP locker.test 127.0.0.1"))
			env := []string{"LOCKER_CONFIG=" + filepath.Join(t.TempDir(), "locks.yml")}
			s := startServer(t, env)
			base := strings.Replace(s.URL, "127.0.0.1", c.host, 1)
			mustCall(t, "PUT", lockURL(s.URL, "before"), "", "", `{"key":"k"}`)

			tabs := make([]*tab, 8)
			for i := range tabs {
				tabs[i] = openTab(t, browser, "", "")
				tabs[i].open(base)
				tabs[i].waitFor("the lock taken before", rowJS("before"))
			}
			if got := eval[bool](tabs[0], `isSecureContext && !!navigator.locks`); got != c.locks {
				t.Fatalf("Web Locks available: %v, want %v: the test does not test what it says", got, c.locks)
			}
			// Exactly one tab holds the stream, and every tab says live.
			holder := func(tabs []*tab) int {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for {
					own, views := -1, []connView{}
					n := 0
					for i, tb := range tabs {
						v := eval[connView](tb, connJS)
						views = append(views, v)
						if v.Stream == "own" {
							own = i
							n++
						}
					}
					if n == 1 {
						return own
					}
					if time.Now().After(deadline) {
						t.Fatalf("after 15s, %d tabs hold an event stream, want one: %+v", n, views)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			everyTab := func(tabs []*tab, what, cond string) {
				t.Helper()
				for _, tb := range tabs {
					tb.waitFor(what, cond)
				}
			}
			lead := holder(tabs)

			// A change shows in every tab.
			mustCall(t, "PUT", lockURL(s.URL, "first-change"), "", "", `{"key":"k","lock_by":"one"}`)
			everyTab(tabs, "the first change", rowJS("first-change")+`?.dataset.state === "held"`)
			everyTab(tabs, "live", `document.getElementById("conn").dataset.state === "live"`)

			// The holder closes: another tab takes over, and changes still
			// show everywhere.
			if err := chromedp.Cancel(tabs[lead].ctx); err != nil {
				t.Fatalf("closing the tab that holds the stream: %v", err)
			}
			tabs[lead].checkProblems()
			tabs = append(tabs[:lead], tabs[lead+1:]...)
			holder(tabs)
			mustCall(t, "DELETE", lockURL(s.URL, "first-change"), "", "", `{"key":"k","lock_by":"one"}`)
			mustCall(t, "PUT", lockURL(s.URL, "after-close"), "", "", `{"key":"k"}`)
			everyTab(tabs, "the changes after the holder closed", rowJS("first-change")+`?.dataset.state === "free" && `+rowJS("after-close")+`?.dataset.state === "held"`)

			// The holder stops answering (its script paused in the debugger,
			// as a hung tab's would be). With Web Locks it keeps the lock, and
			// the others say they are not live; without, another takes over.
			// Resumed, it answers again: one tab holds the stream.
			lead = holder(tabs)
			hung := tabs[lead]
			if _, err := chromedp.Call(hung.ctx, debugger.Enable, debugger.EnableParams{}); err != nil {
				t.Fatalf("enabling the debugger: %v", err)
			}
			if _, err := chromedp.Call(hung.ctx, debugger.Pause, cdp.Empty{}); err != nil {
				t.Fatalf("pausing the holder's script: %v", err)
			}
			others := append(append([]*tab{}, tabs[:lead]...), tabs[lead+1:]...)
			if c.locks {
				everyTab(others, "connecting, the holder being silent", `document.getElementById("conn").dataset.state === "connecting"`)
			} else {
				holder(others)
				mustCall(t, "PUT", lockURL(s.URL, "while-frozen"), "", "", `{"key":"k"}`)
				everyTab(others, "a change while the holder was paused", rowJS("while-frozen")+`?.dataset.state === "held"`)
			}
			if _, err := chromedp.Call(hung.ctx, debugger.Resume, debugger.ResumeParams{}); err != nil {
				t.Fatalf("resuming the holder's script: %v", err)
			}
			holder(tabs)
			mustCall(t, "PUT", lockURL(s.URL, "after-thaw"), "", "", `{"key":"k"}`)
			everyTab(tabs, "live, with a change after the thaw", `document.getElementById("conn").dataset.state === "live" && `+rowJS("after-thaw")+`?.dataset.state === "held"`)

			// The server goes: every tab says so, not only the holder; it
			// comes back: every tab says live again and catches up.
			if err := s.Stop(); err != nil {
				t.Fatalf("stopping the server: %v\n%s", err, s.Output())
			}
			everyTab(tabs, "disconnected", `document.getElementById("conn").dataset.state === "down" && document.getElementById("conn").textContent.includes("disconnected")`)
			s = startServer(t, append(env, "LOCKER_LISTEN="+strings.TrimPrefix(s.URL, "http://")))
			mustCall(t, "PUT", lockURL(s.URL, "after-restart"), "", "", `{"key":"k"}`)
			everyTab(tabs, "live again, with the lock taken while it was down", `document.getElementById("conn").dataset.state === "live" && `+rowJS("after-restart")+`?.dataset.state === "held"`)
			holder(tabs)
			for _, tb := range tabs {
				tb.checkProblems()
			}
		})
	}
}

// TestDashboardWithoutBroadcastChannel: a browser without BroadcastChannel
// cannot share a stream between tabs: each tab holds its own, as before.
func TestDashboardWithoutBroadcastChannel(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	var tabs []*tab
	for range 2 {
		tb := openTab(t, browser, "", "")
		if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.BroadcastChannel;`}); err != nil {
			t.Fatal(err)
		}
		tb.open(s.URL)
		tabs = append(tabs, tb)
	}
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"k"}`)
	for i, tb := range tabs {
		tb.waitFor("the change", rowJS("prod")+`?.dataset.state === "held"`)
		if v := eval[connView](tb, connJS); v != (connView{State: "live", Stream: "own"}) {
			t.Errorf("tab %d: %+v, want live on a stream of its own", i+1, v)
		}
		tb.checkProblems()
	}
}

// TestDashboardWaiters: waiting for a lock or a pool member, and giving up,
// send no event, and the page reloaded only on events: a waiter never
// showed, and one that had shown stayed after it gave up. While the page is
// visible it reads the locks again every few seconds.
func TestDashboardWaiters(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "wq"), "", "", `{"key":"holder"}`)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", `{}`)
	mustCall(t, "PUT", s.URL+"/pool/envs", "", "", `{"key":"first"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.waitFor("the pool, all held", poolCount("envs")+` === "●0 of 1 free"`)
	if v := eval[string](tb, `document.visibilityState`); v != "visible" {
		t.Fatalf("the tab is %s: the test needs a visible page", v)
	}

	// A waiter for a member of the pool, then one for the lock, for 12 s
	// each; then they give up.
	var wg sync.WaitGroup
	wait := func(path, body string) {
		wg.Go(func() {
			if st, _, b, err := tryCall(nil, "PUT", s.URL+path, "", "", body); err != nil || st == http.StatusOK {
				t.Errorf("PUT %s: %d %s %v, want it to give up", path, st, b, err)
			}
		})
	}
	waiters := rowJS("wq") + `?.querySelector("td[data-label=Waiters]").textContent`
	poolWaiting := poolJS("envs") + `?.querySelector(".pool-waiting")?.textContent`
	wait("/pool/envs", `{"key":"second","wait":"12s"}`)
	tb.waitFor("the pool's waiter to show", poolWaiting+` === "1 waiting"`)
	wait("/lock/wq?key=other&wait=12s", "")
	tb.waitFor("the lock's waiter to show", waiters+` === "1"`)
	wg.Wait()
	tb.waitFor("the lock's waiter to go", waiters+` === "0"`)
	tb.waitFor("the pool's waiter to go", poolWaiting+` === undefined`)
	tb.checkProblems()
}

// readsJS defines, in the page, readsLTR(el, word): whether word, found in
// el's text, is laid out left to right (each character right of the one
// before it on the same line; null if not found), and edgeSpaces(el): the widths of el's first
// and last characters when they are spaces, and whether they are tinted.
const readsJS = `
window.readsLTR = (el, word) => {
	const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
	for (let n; (n = w.nextNode()); ) {
		const i = n.data.indexOf(word);
		if (i < 0) continue;
		const r = document.createRange(), boxes = [];
		for (let j = i; j < i + word.length; j++) {
			r.setStart(n, j); r.setEnd(n, j + 1);
			boxes.push(r.getBoundingClientRect());
		}
		// Each character on the same line as the one before is right of it.
		let pairs = 0;
		for (let j = 1; j < boxes.length; j++) {
			const a = boxes[j - 1], b = boxes[j];
			if (a.top >= b.bottom || b.top >= a.bottom) continue; // a new line
			pairs++;
			if (!(a.left < b.left)) return false;
		}
		return pairs > 0 ? true : null;
	}
	return null;
};
window.edgeSpaces = (el) => {
	const nodes = [], w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
	for (let n; (n = w.nextNode()); ) if (n.data) nodes.push(n);
	const box = (n, i) => {
		const r = document.createRange();
		r.setStart(n, i); r.setEnd(n, i + 1);
		return {Width: r.getBoundingClientRect().width, Tinted: getComputedStyle(n.parentElement).backgroundColor !== "rgba(0, 0, 0, 0)"};
	};
	const first = nodes[0], last = nodes[nodes.length - 1];
	return {First: box(first, 0), Last: box(last, last.data.length - 1)};
};
window.boxed = (el, code) => [...el.querySelectorAll("*")].some((e) => getComputedStyle(e, "::before").content === JSON.stringify(code));
true`

// TestDashboardInvisibleCharacters: names are anyone's text. A lock named
// U+202E (right-to-left override) + "evil-rtl" showed as "ltr-live", and
// " sp " as "sp". Such characters show as their codes, with no effect on the
// rest; spaces at either end show; the filter still finds the locks.
func TestDashboardInvisibleCharacters(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	const rtl, holder, sp, member, pool = "\u202eevil-rtl", "\u202eholder-rtl", " sp ", "\u202emember-rtl", "\u202epool-rtl"
	mustCall(t, "PUT", lockURL(s.URL, rtl), "", "", jsonBody(map[string]string{"key": " k ", "lock_by": holder}))
	mustCall(t, "PUT", lockURL(s.URL, sp), "", "", `{"key":"k"}`)
	mustCall(t, "PUT", s.URL+"/pool/"+url.PathEscape(pool)+"/"+url.PathEscape(member), "", "", `{}`)
	// Characters that show nothing, each in a name that would otherwise
	// read "deploy".
	hidden := []string{"\u00ad", "\u034f", "\u115f", "\u17b4", "\u180e", "\u200c", "\u200d", "\u3164", "\ufe0f", "\uffa0", "\u2800", "\U000e0041", "\U0001d173", "\ufff9"}
	for _, c := range hidden {
		mustCall(t, "PUT", lockURL(s.URL, "deploy"+c), "", "", `{"key":"k"}`)
	}

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.waitFor("the pool", poolJS(pool))
	eval[bool](tb, readsJS)
	for _, c := range hidden {
		code := fmt.Sprintf("U+%04X", []rune(c)[0])
		if !eval[bool](tb, `boxed(`+rowJS("deploy"+c)+`.querySelector("button.lock-link"), `+js(code)+`)`) {
			t.Errorf("the lock \"deploy\"+%s shows no box for it", code)
		}
	}
	type reads struct{ Name, Holder, Pool, Member, Boxed bool }
	got := eval[reads](tb, `(() => { const tr = `+rowJS(rtl)+`, p = `+poolJS(pool)+`; return {
		Name: readsLTR(tr.querySelector("button.lock-link"), "evil-rtl"),
		Holder: readsLTR(tr.querySelector(".holder"), "holder-rtl"),
		Pool: readsLTR(p.querySelector(".pool-name"), "pool-rtl"),
		Member: readsLTR(p.querySelector(".member-name"), "member-rtl"),
		Boxed: boxed(tr.querySelector("button.lock-link"), "U+202E"),
	}; })()`)
	if got != (reads{true, true, true, true, true}) {
		t.Errorf("read left to right (name, holder, pool, member), U+202E shown: %+v, want all true", got)
	}
	// textContent is still the name itself.
	if name := eval[string](tb, rowJS(rtl)+`.querySelector("button.lock-link").textContent`); name != rtl {
		t.Errorf("the button's text is %q, want %q", name, rtl)
	}

	type box struct {
		Width  float64
		Tinted bool
	}
	type edges struct{ First, Last box }
	visible := func(what, expr string) {
		t.Helper()
		e := eval[edges](tb, `edgeSpaces(`+expr+`)`)
		if e.First.Width <= 0 || e.Last.Width <= 0 || !e.First.Tinted || !e.Last.Tinted {
			t.Errorf("%s: the spaces at its ends are %+v, want them shown (wider than nothing) and tinted", what, e)
		}
	}
	visible("the lock \" sp \"", rowJS(sp)+`.querySelector("button.lock-link")`)
	visible("the key \" k \"", rowJS(rtl)+`.querySelector("code.key")`)

	// The detail and the confirmation too.
	tb.click("opening the lock", rowJS(rtl)+`.querySelector("button")`)
	tb.waitFor("its detail", `document.getElementById("detail-title").textContent === `+js(rtl))
	if !eval[bool](tb, `readsLTR(document.getElementById("detail-title"), "evil-rtl") && readsLTR(document.querySelector("#holds .holder"), "holder-rtl")`) {
		t.Error("the detail's title or holder does not read left to right")
	}
	tb.do("clicking Force release", chromedp.Click(chromedp.ID("force")))
	tb.waitFor("the confirmation dialog", `document.getElementById("confirm").open`)
	if !eval[bool](tb, `readsLTR(document.getElementById("confirm-name"), "evil-rtl") && readsLTR(document.querySelector("#confirm-holders .holder"), "holder-rtl")`) {
		t.Error("the confirmation's name or holder does not read left to right")
	}
	tb.do("cancelling", chromedp.Click(chromedp.CSS(`#confirm button[value=cancel]`)))
	tb.click("opening \" sp \"", rowJS(sp)+`.querySelector("button")`)
	tb.waitFor("its detail", `document.getElementById("detail-title").textContent === `+js(sp))
	visible("the detail's title", `document.getElementById("detail-title")`)

	// The filter matches the names as they are.
	tb.do("filtering", chromedp.SendKeys(chromedp.ID("filter"), "evil"))
	tb.waitFor("only the right-to-left lock", `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === `+js(rtl))
	tb.do("clearing the filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`))
	tb.do("filtering", chromedp.SendKeys(chromedp.ID("filter"), "sp"))
	tb.waitFor("only \" sp \"", `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.name).join() === `+js(sp))
	tb.checkProblems()
}

// TestDashboardReloadSpacing: under a steady stream of changes the page
// reloaded the locks as soon as the last reload was three times its own
// cost behind: with 10,000 locks (3.3 MB a reload) 31 times in 10 s. At most
// one reload is in flight, they start at least a second apart, and the last
// change is always read. Checked by the gaps between the page's own reload
// starts, not by how fast anything is.
func TestDashboardReloadSpacing(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "steady"), "", "", `{"key":"k"}`)
	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	tb.do("recording reloads", chromedp.Evaluate[chromedp.Void](`(() => {
		window.locksFetches = [];
		const f = window.fetch;
		window.fetch = function (u, ...rest) {
			if (new URL(String(u), document.baseURI).pathname === "/locks") window.locksFetches.push(performance.now());
			return f.call(this, u, ...rest);
		};
	})()`))
	// Changes, one after another, until the page has reloaded 6 times
	// (holders taking the lock again past 500: a lock has 1,000 at most).
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; ; i++ {
		mustCall(t, "PUT", lockURL(s.URL, "steady"), "", "", jsonBody(map[string]string{"key": "k", "lock_by": fmt.Sprint("h-", i%500)}))
		if i%10 == 9 && eval[int](tb, `window.locksFetches.length`) >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes of changes the page reloaded %d times", eval[int](tb, `window.locksFetches.length`))
		}
	}
	mustCall(t, "PUT", lockURL(s.URL, "last"), "", "", `{"key":"k"}`)
	tb.waitFor("the last change", rowJS("last")+`?.dataset.state === "held"`)
	starts := eval[[]float64](tb, `window.locksFetches`)
	for i := 1; i < len(starts); i++ {
		if gap := starts[i] - starts[i-1]; gap < 950 {
			t.Errorf("reloads %d and %d started %.0f ms apart, want at least a second (all: %v)", i, i+1, gap, starts)
			break
		}
	}
	tb.checkProblems()
}

// TestDashboardHungRead: a read of the locks that never gets an answer (a
// proxy that hangs, a connection gone dead without a word) held the page
// for good: no other reload starts while one is in flight, so the page went
// on showing the locks as they were, "live", until it was reloaded by hand.
// A read that gets no answer in time fails, and the next one starts afresh.
func TestDashboardHungRead(t *testing.T) {
	t.Parallel() // mostly waiting: beside another such test (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)

	tb := openTab(t, browser, "", "")
	// The page's read timeout (20 s, the one timer of that length) is made
	// 2 s, so that the test does not wait it out.
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		const setTimeout_ = window.setTimeout;
		window.setTimeout = (f, ms, ...args) => setTimeout_(f, ms === 20000 ? 2000 : ms, ...args);`}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hang, hung := false, 0
	paused := chromedp.Events(tb.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			mu.Lock()
			h := hang
			if h {
				hung++
			}
			mu.Unlock()
			if !h { // a hung request is left paused: never sent, never answered
				chromedp.Call(tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}
		}
	}()
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/locks"}}}); err != nil {
		t.Fatalf("enabling the Fetch domain: %v", err)
	}
	tb.open(s.URL)
	tb.waitFor("prod, held", rowJS("prod")+`?.dataset.state === "held"`)

	// The next read of the locks hangs; those after it are answered.
	mu.Lock()
	hang = true
	mu.Unlock()
	mustCall(t, "PUT", lockURL(s.URL, "staging"), "", "", `{"key":"qa"}`)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := hung
		if n > 0 {
			hang = false
		}
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page did not read the locks after a change")
		}
	}

	mustCall(t, "DELETE", lockURL(s.URL, "prod"), "", "", `{"key":"deploy"}`)
	start := time.Now()
	for !eval[bool](tb, rowJS("prod")+`?.dataset.state === "free" && !!`+rowJS("staging")) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("30 s after a read of the locks hung (the page's read timeout made 2 s), the page still shows them as before it: %s", tb.describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the page caught up %v after the release", time.Since(start).Round(time.Second))
	tb.checkProblems()
}
