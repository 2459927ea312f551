package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/cloudfoundry-community/locker/lockservice"
)

// poolView is a pool in responses: its members as GET /locks shows locks,
// and how many are free.
type poolView struct {
	Name    string              `json:"name"`
	Members map[string]lockView `json:"members"`
	Free    int                 `json:"free"`
	Total   int                 `json:"total"`
	Waiters int                 `json:"waiters"`
}

func (s *Server) poolView(p lockservice.Pool, waiters map[string]int) poolView {
	v := poolView{Name: p.Name, Members: make(map[string]lockView, len(p.Members)), Total: len(p.Members), Waiters: p.Waiters}
	for _, m := range p.Members {
		if m.Free() {
			v.Free++
		}
		v.Members[m.Name] = viewOf(m, waiters[m.Name])
	}
	return v
}

func (s *Server) handlePools() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pools, err := s.svc.Pools(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		waiters := s.svc.WaiterCounts(r.Context())
		out := make(map[string]poolView, len(pools))
		for _, p := range pools {
			out[p.Name] = s.poolView(p, waiters)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *Server) handlePool() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.svc.Pool(r.Context(), r.PathValue("pool"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, s.poolView(p, s.svc.WaiterCounts(r.Context())))
	})
}

// handlePoolAcquire takes any free member: the one free longest.
func (s *Server) handlePoolAcquire() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pool := r.PathValue("pool")
		req, err := decodeKeyedRequest(w, r)
		if err == nil {
			err = req.refuseAcquired("taking a pool member")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		took := time.Now()
		ctx, began := lockservice.WithChangeBegan(s.places.waitIn(r.Context(), req.Wait))
		l, err := s.svc.AcquireFromPool(ctx, pool, req.hold(), req.Wait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.log.Info("lock", "pool", pool, "lock", l.Name, "key", req.Key, "holder", req.Holder, "fence", l.Fence, s.remote(r))
		setLease(w, l, req.Holder, s.svc.Lease(req.TTL), took, began())
		s.writeLockResponse(w, fmt.Sprintf("locked %q from pool %q with key %q for %q", l.Name, pool, req.Key, req.Holder), l)
	})
}

// handlePoolAdd adds a member (free) or updates its metadata.
func (s *Server) handlePoolAdd() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pool, name := r.PathValue("pool"), r.PathValue("member")
		req, err := decodeLockRequest(w, r)
		if err == nil {
			err = req.refuseAcquired("adding a pool member")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		l, err := s.svc.AddMember(r.Context(), pool, name, req.Metadata)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.log.Info("pool member added", "pool", pool, "lock", name, s.remote(r))
		s.writeLockResponse(w, fmt.Sprintf("%q is a member of pool %q", name, pool), l)
	})
}

// handlePoolRemove removes a member: only while it is free, unless
// ?force=true (which needs the right to force a release), with a fence
// only while held under it, and with a holder (locked_by, or its other
// spellings; with a key, the holder defaults to it, as on every route)
// only while every hold on it is that holder's, under that key.
func (s *Server) handlePoolRemove() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pool, name := r.PathValue("pool"), r.PathValue("member")
		req, err := decodeLockRequest(w, r)
		if err == nil {
			err = req.refuseAcquired("removing a pool member")
		}
		if err == nil && req.Force {
			err = s.mayForce(r)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		by := s.actor(r)
		l, events, err := s.svc.RemoveMemberHeldBy(r.Context(), pool, name, req.Force, by, req.Fence, req.Key, req.Holder)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.Force && req.Holder != "" {
			// Says the holder condition was checked: a server from before
			// it ignores the holder and key and forces every hold, and its
			// 200 proves nothing. "true", not the holder: a name need not
			// survive a header's rules whole.
			w.Header().Set("Locker-Holder-Checked", "true")
		}
		s.logForced(r, events, by, "pool", pool)
		s.log.Info("pool member removed", "pool", pool, "lock", name, "force", req.Force, "by", by, s.remote(r))
		s.writeLockResponse(w, fmt.Sprintf("%q removed from pool %q", name, pool), l)
	})
}
