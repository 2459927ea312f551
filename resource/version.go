package resource

// What check, in and out print for a lock: its version, its metadata
// (name/value pairs), and the response that carries them.

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// versionOf is the version for a lock's state: it changes whenever the
// lock is taken or given back, by anyone, and only then. The fencing token
// grows each time the lock goes from free to held, so a state never comes
// back as an earlier version (the original server has no fencing token:
// there, the same holders give the same version).
func versionOf(l *client.Lock) Version {
	holders, _ := json.Marshal(sortedCounts(l.LockedBy))
	v := Version{"state": l.State, "key": l.Key, "holders": string(holders)}
	if v["state"] == "" {
		v["state"] = "free"
	}
	if !l.Legacy {
		v["fence"] = fmt.Sprint(l.Fence)
	}
	return v
}

// version is versionOf(l) for this resource: with bosh_lock, it also
// carries the lock's name (the director's), so that a get of it — the
// implicit get after an unlock, in a directory of its own — can read the
// lock while the director is down.
func (r *runner) version(l *client.Lock) Version {
	v := versionOf(l)
	if r.src.BoshLock != "" && r.name != "" {
		v["name"] = r.name
	}
	return v
}

// sortedCounts drops zero counts (json.Marshal sorts a map's keys).
func sortedCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for h, n := range m {
		if n > 0 {
			out[h] = n
		}
	}
	return out
}

// metadata is Concourse's list of name/value pairs.
type metadata []nameValue

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (m *metadata) add(name, value string) { *m = append(*m, nameValue{name, value}) }

// lockMetadata describes a lock's state.
func lockMetadata(l *client.Lock) metadata {
	var m metadata
	m.add("lock", l.Name)
	m.add("state", l.State)
	if !l.Free() {
		m.add("key", l.Key)
		m.add("holders", holdersText(l, false))
		if !l.Since.IsZero() {
			m.add("since", l.Since.UTC().Format(time.RFC3339))
		}
	}
	if !l.Legacy {
		m.add("fence", fmt.Sprint(l.Fence))
	}
	if !l.Expires.IsZero() {
		m.add("expires", l.Expires.UTC().Format(time.RFC3339))
	}
	return m
}

// response is what in and out print on stdout.
type response struct {
	Version  Version  `json:"version"`
	Metadata metadata `json:"metadata"`
}

// holderNames returns the sorted holder names of a count map.
func holderNames(m map[string]int) []string {
	var hs []string
	for h, n := range m {
		if n > 0 {
			hs = append(hs, h)
		}
	}
	sort.Strings(hs)
	return hs
}
