package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocsExamples runs the curl examples of the user docs (the README's
// "Using the API", docs/api.md, docs/pools.md) against the
// real binary, in the order the docs show them, and compares each answer
// with the reply the doc prints, so that the docs cannot drift from what
// the server does.
//
// The convention, which docs/api.md describes to its writers in a comment
// at its top:
//
//   - Only ```console blocks are run. In them, a line "$ curl …" is a
//     request; the lines after it, up to the next "$ " line, a blank line
//     or a "#" comment line, are its reply. A request without a reply must
//     answer 200. "$ B=…" lines are skipped ($B is the test's server).
//   - A reply is the JSON the server sends, wrapped as the doc likes, or,
//     after "curl -i", a status line and the headers worth showing
//     before it. "…" elides: as a member of an object, the members not
//     shown ({…} any object; {"a":1, …} at least a); as a value, any
//     value; inside a string, any text. Timestamps match any timestamp,
//     and a header's duration (Locker-Lease) any up to 5s longer.
//     A trailing "# 423" gives the status (200 if none is given).
//   - "curl … &" runs in the background: the test waits until the server
//     counts it among its waiters. "$ wait %N" waits for the Nth
//     background request of the block; the reply after it is that
//     request's.
//   - An HTML comment right before a block, "<!-- doctest … -->", says how
//     to run it: "skip: why" skips it; "server ENV=… …" starts a new server
//     (with that environment) for it and the blocks after it; its further
//     lines "$ curl …" are set-up requests run first (each must answer
//     2xx), for examples that show a state the doc does not build.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"README.md", "docs/api.md", "docs/pools.md"} {
		doc := filepath.Base(path)
		t.Run(doc, func(t *testing.T) {
			t.Parallel()
			blocks, err := readDocBlocks(filepath.Join("..", filepath.FromSlash(path)))
			if err != nil {
				t.Fatal(err)
			}
			if len(blocks) == 0 {
				t.Fatalf("no console blocks found in %s", doc)
			}
			r := &docRunner{t: t, doc: doc}
			ran := 0
			for _, b := range blocks {
				if b.skip != "" || !httpExample(t, doc, b) {
					continue
				}
				r.runBlock(b)
				ran++
			}
			t.Logf("%s: ran %d of %d console blocks", doc, ran, len(blocks))
		})
	}
}

// httpExample reports whether a block shows HTTP requests (curl) rather
// than, say, the locker command's; one that mixes them is an error.
func httpExample(t *testing.T, doc string, b docBlock) bool {
	curl, other := 0, 0
	for _, l := range b.lines {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(l), "$ ")
		switch {
		case !ok || strings.HasPrefix(cmd, "B=") || strings.HasPrefix(cmd, "wait %"):
		case strings.HasPrefix(cmd, "curl "):
			curl++
		default:
			other++
		}
	}
	if curl > 0 && other > 0 {
		t.Fatalf("%s:%d: a console block mixes curl with other commands; split it, or skip it with a doctest comment", doc, b.line)
	}
	return curl > 0
}

// docBlock is one ```console block and the doctest comment before it.
type docBlock struct {
	line  int // of the opening fence, 1-based
	lines []string
	skip  string   // why the block is not run
	fresh bool     // start a new server for it
	env   []string // the new server's environment
	setup []string // hidden requests run first
}

