package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDocLinks: every relative link in the Markdown files (README.md,
// docs/, the testdata READMEs) leads to a file that exists and, with a
// "#anchor", to a heading (or an <a id>) of that file, as GitHub renders
// it; so do the "docs/X.md(#anchor)" references in the Go sources (help
// texts, error messages). A renamed heading must not leave links that
// land at the top of a long page.
func TestDocLinks(t *testing.T) {
	var mds []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			mds = append(mds, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(mds) < 5 {
		t.Fatalf("found only %d Markdown files: %v", len(mds), mds)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := markdownAnchors(t, path)
		anchors[path] = a
		return a
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	check := func(where, from, target string) {
		if regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(target) {
			return // http:, https:, mailto:
		}
		path, anchor, _ := strings.Cut(target, "#")
		file := from
		if path != "" {
			file = filepath.Join(filepath.Dir(from), path)
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s: link %q: no such file %s", where, target, file)
			return
		}
		checked++
		if anchor != "" && strings.HasSuffix(file, ".md") && !anchorsOf(file)[anchor] {
			t.Errorf("%s: link %q: %s has no heading or <a id> for #%s", where, target, file, anchor)
		}
	}
	for _, md := range mds {
		eachProseLine(t, md, func(n int, line string) {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				check(md+":"+strconv.Itoa(n), md, m[1])
			}
		})
	}
	// docs/X.md and docs/X.md#anchor in the sources, relative to the
	// repository root.
	ref := regexp.MustCompile(`docs/[a-z]+\.md(#[A-Za-z0-9_-]+)?`)
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, r := range ref.FindAllString(string(b), -1) {
			check(path, "README.md", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d links: is the link pattern still right?", checked)
	}
}

// eachProseLine calls f with each line of a Markdown file outside fenced
// code blocks (whose brackets are code, not links).
func eachProseLine(t *testing.T, path string, f func(n int, line string)) {
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	fence := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		f(n, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// markdownAnchors is the anchors GitHub gives a Markdown file: one per
// heading (lower case; punctuation other than - and _ dropped; spaces as
// hyphens; a repeated one numbered -1, -2, ...) and each <a id> or
// <a name>.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	a := map[string]bool{}
	seen := map[string]int{}
	heading := regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	linkText := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	explicit := regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
	eachProseLine(t, path, func(_ int, line string) {
		for _, m := range explicit.FindAllStringSubmatch(line, -1) {
			a[m[1]] = true
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			return
		}
		text := linkText.ReplaceAllString(m[1], "$1")
		var slug strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case r == ' ':
				slug.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				slug.WriteRune(r)
			}
		}
		s := slug.String()
		if n := seen[s]; n > 0 {
			a[s+"-"+strconv.Itoa(n)] = true
		} else {
			a[s] = true
		}
		seen[s]++
	})
	return a
}
