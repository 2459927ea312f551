package cli

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/internal/shellquote"
)

// suggest is the command `locker SUB... ARGS...` for a message to suggest,
// each word quoted for a POSIX shell (shellquote.Locker): a name with a
// space, a quote or a $ in it is pasted as it is meant. Plain names read
// as before ('locker status prod').
func suggest(sub []string, args ...string) string {
	return shellquote.Locker(sub, args)
}

// suggestUnlock is the command that releases the hold of key and holder on
// name.
func suggestUnlock(name, key, holder string) string {
	return shellquote.Locker([]string{"unlock"}, []string{name}, "--key", key, "--holder", holder)
}

// releaseFirst says how to release l's holds, for pool rm to suggest
// before the member can be removed: "release it first ('COMMAND')" for
// one holder, named when it is not the key (a bare --key releases the
// holder named as the key); with several holders, "release each hold
// first ('COMMAND', ...)", one command per holder, each naming it (x2 for
// a holder with two holds): an unlock by the key alone would release only
// the hold of the holder named as the key, another's perhaps, or nothing,
// and pasting one names whose hold it gives back. Each command is shown
// as a terminal prints names (shown).
func releaseFirst(l *client.Lock) string {
	hs := l.Holders()
	if len(hs) <= 1 {
		cmd := shellquote.Locker([]string{"unlock"}, []string{l.Name}, "--key", l.Key)
		if len(hs) == 1 && hs[0] != l.Key {
			cmd = suggestUnlock(l.Name, l.Key, hs[0])
		}
		return "release it first ('" + shown(cmd) + "')"
	}
	cmds := make([]string, len(hs))
	for i, h := range hs {
		cmds[i] = "'" + shown(suggestUnlock(l.Name, l.Key, h)) + "'"
		if n := l.LockedBy[h]; n > 1 {
			cmds[i] += fmt.Sprintf(" (x%d)", n)
		}
	}
	return "release each hold first (" + strings.Join(cmds, ", ") + ")"
}

// hidePasswords returns args with the passwords in them (--pass's value, a
// URL's user:password) replaced by PASSWORD, for messages that repeat a
// command line: error output ends up in CI logs.
func hidePasswords(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		switch {
		case (a == "--pass" || a == "-pass") && i+1 < len(out):
			out[i+1] = "PASSWORD"
		case strings.HasPrefix(a, "--pass=") || strings.HasPrefix(a, "-pass="):
			out[i] = a[:strings.IndexByte(a, '=')+1] + "PASSWORD"
		default:
			flag, v := "", a
			if strings.HasPrefix(a, "-") {
				if j := strings.IndexByte(a, '='); j > 0 {
					flag, v = a[:j+1], a[j+1:] // --url=http://u:p@h
				}
			}
			if u, err := url.Parse(v); err == nil && u.User != nil {
				if _, ok := u.User.Password(); ok {
					u.User = url.UserPassword(u.User.Username(), "PASSWORD")
					out[i] = flag + u.String()
				}
			}
		}
	}
	return out
}
