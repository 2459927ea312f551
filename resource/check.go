package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/lock"
)

// check answers with the lock's current version. Concourse's rule is to list
// the requested version first if it is still valid, then every newer one;
// for a lock only the current state is real (past states cannot be fetched),
// so the answer is the requested version when the lock is still in that
// state, and the current one otherwise — which is newer. Only the one lock is
// read: other locks changing make no new version.
func (r *runner) check(ctx context.Context, requested Version) ([]Version, error) {
	name, err := r.lockName(ctx, 1, "")
	if err != nil {
		return nil, r.explain(err)
	}
	l, err := r.getLock(ctx, name)
	if err != nil {
		return nil, r.explain(err)
	}
	return checkAnswer(requested, r.version(l)), nil
}

// checkAnswer is check's answer: the requested version while it is still
// the current one, else the current one, which is newer.
func checkAnswer(requested, cur Version) []Version {
	if requested != nil && maps.Equal(requested, cur) {
		return []Version{requested}
	}
	return []Version{cur}
}

// inAttempts bounds how often in tries a server it cannot reach: a get is
// not worth waiting for as long as a lock, but should survive a blip (it
// runs right after every put).
const inAttempts = 5

// in writes the lock's current state to dir:
//
//	lock     the lock as JSON, as GET /locks shows it
//	name     the lock's name
//	key      the key it is held under; empty when free
//	locked   true or false
//	holders  the holders, one a line
//	fence    the fencing token (empty with the original server, which has none)
//
// and answers with the requested version (Concourse's rule); the files show
// the state now, which the version may no longer be, as long as the lock
// is in the version's holding period (its fence): else, and when the lock
// cannot be read, the lock as the version has it.
func (r *runner) in(ctx context.Context, dir string, requested Version) (*response, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the directory %s: %v", dir, err)
	}
	name, err := r.lockName(ctx, inAttempts, "")
	if err != nil {
		// With bosh_lock, a director that cannot be reached (down after
		// a failed upgrade) would fail the get after an unlock that
		// released the lock: the version names the lock.
		vn := requested["name"]
		if r.src.BoshLock == "" || vn == "" || !transient(err) || lock.ValidateName("name", vn) != nil {
			return nil, r.explain(err)
		}
		r.log.printf("warning: %v; using the lock name %q that this version carries", r.explain(err), vn)
		name, r.name = vn, vn
	}
	var (
		l           *client.Lock
		fromVersion bool
	)
	err = r.retry(ctx, fmt.Sprintf("reading lock %q", name), inAttempts, func() error {
		var err error
		l, err = r.getLock(ctx, name)
		return err
	})
	if err != nil {
		// The get that Concourse runs after every put: failing it fails
		// the put, and a lock just taken would stay held with no step left
		// to release it. The version says what the lock was, which is what
		// a get fetches: write that, and say so.
		v, ok := lockFromVersion(name, requested)
		if !ok || !unreadable(err) {
			return nil, r.explain(err)
		}
		r.log.printf("warning: cannot read lock %q (%v); the files show it as this version has it: %s", name, r.explain(err), describe(v))
		l, fromVersion = v, true
	} else if v, ok := lockFromVersion(name, requested); ok && !l.Legacy && l.Fence != v.Fence {
		// Released and taken again since this version (another holding
		// period): the files of the lock as it is now would hand this
		// build the fence of a hold that is not the version's (the get
		// after a lock step whose lease ran out before it, the same key
		// and holder taking the lock afresh): passed on to what the lock
		// protects, or to an unlock's release_dir, it would act for that
		// hold. Write the version's hold.
		r.log.printf("warning: lock %q has been released and taken again since this version (fence %d): it is %s (fence %d) now; the files show it as this version has it", name, v.Fence, describe(l), l.Fence)
		l, fromVersion = v, true
	}
	js, err := lockJSON(l)
	if err != nil {
		return nil, err
	}
	locked := "false"
	if !l.Free() {
		locked = "true"
	}
	fence := ""
	if !l.Legacy {
		fence = fmt.Sprint(l.Fence)
	}
	files := map[string]string{
		"lock":    js,
		"name":    name,
		"key":     l.Key,
		"locked":  locked,
		"holders": strings.Join(holderNames(l.LockedBy), "\n"),
		"fence":   fence,
	}
	if r.src.BoshLock != "" {
		// Without the password the URL may carry: every later step of
		// the build can read the file (cachedBoshName compares so).
		files[boshLockFile] = client.RedactURL(r.src.BoshLock)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("cannot write %s: %v", filepath.Join(dir, f), err)
		}
	}
	cur := r.version(l)
	v := requested
	if v == nil {
		v = cur
	} else if !fromVersion && !maps.Equal(v, cur) {
		r.log.printf("lock %q has changed since this version; the files show it as it is now: %s", name, describe(l))
	}
	r.log.printf("lock %q is %s", name, describe(l))
	return &response{Version: v, Metadata: lockMetadata(l)}, nil
}

// lockJSON is the lock as GET /locks shows it: with the original server,
// only its key and holders.
func lockJSON(l *client.Lock) (string, error) {
	var v any = l
	if l.Legacy {
		v = struct {
			Key      string         `json:"key"`
			LockedBy map[string]int `json:"locked_by"`
		}{l.Key, sortedCounts(l.LockedBy)}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	return string(b) + "\n", nil
}

// unreadable reports whether err says the server could not be read (no
// answer, one from something in its place, or refused logins from this
// address), not that it refused the get: a get with wrong credentials or
// a wrong URL still fails. A 429 comes before the server looks at the
// credentials, and says nothing of them: other clients on the worker's
// address (another pipeline's stale password) can bring it on the get
// that follows a lock step, whose put's own credentials were just taken.
func unreadable(err error) bool {
	return transient(err)
}

// lockFromVersion is the lock as a version of it says (its state, key,
// holders and fence; not its times): false for a version without them, or
// one that contradicts itself. A version of the original server's (no
// fence) does not count: its lock step could not read the hold back and
// says "free" when it cannot.
func lockFromVersion(name string, v Version) (*client.Lock, bool) {
	state, key, holders, fence := v["state"], v["key"], v["holders"], v["fence"]
	if holders == "" || fence == "" {
		return nil, false
	}
	l := &client.Lock{Name: name, Key: key, State: state}
	if err := json.Unmarshal([]byte(holders), &l.LockedBy); err != nil {
		return nil, false
	}
	for _, n := range l.LockedBy {
		if n <= 0 {
			return nil, false
		}
	}
	switch {
	case state == "free" && key == "" && len(l.LockedBy) == 0:
	case state == "held" && key != "" && len(l.LockedBy) == 1:
	case state == "shared" && key != "" && len(l.LockedBy) > 1:
	default:
		return nil, false
	}
	n, err := strconv.ParseUint(fence, 10, 64)
	if err != nil {
		return nil, false
	}
	l.Fence = n
	return l, true
}
