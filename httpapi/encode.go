package httpapi

// Response encoding: a lock's JSON view, writeJSON, and the writers of the
// answers that carry locks (viewjson.go has their fast path). Requests are
// decoded in decode.go.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cloudfoundry-community/locker/internal/jsonenc"
	"github.com/cloudfoundry-community/locker/lock"
)

// lockResponse answers a change: what happened, and the lock's new state.
type lockResponse struct {
	Response string `json:"response"`
	lockView
}

// holdView is one holder's hold in a response.
type holdView struct {
	Count    int        `json:"count"`
	Acquired time.Time  `json:"acquired"`
	Expires  *time.Time `json:"expires,omitempty"`
}

// lockView is a lock in responses. "key" and "locked_by" keep the seed's
// names and meaning; the rest are additions.
type lockView struct {
	Name     string              `json:"name"`
	Key      string              `json:"key"`
	LockedBy map[string]int      `json:"locked_by"`
	State    string              `json:"state"`
	Fence    uint64              `json:"fence"`
	Since    *time.Time          `json:"since,omitempty"`
	Expires  *time.Time          `json:"expires,omitempty"`
	Holds    map[string]holdView `json:"holds"`
	Waiters  int                 `json:"waiters"`
	// Pool members only.
	Pools     []string        `json:"pools,omitempty"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	FreeSince *time.Time      `json:"free_since,omitempty"`
}

// view turns a lock into its response shape.
func (s *Server) view(l lock.Lock) lockView {
	return viewOf(l, l.Waiters)
}

// viewOf turns a lock with its number of waiters into its response shape.
func viewOf(l lock.Lock, waiters int) lockView {
	v := lockView{Name: l.Name, Key: l.Key, LockedBy: l.Counts(), State: state(&l), Fence: l.Fence, Holds: make(map[string]holdView, len(l.Holds)), Waiters: waiters}
	if !l.Since.IsZero() {
		v.Since = &l.Since
	}
	if t := l.NextExpiry(); !t.IsZero() {
		v.Expires = &t
	}
	if len(l.Pools) > 0 {
		v.Pools, v.Metadata = l.Pools, l.Metadata
		if !l.FreeSince.IsZero() {
			v.FreeSince = &l.FreeSince
		}
	}
	for h, hold := range l.Holds.All() {
		hv := holdView{Count: hold.Count, Acquired: hold.Acquired}
		if !hold.Expires.IsZero() {
			e := hold.Expires
			hv.Expires = &e
		}
		v.Holds[h] = hv
	}
	return v
}

// state names a lock's state: free, held (one holder) or shared (several).
func state(l *lock.Lock) string {
	switch {
	case l.Free():
		return "free"
	case len(l.Holds) > 1:
		return "shared"
	default:
		return "held"
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error encoding the response"}`)
	}
	writeJSONHeader(w, status)
	writeBody(w, append(b, '\n'))
}

// writeJSONHeader starts a JSON answer: its type, nosniff, and status.
// The type names UTF-8 as the original server's did (gin's "application/json;
// charset=utf-8"): RFC 8259 defines no charset for JSON, but clients that
// guess one without it read names, keys and holders as ISO-8859-1 (Windows
// PowerShell 5.1's Invoke-RestMethod).
func writeJSONHeader(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
}

// writeLockMap streams {"name": view, ...} in name order, a quarter of a
// megabyte at a time, so a large listing needs no second copy of itself in
// memory.
func (s *Server) writeLockMap(w http.ResponseWriter, r *http.Request, sorted []*lock.Lock) {
	waiters := s.svc.WaiterCounts(r.Context())
	// Sorted in place: the slice is the listing's own (its locks are not).
	slices.SortFunc(sorted, func(a, b *lock.Lock) int { return strings.Compare(a.Name, b.Name) })
	writeJSONHeader(w, http.StatusOK)
	buf := make([]byte, 0, 288<<10)
	buf = append(buf, '{')
	for i, l := range sorted {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsonenc.AppendString(buf, l.Name)
		buf = append(buf, ':')
		var ok bool
		if buf, ok = appendView(buf, l, waiters[l.Name]); !ok {
			v, _ := json.Marshal(viewOf(*l, waiters[l.Name]))
			buf = append(buf, v...)
		}
		if len(buf) > writePart {
			if err := writeBody(w, buf); err != nil {
				return
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, "}\n"...)
	writeBody(w, buf)
}
