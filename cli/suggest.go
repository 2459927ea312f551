package cli

import (
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

// releaseFirst is the command that releases l's hold, for pool rm to
// suggest before the member can be removed: its one holder's, named when
// it is not the key (a bare --key releases the holder named as the key);
// with several holders, by the key alone, as before (each holder's release
// is its own to make).
func releaseFirst(l *client.Lock) string {
	if hs := l.Holders(); len(hs) == 1 && hs[0] != l.Key {
		return suggestUnlock(l.Name, l.Key, hs[0])
	}
	return shellquote.Locker([]string{"unlock"}, []string{l.Name}, "--key", l.Key)
}
