// Package shellquote writes the commands that Locker's messages suggest
// (`locker unlock NAME --key KEY --holder HOLDER`, `locker pool rm POOL
// MEMBER --force`) so that they can be pasted into a POSIX shell as they
// are, whatever the names hold: lock names, keys and holders may contain
// spaces, quotes, $, backquotes, globs and any other printable character.
package shellquote

import "strings"

// Quote returns s as one POSIX shell word: as it is when every byte is a
// plain safe one (letters, digits and @%+=:,./_-, so that the usual
// messages read as before), else in single quotes, each ' in s written as
// a closing quote, a backslashed one and an opening one. The empty string
// is a pair of single quotes.
// Inside single quotes nothing is special to the shell, newlines and
// non-ASCII text included.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func unsafe(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("@%+=:,./_-", r)
}

// Join quotes each word and joins them with spaces.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// Locker returns the command line `locker SUB... ARGS... FLAGS...` to
// suggest in a message, each word quoted. sub is the subcommand's words
// ("unlock", or "pool", "rm"); args the names it takes; flags the flags,
// each of --key, --holder and --fence followed by its value ("--key",
// key, "--force"). It writes it so that locker's flag parsing reads it back as
// meant: a value that starts with a dash as --flag=VALUE (locker refuses
// one that looks like a flag as the flag's value), and names after "--",
// following the flags, when one of them starts with a dash.
func Locker(sub []string, args []string, flags ...string) string {
	words := append([]string{"locker"}, sub...)
	var fw []string
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		if !isValueFlag(f) || i+1 == len(flags) {
			fw = append(fw, f)
			continue
		}
		i++
		if v := flags[i]; strings.HasPrefix(v, "-") {
			fw = append(fw, f+"="+v)
		} else {
			fw = append(fw, f, v)
		}
	}
	dashed := false
	for _, a := range args {
		dashed = dashed || strings.HasPrefix(a, "-")
	}
	if dashed {
		words = append(append(append(words, fw...), "--"), args...)
	} else {
		words = append(append(words, args...), fw...)
	}
	return Join(words...)
}

// isValueFlag reports whether locker's flag f takes a value.
func isValueFlag(f string) bool {
	switch f {
	case "--key", "--holder", "--fence":
		return true
	}
	return false
}