func readDocBlocks(path string) ([]docBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks  []docBlock
		pending *docBlock // from a doctest comment, waiting for its block
		comment *docBlock // inside a doctest comment
		cur     *docBlock // inside a console block
		fence   string    // inside any other fenced block: its fence
	)
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil:
			if trimmed == "```" {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			// Kept as written; lines are trimmed where they are read.
			cur.lines = append(cur.lines, strings.TrimRight(line, " "))
		case fence != "":
			if trimmed == fence {
				fence = ""
			}
		case comment != nil:
			if trimmed == "-->" {
				pending, comment = comment, nil
			} else if cmd, ok := strings.CutPrefix(trimmed, "$ "); ok {
				comment.setup = append(comment.setup, cmd)
			} else if trimmed != "" {
				return nil, fmt.Errorf("%s:%d: in a doctest comment, only \"$ curl …\" lines may follow", path, n)
			}
		case strings.HasPrefix(trimmed, "<!-- doctest"):
			d := &docBlock{}
			words := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(trimmed, "<!-- doctest"), "-->"))
			switch {
			case len(words) > 0 && words[0] == "skip:":
				d.skip = strings.Join(words[1:], " ")
			case len(words) > 0 && words[0] == "server":
				d.fresh, d.env = true, words[1:]
			default:
				return nil, fmt.Errorf("%s:%d: a doctest comment says \"skip: why\" or \"server ENV=…\"", path, n)
			}
			if d.skip == "" && !strings.HasSuffix(trimmed, "-->") {
				comment = d
			} else if d.skip != "" && !strings.HasSuffix(trimmed, "-->") {
				return nil, fmt.Errorf("%s:%d: a skip comment is one line", path, n)
			} else {
				pending = d
			}
		case trimmed == "```console":
			cur = &docBlock{}
			if pending != nil {
				cur = pending
				pending = nil
			}
			cur.line = n
		case strings.HasPrefix(trimmed, "```"):
			fence = "```"
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: a doctest comment must come right before a ```console block", path, n)
			}
		case pending != nil && trimmed != "":
			return nil, fmt.Errorf("%s:%d: a doctest comment must come right before a ```console block", path, n)
		}
	}
	if cur != nil || comment != nil || pending != nil {
		return nil, fmt.Errorf("%s: a console block or doctest comment is not closed", path)
	}
	return blocks, sc.Err()
}

// docRunner runs one doc's blocks, in order, on its current server.
type docRunner struct {
	t    *testing.T
	doc  string
	srv  *server
	user string // AUTH_USER:AUTH_PASS of the server, for the test's own reads
}

func (r *docRunner) start(env []string) {
	r.srv = startServer(r.t, env)
	var user, pass string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "AUTH_USER="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(e, "AUTH_PASS="); ok {
			pass = v
		}
	}
	r.user = ""
	if user != "" {
		r.user = user + ":" + pass
	}
}

// docJob is a request run in the background ("curl … &").
type docJob struct {
	req     *docRequest
	done    chan struct{}
	resp    docResponse
	err     error
	checked bool // against the reply after its "$ wait %N"
}

func (r *docRunner) runBlock(b docBlock) {
	t := r.t
	t.Helper()
	if b.fresh || r.srv == nil {
		r.start(b.env)
	}
	where := func(i int) string { return fmt.Sprintf("%s:%d", r.doc, b.line+1+i) }
	for _, s := range b.setup {
		req, err := parseCurl(s, r.srv.URL)
		if err != nil {
			t.Fatalf("%s: set-up %q: %v", where(-1), s, err)
		}
		resp, err := req.do()
		if err != nil || resp.status/100 != 2 {
			t.Fatalf("%s: set-up %q: %d %s %v", where(-1), s, resp.status, resp.body, err)
		}
	}
	var jobs []*docJob
	defer func() {
		for _, j := range jobs {
			<-j.done // each has a deadline of its own
		}
	}()
	for i := 0; i < len(b.lines); {
		if l := strings.TrimSpace(b.lines[i]); l == "" || strings.HasPrefix(l, "#") {
			i++
			continue
		}
		cmd, ok := strings.CutPrefix(strings.TrimSpace(b.lines[i]), "$ ")
		if !ok {
			t.Fatalf("%s: expected a \"$ \" command, found %q", where(i), b.lines[i])
		}
		at := i
		i++
		var reply []string
		for i < len(b.lines) {
			l := strings.TrimSpace(b.lines[i])
			if l == "" || strings.HasPrefix(l, "$ ") || strings.HasPrefix(l, "#") {
				break
			}
			reply = append(reply, l)
			i++
		}
		if strings.HasPrefix(cmd, "B=") {
			continue
		}
		if n, ok := strings.CutPrefix(docStripComment(cmd), "wait %"); ok {
			k, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || k < 1 || k > len(jobs) {
				t.Fatalf("%s: %q names no background request of this block", where(at), cmd)
			}
			j := jobs[k-1]
			select {
			case <-j.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: background request %q did not finish within 30s", where(at), j.req.source)
			}
			if j.err != nil {
				t.Fatalf("%s: %q: %v", where(at), j.req.source, j.err)
			}
			if err := docMatchReply(j.resp, reply); err != nil {
				t.Errorf("%s: %s\n%v\n got: %d %s", where(at), j.req.source, err, j.resp.status, j.resp.body)
			}
			j.checked = true
			continue
		}
		req, err := parseCurl(cmd, r.srv.URL)
		if err != nil {
			t.Fatalf("%s: %q: %v", where(at), cmd, err)
		}
		if req.background {
			if len(reply) > 0 {
				t.Fatalf("%s: a background request's reply goes after \"$ wait %%N\"", where(at))
			}
			before := r.waiters()
			j := &docJob{req: req, done: make(chan struct{})}
			jobs = append(jobs, j)
			go func() {
				defer close(j.done)
				j.resp, j.err = req.do()
			}()
			r.awaitQueued(j, before, where(at))
			continue
		}
		resp, err := req.do()
		if err != nil {
			t.Fatalf("%s: %q: %v", where(at), cmd, err)
		}
		if err := docMatchReply(resp, reply); err != nil {
			t.Errorf("%s: %s\n%v\n got: %d %s", where(at), cmd, err, resp.status, resp.body)
		}
	}
	for k, j := range jobs {
		select {
		case <-j.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: background request %%%d (%q) did not finish by the end of its block", where(-1), k+1, j.req.source)
		}
		if j.err != nil {
			t.Errorf("%s: background request %%%d (%q): %v", where(-1), k+1, j.req.source, j.err)
		} else if !j.checked && j.resp.status != http.StatusOK {
			t.Errorf("%s: background request %%%d (%q) answered %d %s", where(-1), k+1, j.req.source, j.resp.status, j.resp.body)
		}
	}
}

