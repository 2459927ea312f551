package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// contrastJS lists the page's visible text whose contrast with what it is
// drawn on is below WCAG's AA level (4.5:1; 3:1 for large text), one line
// each. Text hidden from assistive technology (aria-hidden: the dash that
// stands for "none", icons) is decoration and is left out; so is the
// dimmed table of a page that lost its server (it says so above it).
const contrastJS = `(() => {
	const parse = (c) => {
		const m = c.match(/rgba?\(([^)]+)\)/);
		const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
		return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
	};
	const lum = ({r, g, b}) => {
		const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
		return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
	};
	const over = (fg, bg) => ({r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1});
	const background = (e) => {
		const layers = [];
		for (let n = e; n; n = n.parentElement) {
			const c = parse(getComputedStyle(n).backgroundColor);
			if (c.a > 0) layers.push(c);
			if (c.a >= 1) break;
		}
		return layers.reverse().reduce((bg, l) => over(l, bg), {r: 255, g: 255, b: 255, a: 1});
	};
	const low = [];
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let t; (t = w.nextNode()); ) {
		const e = t.parentElement, text = t.data.trim();
		if (!text || e.closest("[aria-hidden=true], .visually-hidden") || !e.checkVisibility({visibilityProperty: true})) continue;
		const cs = getComputedStyle(e), bg = background(e);
		const fg = over(parse(cs.color), bg);
		const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
		const size = parseFloat(cs.fontSize), large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
		if (ratio < (large ? 3 : 4.5)) low.push(JSON.stringify(text.slice(0, 40)) + " (" + e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + "): " + cs.color + ", " + ratio.toFixed(2) + ":1");
	}
	return [...new Set(low)].join("\n");
})()`

// TestDashboardTextContrast: every word the page shows can be read. The
// holds table said "no lease" in the light grey of the decorative dash
// (#9aa1a9 on white, 2.6:1, below the 4.5:1 text needs).
func TestDashboardTextContrast(t *testing.T) {
	t.Parallel() // a browser of its own: waits for it beside the others (CI time)
	browser := newBrowser(t)
	s := startServer(t, nil)
	mustCall(t, "PUT", lockURL(s.URL, "leased")+"?ttl=1h", "", "", `{"key":"deploy","lock_by":"build-1"}`)
	mustCall(t, "PUT", lockURL(s.URL, "shared"), "", "", `{"key":"qa","lock_by":"tests-1"}`)
	mustCall(t, "PUT", lockURL(s.URL, "shared"), "", "", `{"key":"qa","lock_by":"tests-2"}`)
	mustCall(t, "PUT", lockURL(s.URL, "was-held"), "", "", `{"key":"k"}`)
	mustCall(t, "DELETE", lockURL(s.URL, "was-held"), "", "", `{"key":"k"}`)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-1", "", "", `{"metadata":{"region":"eu"}}`)
	mustCall(t, "PUT", s.URL+"/pool/envs/env-2", "", "", `{}`)
	mustCall(t, "PUT", s.URL+"/pool/envs", "", "", `{"key":"e2e"}`)

	tb := openTab(t, browser, "", "")
	tb.open(s.URL)
	check := func(what string) {
		t.Helper()
		if low := eval[string](tb, contrastJS); low != "" {
			t.Errorf("%s: text below WCAG AA contrast:\n%s", what, low)
		}
	}
	check("the locks")
	for _, name := range []string{"shared", "leased", "env-1"} {
		tb.click("opening "+name, rowJS(name)+`.querySelector("button")`)
		tb.waitFor(name+"'s history", `document.querySelector("#history tr[data-type]")`)
		if name == "shared" {
			tb.waitFor("its holds without a lease", `document.getElementById("holds").textContent.includes("no lease")`)
		}
		check(name + " open")
	}
	tb.do("filtering for nothing", chromedp.SendKeys(chromedp.ID("filter"), "no-such-lock"))
	tb.waitFor("no lock to match", `document.querySelector("#rows tr.empty")`)
	check("no lock matching the filter")
	tb.checkProblems()
}
