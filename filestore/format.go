package filestore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
)

const (
	snapshotMagic = "locker-snapshot-v1\n"
	logMagic      = "locker-log-v1\n"
)

// diskLock is a lock as the snapshot and the log store it.
type diskLock struct {
	Name  string     `json:"name"`
	Key   string     `json:"key,omitempty"`
	Holds lock.Holds `json:"holds,omitempty"`
	Fence uint64     `json:"fence,omitempty"`
	Since time.Time  `json:"since,omitzero"`
	// Pool members only: when the lock became free, its pools, its
	// metadata.
	FreeSince time.Time       `json:"free_since,omitzero"`
	Pools     []string        `json:"pools,omitempty"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
}

func toDisk(l *lock.Lock) diskLock {
	d := diskLock{Name: l.Name, Key: l.Key, Holds: l.Holds, Fence: l.Fence, Since: l.Since}
	if len(l.Pools) > 0 || l.Metadata != nil {
		d.FreeSince, d.Pools, d.Metadata = l.FreeSince, l.Pools, l.Metadata
	}
	return d
}

func (d diskLock) lock() *lock.Lock {
	return &lock.Lock{Name: d.Name, Key: d.Key, Holds: d.Holds, Fence: d.Fence, Since: d.Since, FreeSince: d.FreeSince, Pools: d.Pools, Metadata: d.Metadata}
}

// check refuses a decoded lock that breaks the invariants the rules keep, so
// a damaged file is refused instead of loaded as nonsense.
func (d diskLock) check() error {
	if err := lock.ValidateName("lock name", d.Name); err != nil {
		return err
	}
	if (d.Key == "") != (len(d.Holds) == 0) {
		return fmt.Errorf("lock %q: key %q does not match its %d holds", d.Name, d.Key, len(d.Holds))
	}
	for _, p := range d.Pools {
		if err := lock.ValidateName("pool name", p); err != nil {
			return fmt.Errorf("lock %q: %w", d.Name, err)
		}
	}
	if d.Metadata != nil {
		// JSON without NUL, whatever its size and depth: the API's limits
		// are for input (lock.ValidateMetadata), and stored metadata may
		// have grown in its encoding (< escaped as \u003c, PostgreSQL's
		// numbers written out by locker migrate).
		if err := lock.CheckMetadata(d.Metadata); err != nil {
			return fmt.Errorf("lock %q: %w", d.Name, err)
		}
	}
	for _, h := range d.Holds {
		if h.Count <= 0 {
			return fmt.Errorf("lock %q: holder %q has count %d", d.Name, h.Holder, h.Count)
		}
	}
	return nil
}

// logRecord is one change in the log: the lock's whole state after it (so
// replay never re-runs the rules), the events it recorded, and the fence
// counter at the time.
type logRecord struct {
	Lock   diskLock     `json:"lock"`
	Events []lock.Event `json:"events,omitempty"`
	Fence  uint64       `json:"fence"`
	// Next, in a record of its own (no lock), ends a segment: the store
	// went on in segment Next. Recovery then requires that segment, which
	// nothing else would show ever existed (see nextMarker).
	Next uint64 `json:"next,omitempty"`
	// Forget: the change removed the lock (lock.Forgets), and replay
	// deletes it with its history. Lock is then the free lock as it was
	// last: a Locker from before forgetting ignores the field, and reads
	// the record as one that left the lock free, its counter kept.
	Forget bool `json:"forget,omitempty"`
}

// nextMarker is the record that ends a segment once segment gen exists.
type nextMarker struct {
	Next uint64 `json:"next"`
}

// logHeader opens each log segment. Fence and Records were added later:
// a header without them (a Locker from before, or a segment that starts a
// store) is read as before, and an older Locker ignores them.
type logHeader struct {
	Gen uint64 `json:"gen"`
	// Fence is the fence counter when the segment was started: no token
	// handed out before is above it. Recovery never starts below it, also
	// when records of the segments before were lost.
	Fence uint64 `json:"fence,omitempty"`
	// Records is how many records (the marker aside) were written to the
	// segment before this one, when there was one: recovery refuses a
	// previous segment that holds fewer (records of it were lost).
	Records *int64 `json:"records,omitempty"`
}

// snapshotHeader opens the snapshot: it covers every change before log
// segment LogGen.
type snapshotHeader struct {
	LogGen uint64    `json:"log_gen"`
	Fence  uint64    `json:"fence"`
	Count  int       `json:"count"`
	Time   time.Time `json:"time"`
}

// snapshotEntry is one lock in the snapshot, with its recent history.
type snapshotEntry struct {
	Lock    diskLock     `json:"lock"`
	History []lock.Event `json:"history,omitempty"`
}

// snapshotEnd closes a complete snapshot.
type snapshotEnd struct {
	End   bool `json:"end"`
	Count int  `json:"count"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("filestore: encoding %T: %v", v, err)) // only plain data types are encoded
	}
	return b
}