// waiters is how many requests wait on the server: the locks' and the
// pools' waiters added up (either count growing is what awaitQueued needs).
func (r *docRunner) waiters() int {
	n := 0
	for _, path := range []string{"/locks", "/pools"} {
		req := &docRequest{method: "GET", url: r.srv.URL + path, user: r.user}
		resp, err := req.do()
		if err != nil || resp.status != http.StatusOK {
			r.t.Fatalf("reading %s for its waiters: %d %s %v", path, resp.status, resp.body, err)
		}
		var m map[string]struct{ Waiters int }
		if err := json.Unmarshal([]byte(resp.body), &m); err != nil {
			r.t.Fatalf("reading %s for its waiters: %v", path, err)
		}
		for _, v := range m {
			n += v.Waiters
		}
	}
	return n
}

// awaitQueued waits until the background request j waits on the server
// (the waiters grew) or was answered, so that the next request comes
// after it in line, as it does for someone typing the example.
func (r *docRunner) awaitQueued(j *docJob, before int, where string) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-j.done:
			return
		default:
		}
		if r.waiters() > before {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: background request %q neither waited nor was answered within 20s", where, j.req.source)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// docRequest is one curl command line.
type docRequest struct {
	source     string
	method     string
	url        string
	body       *string
	user       string // user:password
	headers    [][2]string
	background bool
	grep       *regexp.Regexp // "| grep 'pattern'": keep the matching lines
}

type docResponse struct {
	status int
	header http.Header
	body   string
}

var docClient = &http.Client{
	Timeout: 60 * time.Second,
	// curl does not follow redirects without -L.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (q *docRequest) do() (docResponse, error) {
	var body io.Reader
	if q.body != nil {
		body = strings.NewReader(*q.body)
	}
	req, err := http.NewRequest(q.method, q.url, body)
	if err != nil {
		return docResponse{}, err
	}
	if q.body != nil {
		// What curl -d sends.
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.user != "" {
		u, p, _ := strings.Cut(q.user, ":")
		req.SetBasicAuth(u, p)
	}
	for _, h := range q.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := docClient.Do(req)
	if err != nil {
		return docResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return docResponse{}, err
	}
	out := docResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if q.grep != nil {
		var kept []string
		for _, l := range strings.Split(out.body, "\n") {
			if q.grep.MatchString(l) {
				kept = append(kept, l)
			}
		}
		out.body = strings.Join(kept, "\n")
	}
	return out, nil
}

// docStripComment cuts a shell comment (" #…" outside quotes) off a line.
func docStripComment(s string) string {
	var quote rune
	escaped := false
	for i, c := range s {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

// docShellWords splits a command line as sh would, expanding $B (and only
// it), and returns "|" and "&" as words of their own.
func docShellWords(s, base string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // a word is started
	)
	flush := func() {
		if in {
			words = append(words, cur.String())
		}
		cur.Reset()
		in = false
	}
	expand := func(rest string) (int, error) {
		if strings.HasPrefix(rest, "$B") {
			cur.WriteString(base)
			return 2, nil
		}
		return 0, fmt.Errorf("only $B may be expanded, at %q", rest)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
			i++
		case c == '|' || c == '&' || c == ';':
			flush()
			words = append(words, string(c))
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '")
			}
			cur.WriteString(s[i+1 : i+1+end])
			in = true
			i += end + 2
		case c == '"':
			in = true
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unclosed \"")
				}
				if s[i] == '"' {
					i++
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					cur.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '$' {
					n, err := expand(s[i:])
					if err != nil {
						return nil, err
					}
					i += n
					continue
				}
				cur.WriteByte(s[i])
				i++
			}
		case c == '$':
			n, err := expand(s[i:])
			if err != nil {
				return nil, err
			}
			in = true
			i += n
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			in = true
			i += 2
		default:
			cur.WriteByte(c)
			in = true
			i++
		}
	}
	flush()
	return words, nil
}

