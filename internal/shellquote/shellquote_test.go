package shellquote

import (
	"os/exec"
	"strings"
	"testing"
)

var cases = []struct{ in, want string }{
	{"", "''"},
	{"prod-deployments", "prod-deployments"},
	{"env-1.us_east:2,a@b%c+d=e/f", "env-1.us_east:2,a@b%c+d=e/f"},
	{"it's", `'it'\''s'`},
	{"'", `''\'''`},
	{"''", `''\'''\'''`},
	{"my lock", "'my lock'"},
	{"$HOME", "'$HOME'"},
	{"a$(rm -rf x)`id`", "'a$(rm -rf x)`id`'"},
	{`back\slash "dq"`, `'back\slash "dq"'`},
	{"line\nbreak", "'line\nbreak'"},
	{"tab\there", "'tab\there'"},
	{"déploiement", "'déploiement'"},
	{"日本 ✓", "'日本 ✓'"},
	{"*?[a]~#!&;|<>(){}", "'*?[a]~#!&;|<>(){}'"},
	{"-x", "-x"},
}

func TestQuote(t *testing.T) {
	for _, c := range cases {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestQuoteThroughShell: what the shell reads back from the quoted words
// is each word as it was.
func TestQuoteThroughShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	var words []string
	for _, c := range cases {
		words = append(words, c.in)
	}
	out, err := exec.Command(sh, "-c", `printf '%s\0' `+Join(words...)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(words) {
		t.Fatalf("sh read %d words, want %d: %q", len(got), len(words), got)
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("sh read %q for %q (quoted %s)", got[i], words[i], Quote(words[i]))
		}
	}
}

func TestLocker(t *testing.T) {
	for _, c := range []struct {
		sub, args, flags []string
		want             string
	}{
		{[]string{"unlock"}, []string{"prod"}, []string{"--key", "k", "--holder", "h"}, "locker unlock prod --key k --holder h"},
		{[]string{"unlock"}, []string{"it's mine"}, []string{"--key", "$KEY", "--holder", "a b"}, `locker unlock 'it'\''s mine' --key '$KEY' --holder 'a b'`},
		{[]string{"status"}, []string{"prod"}, nil, "locker status prod"},
		{[]string{"pool", "rm"}, []string{"envs", "env 1"}, []string{"--force", "--fence", "7"}, "locker pool rm envs 'env 1' --force --fence 7"},
		// Values that start with a dash go with their flag, and names
		// that do after "--": locker's parsing reads them as meant.
		{[]string{"unlock"}, []string{"-x"}, []string{"--key", "--holder", "--holder", "-h y"}, "locker unlock --key=--holder '--holder=-h y' -- -x"},
		{[]string{"pool", "rm"}, []string{"envs", "-m"}, []string{"--force"}, "locker pool rm --force -- envs -m"},
	} {
		if got := Locker(c.sub, c.args, c.flags...); got != c.want {
			t.Errorf("Locker(%q, %q, %q) = %s, want %s", c.sub, c.args, c.flags, got, c.want)
		}
	}
}
