package filestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

// The original locker's file: a JSON object of locks by name, each with its
// key and its holders' counts. Open reads it (readLegacy, which converts
// it); WriteOriginal writes it, for going back to the original server.

// legacyLock is one lock in the original locker's file, its fields in the
// order the original writes them.
type legacyLock struct {
	LockedBy map[string]int `json:"locked_by"`
	Key      string         `json:"key"`
}

// UnmarshalJSON reads a lock of the original locker's file as the original
// wrote it, then makes two of its holds ones this server can keep and end:
//
//   - A count above lock.MaxCount (2⁵³−1, where counts stop: the largest
//     integer every JSON reader keeps exactly) is taken as lock.MaxCount.
//     Either way the hold lasts until forced: nobody releases it 2⁵³ times.
//   - A holder with an empty name becomes the key's holder (its count added
//     to the key's, if the key holds too). This server's API cannot name
//     it: an empty holder defaults to the key, as it did in the original,
//     whose API could not make one either (only an edit of its file could);
//     kept as "", the key's own release would leave it held for ever.
//
// Counts of zero or below are left for readLegacy (which drops zeros and
// refuses negative counts), and so is a lock with holders but no key.
func (l *legacyLock) UnmarshalJSON(b []byte) error {
	type legacyLock struct { // the same fields, without this method
		LockedBy map[string]int `json:"locked_by"`
		Key      string         `json:"key"`
	}
	var v legacyLock
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if c, ok := v.LockedBy[""]; ok && c > 0 && v.Key != "" && v.LockedBy[v.Key] >= 0 {
		delete(v.LockedBy, "")
		v.LockedBy[v.Key] = min(v.LockedBy[v.Key], lock.MaxCount) + min(c, lock.MaxCount)
	}
	for h, c := range v.LockedBy {
		v.LockedBy[h] = min(c, lock.MaxCount)
	}
	l.LockedBy, l.Key = v.LockedBy, v.Key
	return nil
}

// OriginalExport says what WriteOriginal wrote, and what the original
// format could not take.
type OriginalExport struct {
	Locks, Held int
	// Leases names the holds written whose lease was still running
	// ("lock name", "holder"): the original has no leases, so they last
	// until released.
	Leases [][2]string
	// Expired is how many holds were left out because their lease had
	// run out by then.
	Expired int
}

// WriteOriginal writes locks to path as the original locker wrote its file
// (json.MarshalIndent, four spaces), so that the original server can be
// started on it. Each lock keeps its key and its holders with their counts;
// fence tokens, leases, pools, metadata and history have no place there and
// are left out, and holds whose lease ran out by now are left out too. It
// never replaces a file: path must not exist. The file appears whole or not
// at all (written to a temporary file, fsynced, then linked into place).
func WriteOriginal(path string, locks []*lock.Lock, now time.Time) (OriginalExport, error) {
	var res OriginalExport
	out := make(map[string]legacyLock, len(locks))
	for _, l := range locks {
		c := l.Clone()
		for range lock.Expire(&c, now) {
			res.Expired++
		}
		ll := legacyLock{LockedBy: map[string]int{}, Key: c.Key}
		for holder, h := range c.Holds.All() {
			ll.LockedBy[holder] = h.Count
			if !h.Expires.IsZero() {
				res.Leases = append(res.Leases, [2]string{c.Name, holder})
			}
		}
		if !c.Free() {
			res.Held++
		}
		out[c.Name] = ll
	}
	res.Locks = len(out)
	b, err := json.MarshalIndent(out, "", "    ")
	if err != nil {
		return res, err
	}
	if _, err := os.Lstat(path); err == nil {
		return res, fmt.Errorf("%s already exists: name a new file", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return res, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// Root writing into another user's directory gives the file to that
	// user, whose locker will open it.
	if err := ownerFor(path).give(f, tmp); err != nil {
		return res, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	// A link, unlike a rename, fails if path appeared meanwhile.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return res, fmt.Errorf("%s already exists: name a new file", path)
		}
		return res, err
	}
	return res, syncDir(filepath.Dir(path))
}