// parseCurl reads a curl command line of the docs. Options it does not
// know are an error, so that an example the test cannot run faithfully
// fails rather than being run otherwise.
func parseCurl(line, base string) (*docRequest, error) {
	words, err := docShellWords(docStripComment(line), base)
	if err != nil {
		return nil, err
	}
	if docIndexOf(words, ";") >= 0 {
		return nil, fmt.Errorf("one command a line, please (no ;)")
	}
	q := &docRequest{source: line}
	if n := len(words); n > 0 && words[n-1] == "&" {
		q.background = true
		words = words[:n-1]
	}
	if i := docIndexOf(words, "|"); i >= 0 {
		rest := words[i+1:]
		if len(rest) != 2 || rest[0] != "grep" {
			return nil, fmt.Errorf("only \"| grep 'pattern'\" may follow a request")
		}
		if q.grep, err = regexp.Compile(rest[1]); err != nil {
			return nil, err
		}
		words = words[:i]
	}
	if len(words) == 0 || words[0] != "curl" {
		return nil, fmt.Errorf("not a curl command")
	}
	for i := 1; i < len(words); i++ {
		w := words[i]
		arg := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs a value", w)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "-X" || w == "--request":
			if q.method, err = arg(); err != nil {
				return nil, err
			}
		case w == "-d" || w == "--data" || w == "--data-raw":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			q.body = &v
		case w == "-u" || w == "--user":
			if q.user, err = arg(); err != nil {
				return nil, err
			}
		case w == "-H" || w == "--header":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			name, value, ok := strings.Cut(v, ":")
			if !ok {
				return nil, fmt.Errorf("bad header %q", v)
			}
			q.headers = append(q.headers, [2]string{name, strings.TrimSpace(value)})
		case strings.HasPrefix(w, "-") && strings.Trim(w[1:], "isSNf") == "" && len(w) > 1:
			// -i (the reply shows the status and headers), -s, -S, -N, -f:
			// they change only what curl prints.
		case strings.HasPrefix(w, "-"):
			return nil, fmt.Errorf("the test does not know curl's %s", w)
		default:
			if q.url != "" {
				return nil, fmt.Errorf("two URLs")
			}
			q.url = w
		}
	}
	if q.url == "" {
		return nil, fmt.Errorf("no URL")
	}
	if !strings.HasPrefix(q.url, base) {
		return nil, fmt.Errorf("the URL %q is not on $B", q.url)
	}
	if q.method == "" {
		q.method = "GET"
		if q.body != nil {
			q.method = "POST"
		}
	}
	return q, nil
}

func docIndexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

var (
	docStatusComment = regexp.MustCompile(`\s+#\s*([1-5][0-9][0-9])\b[^"]*$`)
	docStatusLine    = regexp.MustCompile(`^HTTP/[0-9.]+ ([1-5][0-9][0-9])\b`)
	docTimestamp     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
)

