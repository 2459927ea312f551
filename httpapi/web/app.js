// Locker dashboard. Plain script, no build step, no dependencies.
//
// Data comes from the API: GET locks (every lock), GET pools (every pool with
// its members, free/total counts and waiters), GET whoami (may this user
// force a release? forget a lock?), GET lock/<name>/history, and the
// event stream GET events; it changes locks with DELETE
// lock/<name>?force=true and POST lock/<name>/forget. Events schedule a
// reload of the locks and pools: at most one is in flight and one queued
// behind it, a second or more apart (more when the last one cost more), so
// a burst of events costs a reload or two and a
// page of 10,000 locks stays responsive; a reconnected stream reloads
// everything, since events may have been missed. While the page is visible
// it also reloads every few seconds: waiters come and go without an event.
// A redraw only rebuilds the rows of locks that changed. One tab of a
// browser holds the event stream and relays it to the page's other tabs
// (see The event stream).
//
// Locks, pools, members and holders are named by clients: they live in Maps
// (or are looked up with Object.hasOwn), never as plain keys of an object,
// where "toString" or "__proto__" would find Object.prototype's.
//
// Every piece of data is put in the page as text (textContent, Text nodes,
// attribute values): never as HTML. Lock and pool names, keys, holders and
// metadata are whatever clients sent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);

  // own is o[k] if o has k itself (not from Object.prototype), else undefined.
  const own = (o, k) => (o !== null && typeof o === "object" && Object.hasOwn(o, k) ? o[k] : undefined);

  // toMap turns a JSON object keyed by names into a Map.
  const toMap = (o) => new Map(o !== null && typeof o === "object" ? Object.entries(o) : []);

  const state = {
    locks: new Map(), // name -> lock, as GET /locks returns it
    pools: new Map(), // name -> pool, as GET /pools returns it, its members a Map too
    loaded: false,
    loadError: "",
    // may_force, may_forget: whether the server lets this user force a
    // release, and forget a lock (whoami applies the server's own rules).
    me: { user: "", may_force: false, may_forget: false, sign_in: false },
    selected: null, // name of the lock in the detail panel
    openedFrom: null, // the pool whose member opened it, or null for its row
    history: null, // its events, oldest first; null while loading
    historyError: "",
    skew: 0, // server clock minus ours, when they differ noticeably
    version: 0, // bumped by local changes, so an older reload cannot undo them
  };

  // ---- DOM helpers -------------------------------------------------------

  // el builds an element. props: "class", "text" (textContent), "user"
  // (anyone's text: a name, key or holder, shown with userText), anything
  // else an attribute. Children are nodes or strings (added as Text nodes).
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "user") e.append(userText(v));
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // Names, keys and holders are anyone's text, and may hold characters that
  // show nothing yet change what the rest looks like: a right-to-left
  // override (U+202E) made "\u202eevil-rtl" read "ltr-live", and a zero-width
  // space or a tab hides in a name. A browser also drops the spaces at
  // either end of a name and squeezes doubled ones: " sp " looked like "sp".
  // userText shows each such character as its code in a small box ("U+202E");
  // the character itself stays in the text (textContent) but is not laid
  // out, so it has no effect. Spaces at either end, or doubled, are kept
  // and tinted. (Every element also keeps its text's direction to itself,
  // style.css, so a name cannot reorder the words around it.) Names in the
  // page's data are untouched: the filter matches what the server sent.
  // Controls, format characters (bidi marks, the soft hyphen, tags), every
  // default-ignorable one (zero-width joiners, variation selectors, Hangul
  // fillers: a review saw thirteen names read "deploy"), line and paragraph
  // separators, and the blank braille pattern: an emoji sequence with a
  // joiner shows its codes too, which is the price of seeing them all.
  const oddChars = "\\p{Cc}\\p{Cf}\\p{Default_Ignorable_Code_Point}\\p{Zl}\\p{Zp}\\u2800";
  const oddChar = new RegExp("[" + oddChars + "]|[^\\S ]", "gu");
  const oddText = new RegExp("[" + oddChars + "]|[^\\S ]|^ +| +$| {2,}", "gu");
  const code = (c) => "U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");

  function userText(s) {
    s = String(s);
    if (s.search(oddText) < 0) return s;
    const out = document.createDocumentFragment();
    let at = 0;
    for (const m of s.matchAll(oddText)) {
      if (m.index > at) out.append(s.slice(at, m.index));
      if (m[0][0] === " ") out.append(el("span", { class: "ws", title: m[0].length === 1 ? "a space" : m[0].length + " spaces", text: m[0] }));
      else out.append(el("span", { class: "odd", "data-code": code(m[0]), title: code(m[0]) }, el("span", { text: m[0] })));
      at = m.index + m[0].length;
    }
    if (at < s.length) out.append(s.slice(at));
    return out;
  }

  // plain is anyone's text for an attribute (a tooltip, a label), with such
  // characters written as their codes.
  const plain = (s) => String(s).replace(oddChar, (c) => "[" + code(c) + "]");

  // none is an empty value: a dash to see, "none" to hear.
  function none() {
    return el("span", { class: "none" }, el("span", { "aria-hidden": "true", text: "—" }), el("span", { class: "visually-hidden", text: "none" }));
  }

  // ---- Time --------------------------------------------------------------

  const now = () => Date.now() + state.skew;

  function relative(ms) {
    const d = Math.round((now() - ms) / 1000);
    const a = Math.abs(d);
    // A lease counts down in seconds to the last: "in a few seconds" hid
    // whether it had 9 left or 1.
    if (a < 10) return d >= 0 ? "just now" : "in " + a + " s";
    let s;
    if (a < 60) s = a + " s";
    else if (a < 3600) s = Math.floor(a / 60) + " min";
    else if (a < 86400) {
      const h = Math.floor(a / 3600), m = Math.floor((a % 3600) / 60);
      s = h + " h" + (m ? " " + m + " min" : "");
    } else {
      const days = Math.floor(a / 86400);
      s = days + (days === 1 ? " day" : " days");
    }
    return d >= 0 ? s + " ago" : "in " + s;
  }

  // One formatter for every time: toLocaleString with options builds a new
  // one per call, which cost about a second for a page of 10,000 locks.
  const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function exact(ms) {
    const d = new Date(ms);
    return exactFormat.format(d) + " (" + d.toISOString() + ")";
  }

  // timeEl shows a time relative to now, the exact time on hover; tick()
  // keeps the relative text current. Times within about a minute of now
  // show seconds, which change every second: they are redrawn every second
  // (every 10 s, a lease "in 24 s" still said so at 15 s); the others, in
  // minutes or more, every 10 s, when a full pass also finds those that
  // came within the minute. A page of 10,000 locks has some 13,000 times:
  // going over all of them every second would cost it some 25 ms a second
  // (2 µs each, measured on 507).
  const near = new Set(); // time elements within nearMs of now
  const nearMs = 75000;
  const isNear = (ms) => Math.abs(now() - ms) < nearMs;

  function timeEl(iso) {
    const ms = iso ? Date.parse(iso) : NaN;
    if (!iso || isNaN(ms) || ms <= 0) return none();
    const t = el("time", { datetime: new Date(ms).toISOString(), title: exact(ms), "data-t": ms, text: relative(ms) });
    if (isNear(ms)) near.add(t);
    return t;
  }

  function redraw(t) {
    const text = relative(Number(t.dataset.t));
    if (t.textContent !== text) t.textContent = text;
  }

  let ticks = 0;
  function tick(all) {
    if (all === true || ++ticks % 10 === 0) {
      near.clear();
      for (const t of document.querySelectorAll("time[data-t]")) {
        redraw(t);
        if (isNear(Number(t.dataset.t))) near.add(t);
      }
      return;
    }
    for (const t of near) if (t.isConnected) redraw(t);
  }

  // retick brings up to date the times of a row put back in the page (one
  // the filter had hidden, say): the ticks passed it by meanwhile.
  function retick(node) {
    for (const t of node.querySelectorAll("time[data-t]")) {
      redraw(t);
      if (isNear(Number(t.dataset.t))) near.add(t);
    }
  }

  // ---- API ---------------------------------------------------------------

  // apiURL resolves a path against the page's address without the
  // user:pass@ it may have been opened with: fetch refuses a URL that
  // carries credentials. The browser still sends the login it has.
  function apiURL(path) {
    const u = new URL(path, document.baseURI);
    u.username = "";
    u.password = "";
    return u.href;
  }

  // A read the server (or a proxy on the way) never answers, on a
  // connection that hangs without a word, held the page for good: no reload
  // starts while one is in flight, so it showed the locks as they were,
  // "live", until reloaded by hand. A read whose answer has not begun
  // within readTimeout fails as one that could not reach the server, and
  // the next starts afresh; so does one whose answer began and then stopped
  // coming for as long (a connection that froze halfway held the page as
  // surely). Only reads: a force release is left to finish.
  const readTimeout = 20000;

  // bodyText reads r's body, calling progress for each part that arrives.
  async function bodyText(r, progress) {
    if (!r.body || typeof r.body.getReader !== "function") return r.text();
    const reader = r.body.getReader(), dec = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text + dec.decode();
      progress();
      text += dec.decode(value, { stream: true });
    }
  }

  async function api(method, path) {
    const ac = method === "GET" ? new AbortController() : null;
    let timer = null;
    const arm = (why) => {
      if (ac === null) return;
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(new Error(why)), readTimeout);
    };
    const stalled = "the answer stopped coming for " + readTimeout / 1000 + " s";
    let r, text;
    try {
      arm("no answer within " + readTimeout / 1000 + " s");
      r = await fetch(apiURL(path), { method, headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin", signal: ac ? ac.signal : undefined });
      arm(stalled);
      // A body cut short (the connection lost halfway) is a failed read,
      // not an empty answer: read as null, it showed every lock gone.
      text = await bodyText(r, () => arm(stalled));
    } catch (e) {
      throw ac !== null && ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : e;
    } finally {
      clearTimeout(timer);
    }
    const date = Date.parse(r.headers.get("Date") || "");
    if (!isNaN(date)) {
      const skew = date - Date.now();
      state.skew = Math.abs(skew) > 5000 ? skew : 0;
    }
    let body = null;
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
      // A read answered with something else than JSON (a proxy's login
      // page, say) has no locks to show: read as null, it showed none.
      if (r.ok && method === "GET") throw new Error("the answer to GET " + path + " is not JSON (" + (r.headers.get("Content-Type") || "no Content-Type") + ")");
    }
    if (!r.ok) {
      const err = new Error(body && typeof body.error === "string" ? body.error : "HTTP " + r.status);
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  // lockPath is a lock's address. A browser resolves "%2E" in a path as a
  // dot segment (lock/%2E/history is lock/history, another lock), so a
  // lock named "." or ".." has none the page can use.
  const addressable = (name) => name !== "." && name !== "..";

  function lockPath(name) {
    if (!addressable(name)) {
      const q = name === "." ? "'.'" : "'..'";
      throw new Error("a browser cannot address a lock named " + name + "; use the CLI: locker history " + q + ", locker unlock " + q + " --force");
    }
    return "lock/" + encodeURIComponent(name);
  }

  // ---- Loading the locks -------------------------------------------------

  // At most one reload is in flight, and at most one queued behind it
  // (loadQueued): however many events come in meanwhile, they cost one more
  // reload. Reloads start at least a second apart, or three times the last
  // one's cost if more (up to three seconds), so that with many locks the
  // page spends most of its time idle even when changes never stop: with
  // no floor, cheap reloads followed each other every 170 ms, and a page of
  // 10,000 locks read its 3.3 MB 31 times in 10 s. A change after a quiet
  // spell is read after 150 ms.
  let loadTimer = null, loading = false, loadQueued = false, lastLoadStart = 0, lastLoadCost = 0;

  // scheduleLoad reloads the locks soon (after delay ms, 150 by default),
  // once for a burst of events.
  function scheduleLoad(delay) {
    if (loading) {
      loadQueued = true;
      return;
    }
    if (loadTimer !== null) return;
    const spacing = Math.min(3000, Math.max(1000, 3 * lastLoadCost));
    const wait = Math.max(delay === undefined ? 150 : delay, lastLoadStart + spacing - performance.now());
    loadTimer = setTimeout(() => {
      loadTimer = null;
      load();
    }, wait);
  }

  async function load() {
    if (loading) {
      loadQueued = true;
      return;
    }
    if (loadTimer !== null) {
      clearTimeout(loadTimer);
      loadTimer = null;
    }
    loading = true;
    lastLoadStart = performance.now();
    const version = state.version, historyAsked = historySeq;
    try {
      const [locks, pools] = await Promise.all([api("GET", "locks"), api("GET", "pools")]);
      if (state.version === version) {
        // The open lock's history is read on its events, and when a read
        // finds it changed with no history read meanwhile: without a
        // stream (refused, down, hung) it went stale beside current holds.
        const was = state.selected === null ? null : JSON.stringify(state.locks.get(state.selected) ?? null);
        state.locks = toMap(locks);
        if (was !== null && historySeq === historyAsked && JSON.stringify(state.locks.get(state.selected) ?? null) !== was) scheduleHistory();
        state.pools = new Map([...toMap(pools)].map(([name, p]) => [name, { ...p, members: toMap(p && p.members) }]));
        state.loaded = true;
        state.loadError = "";
      } else {
        loadQueued = true; // a local change came in meanwhile: read again
      }
    } catch (e) {
      state.loadError = "Could not load the locks: " + e.message;
    }
    try {
      render();
    } finally {
      lastLoadCost = performance.now() - lastLoadStart;
      loading = false;
      if (loadQueued) {
        loadQueued = false;
        scheduleLoad();
      }
    }
  }

  // Waiting for a lock or a pool member, and giving up, send no event (a
  // waiter changes no lock), so reloads on events alone never showed a
  // waiter come or go. While the page is visible it reads the locks
  // again every few seconds: every 2 s while something shows waiters (to
  // see them leave), every 5 s otherwise (to see them come), never sooner
  // than ten times what the last reload cost (a page of 10,000 locks is not
  // forever reloading), and not while a reload is in flight or due. It does
  // so whether or not its stream is live: a server whose places for streams
  // are all held refuses a new one (503) for as long as they are, and
  // answers reads meanwhile; a page that read only while live showed the
  // locks as they were when the stream was refused.
  function waiting() {
    for (const l of state.locks.values()) if (l.waiters) return true;
    for (const p of state.pools.values()) if (p.waiters) return true;
    return false;
  }

  function poll() {
    if (document.visibilityState !== "visible" || loading || loadTimer !== null) return;
    const every = Math.max(waiting() ? 2000 : 5000, 10 * lastLoadCost);
    if (performance.now() - lastLoadStart >= every) scheduleLoad(0);
  }

  // ---- The table ---------------------------------------------------------

  // Names sort as people expect: build-9 before build-10.
  const collator = new Intl.Collator(undefined, { numeric: true });
  const holdersOf = (l) => Object.keys(l.locked_by || {}).sort(collator.compare);

  const poolsOf = (l) => (Array.isArray(l.pools) ? l.pools : []);

  function matches(l, q) {
    if (!q) return true;
    const hay = [l.name, l.key || ""].concat(holdersOf(l), poolsOf(l));
    return hay.some((s) => s.toLowerCase().includes(q));
  }

  function stateEl(s) {
    const icon = own({ held: "●", shared: "◐", free: "○" }, s) || "?";
    return el("span", { class: "state state-" + s }, el("span", { class: "icon", "aria-hidden": "true", text: icon }), s);
  }

  function holdersEl(l, limit) {
    const names = holdersOf(l);
    if (names.length === 0) return none();
    const ul = el("ul", { class: "holders" });
    const shown = limit && names.length > limit + 1 ? names.slice(0, limit) : names;
    for (const h of shown) {
      ul.append(el("li", null, el("span", { class: "holder", user: h }), " ", el("span", { class: "count", title: "count", text: "×" + l.locked_by[h] })));
    }
    if (shown.length < names.length) ul.append(el("li", { class: "more", text: "and " + (names.length - shown.length) + " more" }));
    return ul;
  }

  // The table's elements carry their roles explicitly: up to 900px wide they
  // are laid out as cards (display: block), which can hide table semantics.
  function cell(label, content, cls) {
    return el("td", { role: "cell", "data-label": label, class: cls }, content);
  }

  function row(l) {
    const open = state.selected === l.name;
    const btn = el("button", { type: "button", class: "lock-link", "aria-controls": "detail", "aria-expanded": open ? "true" : "false", user: l.name });
    btn.addEventListener("click", () => openDetail(l.name));
    const tr = el("tr", { role: "row", "data-name": l.name, "data-state": l.state, class: open ? "selected" : null });
    const head = el("th", { role: "rowheader", scope: "row", "data-label": "Lock" }, btn);
    if (poolsOf(l).length) head.append(el("div", { class: "in-pools" }, "pool ", ...joined(poolsOf(l).map((p) => el("span", { class: "pool-ref", user: p })))));
    tr.append(
      head,
      cell("State", stateEl(l.state)),
      cell("Key", l.key ? el("code", { class: "key", user: l.key }) : none()),
      cell("Holders", holdersEl(l, 4)),
      cell("Held since", l.state === "free" ? none() : timeEl(l.since)),
      cell("Lease expires", timeEl(l.expires)),
      cell("Fence", l.fence ? String(l.fence) : none(), "num"),
      cell("Waiters", String(l.waiters || 0), "num" + (l.waiters ? " waiting" : ""))
    );
    return tr;
  }

  // rowCache keeps each lock's row with what it was drawn from: a redraw
  // reuses the rows of locks that did not change, instead of building
  // thousands of rows again for every change elsewhere.
  const rowCache = new Map(); // name -> { sig, tr }

  // Opening or closing a lock marks its row in place rather than build it
  // again: a new row's cells have no height until laid out
  // (content-visibility), and the row the drawer opened from, at the end
  // of the page, shrank for a moment, the page scrolled up to make up for
  // it, and closing the drawer found the table no longer where it was.
  function cachedRow(l) {
    const sig = JSON.stringify(l);
    const c = rowCache.get(l.name);
    let tr;
    if (c && c.sig === sig) {
      tr = c.tr;
    } else {
      tr = row(l);
      rowCache.set(l.name, { sig, tr });
    }
    markOpen(tr);
    return tr;
  }

  // markOpen marks a row or pool member, and its button, open or not.
  function markOpen(e) {
    const open = state.selected === e.dataset.name;
    if (e.classList.contains("selected") === open) return;
    e.classList.toggle("selected", open);
    e.querySelector("button").setAttribute("aria-expanded", String(open));
  }

  // patchChildren makes nodes parent's children, in order, moving and
  // removing as few as it can. A node put back has its times brought up to
  // date (retick).
  function patchChildren(parent, nodes) {
    let cur = parent.firstChild;
    for (const n of nodes) {
      if (n === cur) {
        cur = cur.nextSibling;
        continue;
      }
      const back = !n.isConnected;
      parent.insertBefore(n, cur);
      if (back && n.nodeType === Node.ELEMENT_NODE) retick(n);
    }
    while (cur) {
      const next = cur.nextSibling;
      cur.remove();
      cur = next;
    }
  }

  // show makes build()'s nodes parent's children, unless they were built
  // from this sig: rebuilt at each reload (every few seconds), the detail
  // lost the text selected in it to be copied.
  const shownSig = new WeakMap(); // parent -> sig

  function show(parent, sig, build) {
    if (shownSig.get(parent) === sig) return;
    shownSig.set(parent, sig);
    parent.replaceChildren(...build());
  }

  // joined puts ", " between nodes.
  function joined(nodes) {
    const out = [];
    nodes.forEach((n, i) => {
      if (i) out.push(", ");
      out.push(n);
    });
    return out;
  }

  // ---- The pools ---------------------------------------------------------

  function memberEl(m) {
    const open = state.selected === m.name;
    const icon = own({ held: "●", shared: "◐", free: "○" }, m.state) || "?";
    const holders = holdersOf(m);
    const btn = el("button", {
      type: "button",
      class: "member-link member-" + m.state,
      "data-name": m.name,
      "aria-controls": "detail",
      "aria-expanded": open ? "true" : "false",
      title: plain(m.state === "free" ? m.name + ": free" : m.name + ": " + m.state + " by " + holders.join(", ") + " (key " + m.key + ")"),
    }, el("span", { class: "icon", "aria-hidden": "true", text: icon }), el("span", { class: "member-name", user: m.name }), el("span", { class: "visually-hidden", text: ", " + m.state }));
    btn.addEventListener("click", () => openDetail(m.name, btn.closest("li.pool")?.dataset.pool ?? null));
    const li = el("li", { class: "member" + (open ? " selected" : ""), "data-name": m.name, "data-state": m.state }, btn);
    if (holders.length) li.append(el("span", { class: "member-holder", user: holders[0] }, holders.length > 1 ? " +" + (holders.length - 1) : null));
    return li;
  }

  function poolEl(p) {
    const members = [...p.members.values()].sort((a, b) => collator.compare(a.name, b.name));
    const free = Number(p.free) || 0, total = Number(p.total) || members.length;
    const count = el("p", { class: "pool-count" + (free === 0 ? " none-free" : ""), "data-free": free, "data-total": total },
      el("span", { class: "icon", "aria-hidden": "true", text: free === 0 ? "●" : "○" }), el("strong", { text: String(free) }), " of " + total + " free");
    const head = el("div", { class: "pool-head" }, el("h3", { class: "pool-name", user: p.name }), count);
    if (p.waiters) head.append(el("p", { class: "pool-waiting", text: p.waiters + " waiting" }));
    return el("li", { class: "pool", "data-pool": p.name }, head,
      el("ul", { class: "members", "aria-label": "Members of " + plain(p.name) }, ...members.map(memberEl)));
  }

  // poolCache keeps each pool's card as rowCache does rows: rebuilt at
  // each reload, a card lost its selected text, and a focused member moved
  // to a new button (which a screen reader announces again).
  const poolCache = new Map(); // name -> { sig, li }

  function cachedPool(p) {
    const sig = JSON.stringify({ ...p, members: [...p.members] });
    let c = poolCache.get(p.name);
    if (!c || c.sig !== sig) {
      c = { sig, li: poolEl(p) };
      poolCache.set(p.name, c);
    }
    c.li.querySelectorAll("li.member").forEach(markOpen);
    return c.li;
  }

  function renderPools(q) {
    const all = [...state.pools.values()].sort((a, b) => collator.compare(a.name, b.name));
    const shown = all.filter((p) => !q || p.name.toLowerCase().includes(q) || [...p.members.values()].some((m) => matches(m, q)));
    $("pools").hidden = all.length === 0;
    const cards = shown.map(cachedPool);
    if (all.length && shown.length === 0) cards.push(el("li", { class: "empty", text: "No pool matches “" + $("filter").value.trim() + "”." }));
    patchChildren($("pool-list"), cards);
    for (const name of poolCache.keys()) if (!state.pools.has(name)) poolCache.delete(name);
    const free = all.reduce((n, p) => n + (Number(p.free) || 0), 0), total = all.reduce((n, p) => n + (Number(p.total) || 0), 0);
    $("pools-summary").textContent = all.length + (all.length === 1 ? " pool" : " pools") + " · " + free + " of " + total + " members free";
  }

  // The table sorts by a column: its header is a button, which sorts by it
  // in its first direction, then the other way. By name (the first sort),
  // held locks come first; by a time, the longest held and the soonest
  // lease first, locks without one last either way; by waiters, the most
  // first. Ties go by the first sort. Among hundreds of held locks, the
  // one held for days, the lease about to run out or the lock with a queue
  // could not be brought to the top.
  // says: the caption, for ascending and descending order.
  const sorts = {
    name: { first: 1, says: ["held locks first, by name", "held locks first, by name from Z to A"] },
    since: { first: 1, says: ["longest held first", "most recently taken first"], value: (l) => (l.state === "free" ? NaN : Date.parse(l.since)) },
    expires: { first: 1, says: ["the lease that runs out soonest first", "the lease that runs out last first"], value: (l) => Date.parse(l.expires || "") },
    waiters: { first: -1, says: ["fewest waiters first", "most waiters first"], value: (l) => Number(l.waiters) || 0 },
  };
  let sortBy = "name", sortDir = 1;

  function sortOn(key) {
    if (!Object.hasOwn(sorts, key)) return;
    sortDir = key === sortBy ? -sortDir : sorts[key].first;
    sortBy = key;
    for (const b of document.querySelectorAll("#locks thead button.sort")) {
      const th = b.closest("th");
      if (b.dataset.sort === sortBy) th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    $("locks-caption").textContent = "Every lock, sorted: " + sorts[sortBy].says[sortDir > 0 ? 0 : 1];
    render();
  }

  function sorted() {
    const rank = (l) => (l.state === "free" ? 1 : 0);
    const byName = (a, b) => rank(a) - rank(b) || collator.compare(a.name, b.name);
    const value = sorts[sortBy].value;
    let cmp;
    if (!value) {
      cmp = (a, b) => rank(a) - rank(b) || sortDir * collator.compare(a.name, b.name);
    } else {
      // Each lock's value is worked out once, not at every comparison.
      const values = new Map();
      for (const l of state.locks.values()) values.set(l, value(l));
      cmp = (a, b) => {
        const x = values.get(a), y = values.get(b);
        if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y) || byName(a, b); // none: last
        return sortDir * (x - y) || byName(a, b);
      };
    }
    return [...state.locks.values()].sort(cmp);
  }

  function render() {
    const q = $("filter").value.trim().toLowerCase();
    const all = sorted();
    const shown = all.filter((l) => matches(l, q));

    // Keep keyboard focus on the same lock (or pool member) across a redraw.
    const active = document.activeElement;
    const focused = active && active.classList.contains("lock-link") ? active.closest("tr").dataset.name : null;
    const focusedMember = active && active.classList.contains("member-link") ? [active.closest("li.pool").dataset.pool, active.dataset.name] : null;
    renderPools(q);
    if (focusedMember !== null) {
      for (const b of $("pool-list").querySelectorAll("button.member-link")) {
        if (b.closest("li.pool").dataset.pool === focusedMember[0] && b.dataset.name === focusedMember[1]) b.focus();
      }
    }

    const rows = shown.map(cachedRow);
    if (rows.length === 0) {
      let msg = "No locks yet. A lock appears here when a client first takes it (PUT /lock/<name>).";
      if (!state.loaded) msg = state.loadError ? "The locks could not be loaded." : "Loading…";
      else if (all.length) msg = "No lock matches “" + $("filter").value.trim() + "”.";
      rows.push(el("tr", { role: "row", class: "empty" }, el("td", { role: "cell", colspan: 8, text: msg })));
    }
    patchChildren($("rows"), rows);
    for (const name of rowCache.keys()) if (!state.locks.has(name)) rowCache.delete(name);
    if (focused !== null) {
      for (const b of $("rows").querySelectorAll("button.lock-link")) {
        if (b.closest("tr").dataset.name === focused) b.focus();
      }
    }

    const count = (s) => all.filter((l) => l.state === s).length;
    let summary = all.length + (all.length === 1 ? " lock" : " locks") + " · " + count("held") + " held · " + count("shared") + " shared · " + count("free") + " free";
    if (q) summary += " · showing " + shown.length;
    $("summary").textContent = state.loaded ? summary : "";
    $("notice").textContent = state.loadError;
    stale();
    if (state.selected !== null) renderDetail();
    if (forcing !== null) renderConfirm();
    if (forgetting !== null) renderForgetConfirm();
  }

  // ---- The detail panel --------------------------------------------------

  // Below 1100px the detail panel is a drawer over the page (style.css),
  // the exact complement of the query that puts it beside the table. While
  // it is open there, it is a modal dialog: the page behind is inert (no
  // Tab into rows hidden under it, no click through the dimmed backdrop),
  // and the page does not scroll, so that closing it finds the reader where
  // they were in the table. Scrolling the page to the panel instead, below
  // the table, took the reader away from the lock they clicked, and back
  // to a place the browser could only guess: rows not yet shown have an
  // estimated height (content-visibility).
  const narrow = window.matchMedia("not all and (min-width: 1100px)");

  function overlay() {
    const on = narrow.matches && !$("detail").hidden;
    document.querySelector("header.top").inert = on;
    document.querySelector("main > .primary").inert = on;
    if (on) {
      $("detail").setAttribute("role", "dialog");
      $("detail").setAttribute("aria-modal", "true");
    } else {
      $("detail").removeAttribute("role");
      $("detail").removeAttribute("aria-modal");
    }
  }

  // ---- Back closes the drawer ---------------------------------------------

  // On a phone, Back closes what is open over the page: pressed with the
  // drawer open, it left the dashboard instead. So the drawer has an entry
  // of its own in the tab's history, pushed when it opens (the address
  // stays the same: the entry's state names the lock), and Back, which
  // returns to the entry below it, closes the drawer (onPopState); Forward
  // opens it again. Closed otherwise (Close, Escape, a click beside it, a
  // forget), the drawer steps back over its entry itself (history.back):
  // no script can remove an entry, and one replaced (replaceState) would
  // stay in the history as a second dashboard, for the next Back to do
  // nothing to be seen. The entry left ahead is Forward's, as after Back.
  //
  // A panel beside the table (1100px wide or more) is no overlay: the
  // table stays in reach, and Back there leaves the page, as before. It
  // gets an entry when it becomes a drawer (the window narrowed, a tablet
  // turned), and keeps one it had as a drawer while it stays open.
  // entryOf is the detail's entry state s, { lockerDetail: name, from:
  // pool or null }, or null for another (the page's own: null).
  const entryOf = (s) => (s !== null && typeof s === "object" && typeof s.lockerDetail === "string" ? s : null);
  const fromOf = (s) => (typeof s.from === "string" ? s.from : null);
  let stepsBack = 0; // our history.back() calls not yet answered by a popstate

  // markEntry gives the open detail its entry: pushed for a drawer that
  // has none; the current one, when it is the detail's, made to name the
  // lock shown now.
  function markEntry() {
    if (state.selected === null) return;
    const s = { lockerDetail: state.selected, from: state.openedFrom };
    if (entryOf(history.state) !== null) history.replaceState(s, "");
    else if (narrow.matches) history.pushState(s, "");
  }

  // unmarkEntry steps back over the entry of a detail just closed, if it
  // is the current one.
  function unmarkEntry() {
    if (entryOf(history.state) === null) return;
    stepsBack++;
    history.back();
  }

  function onPopState(e) {
    const s = entryOf(e.state);
    if (stepsBack > 0) {
      // Our own step back. A lock opened before it landed (it lands on
      // the entry below the one it left) gets an entry again.
      stepsBack--;
      markEntry();
      return;
    }
    if (s !== null && state.selected === s.lockerDetail) return;
    // A dialog of the detail closes with it, as cancelled.
    for (const d of [$("confirm"), $("forget-confirm")]) if (d.open) d.close("cancel");
    if (s === null) {
      if (state.selected !== null) closeDetail();
    } else {
      openDetail(s.lockerDetail, fromOf(s));
    }
  }

  // restoreEntry, at start, deals with an entry of the detail that is
  // current already: the page was reloaded with the drawer open, or
  // loaded again by Back or Forward (the browser did not keep it). A
  // reload shows the dashboard without the drawer, as it always did, and
  // steps back over the drawer's entry, which was left for Back to do
  // nothing with. Back or Forward to it opens the lock, as the page kept
  // by the browser shows it.
  function restoreEntry() {
    const s = entryOf(history.state);
    if (s === null) return;
    const nav = typeof performance.getEntriesByType === "function" ? performance.getEntriesByType("navigation")[0] : undefined;
    if (nav && nav.type === "back_forward") {
      openDetail(s.lockerDetail, fromOf(s));
      return;
    }
    stepsBack++;
    history.back();
  }

  // openDetail shows a lock, opened from its row or from a member of the
  // pool named by from; closing it takes the focus back there.
  function openDetail(name, from) {
    const changed = state.selected !== name;
    state.selected = name;
    state.openedFrom = from === undefined ? null : from;
    $("locks-result").textContent = ""; // what the last forget said
    if (changed) {
      state.history = null;
      state.historyError = "";
      $("detail-result").textContent = "";
      $("detail-result").className = "result";
      $("detail").scrollTop = 0; // the drawer shows a new lock from its top
    }
    $("detail").hidden = false;
    overlay();
    markEntry();
    render();
    if (narrow.matches) {
      $("detail-title").focus({ preventScroll: true });
    } else {
      $("detail-title").focus();
      $("detail").scrollIntoView({ block: "nearest" });
    }
    loadHistory();
  }

  function closeDetail() {
    closeDetailTo(null);
  }

  // closeDetailTo closes the detail and takes the focus back to what opened
  // it. When that is gone (the lock was forgotten: its row left the table)
  // the focus goes to the row of the lock named next, if it is shown, else
  // to the filter: left on a button that is gone, it fell to the page's
  // body, and the keyboard started again from the top of the page.
  function closeDetailTo(next) {
    const name = state.selected, from = state.openedFrom;
    state.selected = null;
    state.openedFrom = null;
    $("detail").hidden = true;
    overlay();
    unmarkEntry();
    render();
    const rowButton = (n) => [...$("rows").querySelectorAll("button.lock-link")].find((b) => b.closest("tr").dataset.name === n);
    const opener = from === null
      ? rowButton(name)
      : [...$("pool-list").querySelectorAll("button.member-link")].find((b) => b.dataset.name === name && b.closest("li.pool").dataset.pool === from);
    const target = opener || (next !== null && rowButton(next)) || $("filter");
    target.focus();
  }

  function fact(term, value) {
    return [el("dt", { text: term }), el("dd", null, value)];
  }

  function holdRows(l) {
    const holds = [];
    if (l) {
      for (const h of holdersOf(l)) {
        const hold = own(l.holds, h) || {};
        holds.push(
          el("tr", null,
            el("th", { scope: "row" }, el("span", { class: "holder", user: h })),
            el("td", { class: "num", text: String(l.locked_by[h]) }),
            el("td", null, timeEl(hold.acquired)),
            el("td", null, hold.expires ? timeEl(hold.expires) : el("span", { class: "no-lease", text: "no lease" }))
          )
        );
      }
    }
    if (holds.length === 0) holds.push(el("tr", { class: "empty" }, el("td", { colspan: 4, text: "Nobody holds this lock." })));
    return holds;
  }

  // historyRows: newest first.
  function historyRows() {
    const hist = [];
    if (state.historyError) {
      hist.push(el("tr", { class: "empty" }, el("td", { colspan: 4, text: state.historyError })));
    } else if (state.history === null) {
      hist.push(el("tr", { class: "empty" }, el("td", { colspan: 4, text: "Loading…" })));
    } else if (state.history.length === 0) {
      hist.push(el("tr", { class: "empty" }, el("td", { colspan: 4, text: "No history." })));
    } else {
      for (const ev of state.history.slice().reverse()) {
        const poolEvent = ev.type === "added" || ev.type === "removed";
        const meta = poolEvent
          ? el("div", { class: "meta" }, (ev.type === "added" ? "to pool " : "from pool "), el("span", { class: "pool-ref", user: ev.pool || "" }))
          : el("div", { class: "meta" }, "key ", ev.key ? el("code", { class: "key", user: ev.key }) : none());
        if (ev.type === "acquired" || ev.type === "released") meta.append(" · count " + ev.count);
        if (ev.by) meta.append(" · by ", el("span", { class: "by", user: ev.by }));
        hist.push(
          el("tr", { "data-type": ev.type },
            el("td", null, timeEl(ev.time)),
            el("td", null, el("span", { class: "event event-" + ev.type, text: ev.type })),
            el("td", null, el("div", { class: "holder", user: ev.holder || "" }), meta),
            el("td", { class: "num", text: ev.fence ? String(ev.fence) : "" })
          )
        );
      }
    }
    return hist;
  }

  function renderDetail() {
    const name = state.selected;
    const l = state.locks.get(name);
    show($("detail-title"), name, () => [userText(name)]);
    show($("detail-facts"), JSON.stringify([l || null, state.loaded]), () => l
      ? [
          ...fact("State", stateEl(l.state)),
          ...fact("Key", l.key ? el("code", { class: "key", user: l.key }) : none()),
          ...fact("Held since", l.state === "free" ? none() : timeEl(l.since)),
          ...fact("Lease expires", timeEl(l.expires)),
          ...fact("Fence", l.fence ? String(l.fence) : none()),
          ...fact("Waiters", String(l.waiters || 0)),
          ...(poolsOf(l).length ? fact("Pools", el("span", { class: "detail-pools" }, ...joined(poolsOf(l).map((p) => el("span", { class: "pool-ref", user: p }))))) : []),
          ...(poolsOf(l).length && l.state === "free" ? fact("Free since", timeEl(l.free_since)) : []),
        ]
      : fact("State", state.loaded ? "not found" : "Loading…"));

    // Metadata: pretty-printed JSON, as text, with the characters userText
    // boxes (but the newlines and spaces of the layout) escaped as \uXXXX.
    const hasMetadata = !!l && l.metadata !== undefined && l.metadata !== null;
    $("detail-metadata-box").hidden = !hasMetadata;
    const text = hasMetadata ? JSON.stringify(l.metadata, null, 2).replace(oddChar, (c) => (c === "\n" ? c : "\\u" + code(c).slice(2).toLowerCase())) : "";
    if ($("detail-metadata").textContent !== text) $("detail-metadata").textContent = text;

    show($("holds"), JSON.stringify(l ? [l.locked_by, l.holds] : null), () => holdRows(l));

    // A lock named "." or ".." cannot be forced from a browser (lockPath):
    // no button that must fail, but a word on how.
    const forcible = state.me.may_force && !!l && l.state !== "free";
    $("force").hidden = !(forcible && addressable(name));
    $("force-cli").hidden = !(forcible && !addressable(name));
    $("force-cli").textContent = addressable(name) ? "" :
      "A browser cannot address a lock named " + name + " (it reads %2E in an address as a dot segment), so it cannot force this one; use the CLI: locker unlock '" + name + "' --force";

    // Forget: for whom the server lets forget (may_forget), for what it
    // forgets: a free lock nobody waits for, in no pool (a member leaves
    // its pool first). A lock freed while the detail is open gets the
    // button on the redraw its event brings.
    const forgettable = state.me.may_forget && !!l && l.state === "free" && !l.waiters && poolsOf(l).length === 0;
    $("forget").hidden = !(forgettable && addressable(name));
    $("forget-cli").hidden = !(forgettable && !addressable(name));
    $("forget-cli").textContent = addressable(name) ? "" :
      "A browser cannot address a lock named " + name + ", so it cannot forget this one; use the CLI: locker forget '" + name + "'";

    show($("history"), JSON.stringify([state.historyError, state.history]), historyRows);
  }

  let historyTimer = null, historySeq = 0;

  function scheduleHistory() {
    if (historyTimer !== null) return;
    historyTimer = setTimeout(() => {
      historyTimer = null;
      loadHistory();
    }, 150);
  }

  async function loadHistory() {
    const name = state.selected;
    if (name === null) return;
    const seq = ++historySeq;
    let events = null, error = "";
    try {
      const h = await api("GET", lockPath(name) + "/history");
      events = Array.isArray(h && h.events) ? h.events : [];
    } catch (e) {
      // Listed, then gone (forgotten): not "No history.".
      error = e.status === 404 ? "The server no longer has this lock, nor its history." : "Could not load the history: " + e.message;
    }
    if (seq !== historySeq || state.selected !== name) return; // a newer load wins
    state.history = events;
    state.historyError = error;
    renderDetail();
  }

  // ---- Force release -----------------------------------------------------

  // forcing is what the confirmation dialog is about, while it is open: the
  // lock's name, the fence token its holds were taken under and the holders
  // (with their counts) it names. A live change of the lock redraws the
  // dialog; holders that join under the same fence are named too. The
  // release sends that fence: the server ends those holds only, and refuses
  // (423) if the lock was released and taken again since.
  let forcing = null; // { name, fence, key, holders: [[holder, count], ...] }

  // applyLock puts a lock's new state (from a change's answer) in the page
  // at once, in the pools it belongs to too; the reload that follows brings
  // the rest.
  function applyLock(r) {
    const { response, ...l } = r;
    state.locks.set(l.name, l);
    for (const p of state.pools.values()) {
      if (!p.members.has(l.name)) continue;
      p.members.set(l.name, l);
      p.free = [...p.members.values()].filter((m) => m.state === "free").length;
    }
  }

  function askForce() {
    const l = state.locks.get(state.selected);
    if (!l) return;
    forcing = { name: l.name, fence: Number(l.fence) || 0, key: l.key, holders: [] };
    renderConfirm();
    $("confirm").returnValue = "";
    $("confirm").showModal();
  }

  // renderConfirm fills in the dialog from the lock's state in the page.
  function renderConfirm() {
    if (forcing === null) return;
    const l = state.locks.get(forcing.name);
    const same = !!l && l.state !== "free" && (Number(l.fence) || 0) === forcing.fence;
    if (same) {
      forcing.key = l.key;
      forcing.holders = holdersOf(l).map((h) => [h, l.locked_by[h]]);
    }
    $("confirm-name").replaceChildren(userText(forcing.name));
    const items = forcing.holders.map(([h, count]) =>
      el("li", null, el("span", { class: "holder", user: h }), " (count " + count + ", key ", el("code", { class: "key", user: forcing.key }), ")")
    );
    $("confirm-holders").replaceChildren(...items);
    const changed = [];
    if (!same) {
      changed.push("Changed since this dialog opened: these holders released the lock");
      if (l && l.state !== "free") {
        changed.push(", and key ", el("span", { user: l.key }), " took it again (fence " + l.fence + ", ",
          ...joined(holdersOf(l).map((h) => el("span", { user: h }))), "). Forcing now releases nothing: the server keeps holds taken since.");
      } else {
        changed.push("; it is free. Forcing now releases nothing.");
      }
    }
    $("confirm-changed").replaceChildren(...changed);
  }

  // refreshForcing reads the lock the open dialog is about at once, so that
  // the dialog shows who holds it now without waiting for the next reload.
  let forcingSeq = 0;
  async function refreshForcing() {
    if (forcing === null) return;
    const name = forcing.name, seq = ++forcingSeq;
    let l;
    try {
      l = await api("GET", lockPath(name));
    } catch (e) {
      return; // the reload that follows the event brings it
    }
    if (seq !== forcingSeq || !l || l.name !== name) return;
    applyLock(l);
    render();
  }

  function setResult(text, kind) {
    const r = $("detail-result");
    r.replaceChildren(userText(text)); // the server's answers name the lock
    r.className = "result" + (kind ? " " + kind : "");
  }

  async function confirmed() {
    const f = forcing;
    forcing = null;
    $("confirm-changed").textContent = "";
    if ($("confirm").returnValue !== "force" || f === null) {
      if (!$("force").hidden) $("force").focus();
      return;
    }
    const name = f.name;
    setResult("Releasing " + name + "…");
    try {
      const r = await api("DELETE", lockPath(name) + "?force=true" + (f.fence > 0 ? "&fence=" + f.fence : ""));
      if (r && r.name === name) {
        applyLock(r);
        state.version++;
      }
      setResult(r && r.response ? r.response : "Released.", "ok");
    } catch (e) {
      // 423: the lock was released and taken again since the dialog named
      // its holders; nothing changed.
      showRefused(e, name, "Force release");
    }
    render();
    $("detail-title").focus();
    scheduleHistory();
    scheduleLoad();
  }

  // showRefused shows why a force or a forget of the lock name failed: on a
  // 423 (the lock changed since the dialog showed it; nothing was done) the
  // server's word and the lock as it is now, else what failed and why.
  function showRefused(e, name, what) {
    const now = e.status === 423 && e.body ? e.body.lock : null;
    if (now && typeof now === "object" && now.name === name) {
      applyLock(now);
      state.version++;
      setResult(e.message, "error");
    } else {
      setResult(what + " failed: " + e.message, "error");
    }
  }

  // ---- Forget ------------------------------------------------------------

  // forgetting is what the forget dialog is about, while it is open: the
  // lock's name and its last fence (a lock taken again after its forget
  // gets a higher one). As with a force, a live change of the lock redraws
  // the dialog, which then says that forgetting now will be refused; the
  // server decides, and its refusal is shown as it says it.
  let forgetting = null; // { name, fence }
  let forgetBusy = false; // a forget is on its way: no second dialog

  function askForget() {
    const l = state.locks.get(state.selected);
    if (!l || forgetBusy) return;
    forgetting = { name: l.name, fence: Number(l.fence) || 0 };
    renderForgetConfirm();
    $("forget-confirm").returnValue = "";
    $("forget-confirm").showModal();
  }

  function renderForgetConfirm() {
    if (forgetting === null) return;
    const l = state.locks.get(forgetting.name);
    if (l && l.state === "free") forgetting.fence = Number(l.fence) || 0; // taken and released meanwhile: higher
    $("forget-name").replaceChildren(userText(forgetting.name));
    $("forget-fence").textContent = forgetting.fence > 0 ? " (" + forgetting.fence + ")" : "";
    const changed = [];
    if (!l) {
      changed.push("Changed since this dialog opened: the page no longer lists this lock; it may be forgotten already.");
    } else if (l.state !== "free") {
      changed.push("Changed since this dialog opened: key ", el("span", { user: l.key }), " took it (fence " + l.fence + ", ",
        ...joined(holdersOf(l).map((h) => el("span", { user: h }))), "). Only a free lock can be forgotten: the server will refuse.");
    } else if (l.waiters) {
      changed.push("Changed since this dialog opened: " + l.waiters + " request(s) wait for it. Only a lock nobody waits for can be forgotten: the server will refuse.");
    } else if (poolsOf(l).length) {
      changed.push("Changed since this dialog opened: it was added to a pool. A pool member cannot be forgotten: the server will refuse.");
    }
    $("forget-changed").replaceChildren(...changed);
  }

  async function forgetConfirmed() {
    const f = forgetting;
    forgetting = null;
    $("forget-changed").textContent = "";
    if ($("forget-confirm").returnValue !== "forget" || f === null || forgetBusy) {
      // Back to the button, or, taken meanwhile and the button gone, to
      // the detail's title rather than the page's body.
      if (!$("forget").hidden) $("forget").focus();
      else if (state.selected !== null) $("detail-title").focus();
      return;
    }
    const name = f.name;
    forgetBusy = true;
    setResult("Forgetting " + name + "…");
    let r;
    try {
      r = await api("POST", lockPath(name) + "/forget");
    } catch (e) {
      forgetBusy = false;
      // 423: taken (or waited for) since the dialog opened; nothing was
      // forgotten. The detail stays on it.
      showRefused(e, name, "Forget");
      render();
      $("detail-title").focus();
      scheduleHistory();
      scheduleLoad();
      return;
    }
    forgetBusy = false;
    // Gone: out of the page at once (the forgotten event's reload agrees),
    // the detail closed, and the focus on the row that followed it (or
    // came before it, for the last) while the page still shows where it
    // was; the server's answer where the table is.
    const tr = [...$("rows").children].find((row) => row.dataset.name === name);
    const next = tr ? (tr.nextElementSibling?.dataset.name ?? tr.previousElementSibling?.dataset.name ?? null) : null;
    state.locks.delete(name);
    state.version++;
    if (state.selected === name) closeDetailTo(next);
    else render();
    $("locks-result").replaceChildren(userText(r && typeof r.response === "string" ? r.response : "Forgot " + name + " and its history."));
    scheduleLoad();
  }

  // ---- The event stream --------------------------------------------------

  // A browser gives a server six HTTP/1.1 connections, and an event stream
  // holds one for good: with a stream per tab, six tabs of this page used
  // them all, and their reloads (and a seventh tab) waited for ever. So one
  // tab of the browser, the leader, holds the stream and relays its events
  // and its state (live, down, connecting) to this server's other tabs over
  // a BroadcastChannel; they open no stream of their own.
  //
  // The leader is elected with the Web Locks API where the browser has it
  // (only in secure contexts: https, localhost): it holds the lock for the
  // tab's life, and when the tab closes (or dies) the next tab in line gets
  // it and opens the stream. Plain http to a host name has no Web Locks:
  // there the tabs elect one over the channel. A tab that hears no leader
  // claims the place and waits a moment; a leader's answer, or a claim from
  // a tab with a lower id, makes it give up. Two leaders (claims that
  // crossed) meet when either speaks, and the higher id steps down.
  //
  // Followers ask the leader how its stream is every few seconds (a leader
  // answers from its message handler, which a browser does not slow down in
  // a background tab, unlike timers); after two questions without an answer
  // they take the leader for gone: they say "connecting…" and, without Web
  // Locks, claim the place. A leader that closes says so ("bye") at once.
  // Without BroadcastChannel every tab holds its own stream.
  //
  // A stream can hang without a word (a proxy that buffers it, a network
  // that went away): the server's heartbeat, a comment, never reaches a
  // page, so the page showed it "live" for good. It asks for a ping event
  // (ping=true) instead, every 15 s and once at the start, and is live from
  // the stream's first message, not its headers. A stream that said nothing
  // for two pings and a margin is taken for dead: the page says so and opens
  // another (and reads everything again). The check also runs when another
  // tab asks (a background tab's timers may be slowed); the tabs relayed to
  // hear the state as ever.
  const eventTypes = ["acquired", "released", "expired", "forced", "refreshed", "added", "removed", "forgotten"];
  const tabId = Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  let source = null, retryTimer = null, retryDelay = 1000;
  let role = "alone"; // "alone" (own stream, no channel), "leader" or "follower"
  let channel = null, withLocks = false, connState = "connecting";
  let heard = false, unanswered = 0, claiming = false, beaten = false;
  let heardAt = 0; // when the stream last said anything (or was opened)

  // stale dims what the page shows (style.css) when it may be out of date:
  // its stream is down and its last read failed. A stream that is down
  // while reads are answered (refused, 503, while the server's places for
  // streams are all held; the page reads every few seconds meanwhile) left
  // current locks dimmed for as long as it was refused. The tab's title
  // says so too, for a page left in a background tab.
  function stale() {
    const offline = connState === "down" && state.loadError !== "";
    document.body.classList.toggle("offline", offline);
    document.title = offline ? "Locker (disconnected)" : "Locker";
  }

  function setConn(s) {
    const was = connState;
    connState = s;
    const c = $("conn");
    c.dataset.state = s;
    c.dataset.stream = role === "follower" ? "relayed" : "own";
    c.title = role === "follower" ? "Changes reach this tab through another tab of this page, which holds the server's event stream"
      : role === "leader" ? "This tab holds the server's event stream, and passes it on to this page's other tabs" : "";
    $("conn-text").textContent = { live: "live", down: "disconnected — reconnecting…", connecting: "connecting…" }[s];
    stale();
    // Down: read at once, to learn whether the server is gone or only its
    // stream.
    if (s === "down" && was !== "down") scheduleLoad(0);
    tell({ t: "conn", state: s });
  }

  // opened catches up once the stream is live (again): events may have been
  // missed while it was down (or before it opened), so read everything
  // again, who the user is too.
  function opened() {
    scheduleLoad(0);
    loadMe();
    if (state.selected !== null) scheduleHistory();
  }

  function onEvent(data) {
    let ev = null;
    try {
      ev = JSON.parse(data);
    } catch (e) {
      ev = null;
    }
    scheduleLoad();
    if (state.selected !== null && (!ev || ev.lock === state.selected)) scheduleHistory();
    if (forcing !== null && (!ev || ev.lock === forcing.name)) refreshForcing();
  }

  function connect() {
    retryTimer = null;
    heardAt = Date.now();
    if (source) source.close();
    const es = new EventSource(apiURL("events?ping=true"));
    source = es;
    const said = () => {
      heardAt = Date.now();
      if (connState === "live") return;
      retryDelay = 1000;
      setConn("live");
      opened();
    };
    es.addEventListener("ping", () => {
      if (es === source) said();
    });
    for (const type of eventTypes) {
      es.addEventListener(type, (msg) => {
        if (es !== source) return;
        said();
        tell({ t: "event", data: msg.data });
        onEvent(msg.data);
      });
    }
    es.addEventListener("error", () => {
      if (es !== source) return;
      setConn("down");
      // CONNECTING: the browser retries by itself. CLOSED (the server
      // answered with an error, e.g. 401 or 503): retry ourselves, slower
      // each time.
      if (es.readyState === EventSource.CLOSED && retryTimer === null) {
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 15000);
      }
    });
  }

  // quiet: a stream silent for two pings (15 s each) and a margin hangs.
  function quiet() {
    if (source && source.readyState !== EventSource.CLOSED && Date.now() - heardAt > 35000) {
      setConn("down");
      connect();
    }
  }

  // post sends a message to this server's other tabs; tell does, from the
  // leader only.
  function post(m) {
    if (channel !== null) channel.postMessage({ ...m, from: tabId });
  }

  function tell(m) {
    if (role === "leader") post(m);
  }

  function lead() {
    if (role === "leader") return;
    role = "leader";
    setConn("connecting");
    connect();
  }

  // follow makes this tab a follower: a leader that found another (claims
  // that crossed, or a page back from the back/forward cache) or that is
  // leaving.
  function follow() {
    role = "follower";
    if (source) source.close();
    source = null;
    clearTimeout(retryTimer);
    retryTimer = null;
    heard = false;
    unanswered = 0;
  }

  // followConn shows the leader's state, and catches up when it goes live.
  function followConn(s) {
    if (s !== "live" && s !== "down" && s !== "connecting") return;
    const was = connState;
    setConn(s);
    if (s === "live" && was !== "live") opened();
  }

  function claim() {
    if (role !== "follower" || claiming || withLocks) return;
    claiming = true;
    beaten = false;
    post({ t: "claim" });
    setTimeout(() => {
      claiming = false;
      if (role === "follower" && !beaten) lead();
    }, 300);
  }

  // leaderGone: no leader answers; say so, and take its place if we may.
  function leaderGone() {
    if (connState !== "connecting") followConn("connecting");
    claim();
  }

  function onMessage(e) {
    const m = e.data;
    if (m === null || typeof m !== "object" || typeof m.from !== "string" || m.from === tabId) return;
    switch (m.t) {
      case "conn":
      case "event":
        // From a leader.
        if (role === "leader") {
          if (m.from > tabId) {
            tell({ t: "conn", state: connState }); // it steps down when it hears us
            return;
          }
          follow();
          setConn(connState);
        }
        if (role !== "follower") return;
        heard = true;
        beaten = true;
        if (m.t === "event") onEvent(m.data);
        else followConn(m.state);
        break;
      case "hello":
      case "claim":
        if (role === "leader") {
          quiet();
          tell({ t: "conn", state: connState });
        } else if (m.t === "claim" && claiming && m.from < tabId) beaten = true;
        break;
      case "bye":
        if (role === "follower") leaderGone();
        break;
    }
  }

  // watch asks the leader how its stream is; no answer to two questions in
  // a row means there is none.
  function watch() {
    if (role !== "follower") return;
    unanswered = heard ? 0 : unanswered + 1;
    heard = false;
    if (unanswered >= 2) leaderGone();
    post({ t: "hello" });
  }

  function startStream() {
    setInterval(quiet, 5000);
    if (typeof BroadcastChannel !== "function") {
      setConn("connecting");
      connect();
      return;
    }
    channel = new BroadcastChannel("locker events " + apiURL("events"));
    channel.addEventListener("message", onMessage);
    role = "follower";
    setConn("connecting");
    post({ t: "hello" });
    withLocks = !!(navigator.locks && typeof navigator.locks.request === "function");
    if (withLocks) {
      // Held until the tab closes: the promise never settles.
      navigator.locks.request(channel.name, () => {
        lead();
        return new Promise(() => {});
      }).catch(() => {
        withLocks = false;
        claim();
      });
    } else {
      setTimeout(() => {
        if (!heard) claim();
      }, 300);
    }
    setInterval(watch, 3000);
    // A leader that leaves says so. With Web Locks it keeps the lock until
    // the page is gone (a page that holds one is not kept for the back
    // button): should it come back, it leads again. Without, it gives up
    // the place, and comes back a follower.
    window.addEventListener("pagehide", () => {
      if (role !== "leader") return;
      post({ t: "bye" });
      if (withLocks) {
        if (source) source.close();
        source = null;
      } else {
        follow();
      }
    });
    window.addEventListener("pageshow", (e) => {
      if (!e.persisted) return;
      if (role === "leader") {
        setConn("connecting");
        connect();
      } else {
        post({ t: "hello" });
      }
    });
  }

  // loadMe reads who the user is. A browser sends a login only once the
  // server asked for one: with only LOCKER_ADMIN_USER set, nothing asks, and
  // whoami says sign_in. The "Sign in" link then leads to GET signin, which
  // asks, and comes back here with the login.
  // It runs at start and again whenever the event stream (re)opens: a
  // whoami that failed (the page opened while the server restarted) must not
  // hide Force release for good. The answer of the latest call wins; a
  // failed call changes nothing.
  let meSeq = 0, meShown = 0;
  async function loadMe() {
    const seq = ++meSeq;
    let me;
    try {
      me = await api("GET", "whoami");
    } catch (e) {
      return; // keep what the last answer said; the next (re)open asks again
    }
    if (seq < meShown) return; // a newer answer is shown already
    meShown = seq;
    state.me = { user: String((me && me.user) || ""), may_force: !!(me && me.may_force), may_forget: !!(me && me.may_forget), sign_in: !!(me && me.sign_in) };
    const who = [];
    if (state.me.user) who.push("signed in as " + state.me.user + (state.me.may_force ? " (may force release)" : ""));
    if (state.me.sign_in) {
      if (who.length) who.push(" · ");
      who.push(el("a", { id: "signin", href: "signin", title: "Sign in with the login of a user who may force a release", text: "Sign in" }));
    }
    $("who").replaceChildren(...who);
    render();
  }

  // ---- Start -------------------------------------------------------------

  function start() {
    // Filtering thousands of locks takes a while: redraw once typing
    // pauses, not for every keystroke.
    let filterTimer = null;
    $("filter").addEventListener("input", () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(render, 150);
    });
    // "/" from anywhere goes to the filter: it comes after the pools, and a
    // pool of 30 members took 30 presses of Tab to get past. Not from a
    // field (the filter itself takes "/" as a character: names hold them)
    // nor with the dialog open, nor with a modifier (a keyboard layout that
    // needs Shift for "/" still sends the key "/").
    document.addEventListener("keydown", (e) => {
      if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
      const t = e.target;
      if (t instanceof Element && t.closest("input, textarea, select, [contenteditable], dialog")) return;
      e.preventDefault();
      $("filter").focus();
      $("filter").select();
    });
    for (const b of document.querySelectorAll("#locks thead button.sort")) b.addEventListener("click", () => sortOn(b.dataset.sort));
    $("detail-close").addEventListener("click", closeDetail);
    // A click on the dimmed page around the drawer (main's backdrop,
    // style.css) closes it, as a click outside a drawer does elsewhere.
    $("main").addEventListener("click", (e) => {
      if (e.target === e.currentTarget && narrow.matches && state.selected !== null) closeDetail();
    });
    narrow.addEventListener("change", () => {
      overlay();
      markEntry();
    });
    window.addEventListener("popstate", onPopState);
    // The drawer is modal: Escape closes it also when the focus is not in
    // it (a click on its text leaves the focus on the page's body). Not
    // from the force-release dialog, whose Escape is its own Cancel.
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || state.selected === null || !narrow.matches) return;
      if (e.target instanceof Element && e.target.closest("dialog, #detail")) return;
      closeDetail();
    });
    $("detail").addEventListener("keydown", (e) => {
      if (e.key === "Escape") closeDetail();
    });
    $("force").addEventListener("click", askForce);
    $("confirm").addEventListener("close", confirmed);
    $("forget").addEventListener("click", askForget);
    $("forget-confirm").addEventListener("close", forgetConfirmed);
    setInterval(tick, 1000);
    setInterval(poll, 1000);
    document.addEventListener("visibilitychange", () => {
      tick(true);
      poll();
    });
    render();
    restoreEntry();
    loadMe();
    load();
    startStream();
  }

  start();
})();
