package lock_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// TestRemoveFromPoolHeldBy: a forced removal conditioned on a holder (and
// a key) ends the member's holds only when they are that holder's alone,
// under that key: a member another holder joined under the same key and
// fence is refused, naming the others, and left exactly as it was.
func TestRemoveFromPoolHeldBy(t *testing.T) {
	ago := at(-time.Hour)
	env := newEnv().env(t0)
	member := func(holds map[string]lock.Hold) lock.Lock {
		l := held("K", 5, ago, holds)
		l.Pools = []string{"p", "q"}
		return l
	}
	for _, c := range []struct {
		name        string
		l           lock.Lock
		fence       uint64
		key, holder string
		want        string // "" for removed; else what the refusal says
	}{
		{"joined by another holder", member(map[string]lock.Hold{"build-1": hold(1, ago, never), "other-job": hold(2, ago, never)}), 5, "K", "build-1",
			`pool "p": member "db" is held under key "K" by others besides "build-1": "other-job" x2 (holders: build-1 x1, other-job x2); nothing was forced or removed`},
		{"the holder gone, another there", member(map[string]lock.Hold{"other-job": hold(1, ago, never)}), 5, "K", "build-1",
			`pool "p": member "db" is held under key "K" by "other-job" x1, not by "build-1" (holders: other-job x1); nothing was forced or removed`},
		{"without a fence too", member(map[string]lock.Hold{"build-1": hold(1, ago, never), "other-job": hold(1, ago, never)}), 0, "", "build-1",
			`pool "p": member "db" is held under key "K" by others besides "build-1": "other-job" x1 (holders: build-1 x1, other-job x1); nothing was forced or removed`},
		{"another key", member(map[string]lock.Hold{"build-1": hold(1, ago, never)}), 0, "K2", "build-1",
			`pool "p": member "db" is held by key "K", not "K2" (holders: build-1 x1); nothing was forced or removed`},
		{"the fence is checked first", member(map[string]lock.Hold{"build-1": hold(1, ago, never)}), 4, "K", "build-1",
			`pool "p": member "db" was taken again since fence 4: it is held by key "K" under fence 5 (holders: build-1 x1); nothing was forced or removed`},
		{"the holder's alone, re-entered", member(map[string]lock.Hold{"build-1": hold(3, ago, never)}), 5, "K", "build-1", ""},
		{"the holder's alone, no key given", member(map[string]lock.Hold{"build-1": hold(1, ago, never)}), 0, "", "build-1", ""},
		{"the other's hold ran out", member(map[string]lock.Hold{"build-1": hold(1, ago, never), "other-job": hold(1, ago, at(-time.Second))}), 5, "K", "build-1", ""},
		{"free: nothing to force", func() lock.Lock { l := lock.Lock{Name: "db", Fence: 5, Pools: []string{"p", "q"}}; return l }(), 5, "K", "build-1", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := c.l.Clone()
			before := l.Clone()
			events, err := lock.RemoveFromPoolHeldBy(&l, "p", true, "op", c.fence, c.key, c.holder, env)
			if c.want != "" {
				if codeOf(t, err) != lock.ECONFLICT || err.Error() != c.want {
					t.Fatalf("removal = %v, %v;\nwant ECONFLICT: %s", events, err, c.want)
				}
				var e *lock.Error
				if !errors.As(err, &e) || e.Lock == nil || e.Lock.Key != "K" {
					t.Fatalf("the refusal carries no lock: %#v", err)
				}
				if len(events) != 0 {
					t.Fatalf("a refusal recorded events: %v", events)
				}
				checkLock(t, l, before)
				return
			}
			if err != nil || !l.Free() || l.InPool("p") || !l.InPool("q") {
				t.Fatalf("removal = %v; lock %+v", err, l)
			}
			if n := len(events); n == 0 || events[n-1].Type != lock.Removed {
				t.Fatalf("events %v; want the removal last", events)
			}
		})
	}
}

// TestRemoveFromPoolHeldByNeedsForce: the condition is on what a force
// ends; without force a held member is refused as before (whatever the
// holder named), and a free one removed.
func TestRemoveFromPoolHeldByNeedsForce(t *testing.T) {
	ago := at(-time.Hour)
	env := newEnv().env(t0)
	l := held("K", 5, ago, map[string]lock.Hold{"build-1": hold(1, ago, never)})
	l.Pools = []string{"p"}
	if _, err := lock.RemoveFromPoolHeldBy(&l, "p", false, "op", 0, "K", "build-1", env); codeOf(t, err) != lock.ECONFLICT || !strings.Contains(err.Error(), "remove it with force") || !l.InPool("p") {
		t.Fatalf("unforced removal of a held member = %v; lock %+v", err, l)
	}
	free := lock.Lock{Name: "db", Fence: 5, Pools: []string{"p"}}
	if _, err := lock.RemoveFromPoolHeldBy(&free, "p", false, "op", 0, "K", "build-1", env); err != nil || free.InPool("p") {
		t.Fatalf("unforced removal of a free member = %v; lock %+v", err, free)
	}
}

// TestRemoveFromPoolHeldByKeyOnly: a key without a holder checks the key
// alone.
func TestRemoveFromPoolHeldByKeyOnly(t *testing.T) {
	ago := at(-time.Hour)
	env := newEnv().env(t0)
	l := held("K", 5, ago, map[string]lock.Hold{"a": hold(1, ago, never), "b": hold(1, ago, never)})
	l.Pools = []string{"p"}
	if _, err := lock.RemoveFromPoolHeldBy(&l, "p", true, "op", 5, "K", "", env); err != nil || l.InPool("p") {
		t.Fatalf("removal under the member's key = %v; lock %+v", err, l)
	}
}

func TestValidateHeldBy(t *testing.T) {
	if err := lock.ValidateHeldBy("", ""); err != nil {
		t.Fatalf("no condition: %v", err)
	}
	if err := lock.ValidateHeldBy("K", "h"); err != nil {
		t.Fatalf("key and holder: %v", err)
	}
	if err := lock.ValidateHeldBy("K", "\xff"); codeOf(t, err) != lock.EINVALID || err.Error() != "holder is not valid UTF-8" {
		t.Fatalf("a holder that is not UTF-8: %v", err)
	}
}