// docMatchReply compares an answer with the reply a doc shows for it.
func docMatchReply(resp docResponse, reply []string) error {
	want := http.StatusOK
	var headers, body []string
	for i, l := range reply {
		if m := docStatusComment.FindStringSubmatch(l); m != nil {
			want, _ = strconv.Atoi(m[1])
			l = strings.TrimSpace(l[:len(l)-len(m[0])])
		}
		if m := docStatusLine.FindStringSubmatch(l); i == 0 && m != nil {
			want, _ = strconv.Atoi(m[1])
			continue
		}
		// After a status line ("curl -i"), the headers the doc shows, up
		// to the body.
		if len(body) == 0 && docStatusLine.MatchString(reply[0]) && !strings.HasPrefix(l, "{") && !strings.HasPrefix(l, "[") {
			headers = append(headers, l)
			continue
		}
		body = append(body, l)
	}
	var problems []string
	if resp.status != want {
		problems = append(problems, fmt.Sprintf("status %d, the doc shows %d", resp.status, want))
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("the doc's header line %q has no colon", h)
		}
		value = strings.TrimSpace(value)
		got, present := resp.header[http.CanonicalHeaderKey(name)]
		if !present {
			problems = append(problems, fmt.Sprintf("no header %s, the doc shows %q", name, value))
		} else if d, err := time.ParseDuration(value); err == nil {
			// A duration (Locker-Lease) counts the time the request took
			// before its change: as shown, or a little more.
			g, err := time.ParseDuration(strings.Join(got, ", "))
			if err != nil || g < d || g > d+5*time.Second {
				problems = append(problems, fmt.Sprintf("header %s is %q, the doc shows %q (or up to 5s more)", name, strings.Join(got, ", "), value))
			}
		} else if !docGlobMatch(value, strings.Join(got, ", ")) {
			problems = append(problems, fmt.Sprintf("header %s is %q, the doc shows %q", name, strings.Join(got, ", "), value))
		}
	}
	if len(body) > 0 {
		text := strings.Join(body, "\n")
		if strings.HasPrefix(text, "{") || strings.HasPrefix(text, "[") {
			pat, err := parseDocPattern(text)
			if err != nil {
				return fmt.Errorf("the doc's reply is not a JSON pattern: %v\n%s", err, text)
			}
			// What docs/api.md's Responses promises of every JSON answer.
			if ct := resp.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				problems = append(problems, fmt.Sprintf("Content-Type is %q, not application/json; charset=utf-8", ct))
			}
			if resp.header.Get("X-Content-Type-Options") != "nosniff" {
				problems = append(problems, "no X-Content-Type-Options: nosniff")
			}
			if !strings.HasSuffix(resp.body, "\n") {
				problems = append(problems, "the answer does not end with a newline")
			}
			var got any
			dec := json.NewDecoder(strings.NewReader(resp.body))
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil {
				problems = append(problems, fmt.Sprintf("the answer is not JSON: %v", err))
			} else {
				problems = append(problems, pat.match(got, "")...)
			}
		} else if w, g := docTimestamp.ReplaceAllString(text, "<time>"), docTimestamp.ReplaceAllString(strings.TrimRight(resp.body, "\n"), "<time>"); !docGlobMatch(w, g) {
			problems = append(problems, fmt.Sprintf("the answer is %q, the doc shows %q", g, w))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// docGlobMatch reports whether s is pattern, with each "…" standing for any
// text.
func docGlobMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "…")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// docPattern is a JSON value as a doc shows it, "…" and all.
type docPattern struct {
	kind    byte // '{', '[', '"', '0' (number, true, false, null: its text), '*' (anything)
	text    string
	members map[string]*docPattern
	open    bool // an object with "…" among its members
	elems   []*docPattern
}

func parseDocPattern(s string) (*docPattern, error) {
	p := &docPatternParser{s: s}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("text after the value: %q", p.s[p.i:])
	}
	return v, nil
}

type docPatternParser struct {
	s string
	i int
}

const docEllipsis = "…"

func (p *docPatternParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *docPatternParser) value() (*docPattern, error) {
	p.space()
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, docEllipsis):
		p.i += len(docEllipsis)
		return &docPattern{kind: '*'}, nil
	case strings.HasPrefix(rest, "{"):
		p.i++
		v := &docPattern{kind: '{', members: map[string]*docPattern{}}
		for {
			p.space()
			if strings.HasPrefix(p.s[p.i:], "}") {
				p.i++
				return v, nil
			}
			if len(v.members) > 0 || v.open {
				if !strings.HasPrefix(p.s[p.i:], ",") {
					return nil, fmt.Errorf("expected , or } at %q", p.s[p.i:])
				}
				p.i++
				p.space()
			}
			if strings.HasPrefix(p.s[p.i:], docEllipsis) {
				p.i += len(docEllipsis)
				v.open = true
				continue
			}
			k, err := p.value()
			if err != nil {
				return nil, err
			}
			if k.kind != '"' {
				return nil, fmt.Errorf("an object's key must be a string")
			}
			p.space()
			if !strings.HasPrefix(p.s[p.i:], ":") {
				return nil, fmt.Errorf("expected : at %q", p.s[p.i:])
			}
			p.i++
			val, err := p.value()
			if err != nil {
				return nil, err
			}
			if _, dup := v.members[k.text]; dup {
				return nil, fmt.Errorf("the key %q twice", k.text)
			}
			v.members[k.text] = val
		}
	case strings.HasPrefix(rest, "["):
		p.i++
		v := &docPattern{kind: '['}
		for {
			p.space()
			if strings.HasPrefix(p.s[p.i:], "]") {
				p.i++
				return v, nil
			}
			if len(v.elems) > 0 {
				if !strings.HasPrefix(p.s[p.i:], ",") {
					return nil, fmt.Errorf("expected , or ] at %q", p.s[p.i:])
				}
				p.i++
			}
			e, err := p.value()
			if err != nil {
				return nil, err
			}
			v.elems = append(v.elems, e)
		}
	case strings.HasPrefix(rest, `"`):
		dec := json.NewDecoder(strings.NewReader(rest))
		var s string
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("bad string at %q: %v", rest, err)
		}
		p.i += int(dec.InputOffset())
		return &docPattern{kind: '"', text: s}, nil
	default:
		dec := json.NewDecoder(strings.NewReader(rest))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("bad value at %q: %v", rest, err)
		}
		if _, ok := x.(map[string]any); ok {
			return nil, fmt.Errorf("bad value at %q", rest)
		}
		p.i += int(dec.InputOffset())
		return &docPattern{kind: '0', text: strings.TrimSpace(rest[:dec.InputOffset()])}, nil
	}
}

// match lists where got differs from the pattern.
func (v *docPattern) match(got any, path string) []string {
	at := path
	if at == "" {
		at = "the answer"
	}
	switch v.kind {
	case '*':
		return nil
	case '{':
		m, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, the doc shows an object", at, docShow(got))}
		}
		var out []string
		keys := make([]string, 0, len(v.members))
		for k := range v.members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			g, ok := m[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s has no field %q, which the doc shows", at, k))
				continue
			}
			out = append(out, v.members[k].match(g, path+"."+k)...)
		}
		if !v.open {
			var extra []string
			for k := range m {
				if _, ok := v.members[k]; !ok {
					extra = append(extra, k)
				}
			}
			sort.Strings(extra)
			for _, k := range extra {
				out = append(out, fmt.Sprintf("%s has the field %q (%s), which the doc does not show (nor elides with …)", at, k, docShow(m[k])))
			}
		}
		return out
	case '[':
		a, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, the doc shows an array", at, docShow(got))}
		}
		if len(a) != len(v.elems) {
			return []string{fmt.Sprintf("%s has %d elements, the doc shows %d", at, len(a), len(v.elems))}
		}
		var out []string
		for i, e := range v.elems {
			out = append(out, e.match(a[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case '"':
		s, ok := got.(string)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, the doc shows a string", at, docShow(got))}
		}
		if !docGlobMatch(docTimestamp.ReplaceAllString(v.text, "<time>"), docTimestamp.ReplaceAllString(s, "<time>")) {
			return []string{fmt.Sprintf("%s is %q, the doc shows %q", at, s, v.text)}
		}
		return nil
	default:
		if g := docShow(got); g != v.text {
			return []string{fmt.Sprintf("%s is %s, the doc shows %s", at, g, v.text)}
		}
		return nil
	}
}

func docShow(x any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(x)
	return strings.TrimSpace(b.String())
}
