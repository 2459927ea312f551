package httpapi

import (
	"fmt"
	"net/http"
)

// handleForget is POST /lock/{name}/forget: the lock, free, nobody waiting
// for it and in no pool, is removed with its history (lock.Forget decides;
// its refusals are answered as they are: 423 held or waited for, 409 a
// pool member, 404 no such lock). The body is optional and has no fields
// of its own; one that is not JSON is refused as on every route. When an
// admin user is set, only the admin may forget, as only the admin may
// force a release.
func (s *Server) handleForget() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, err := decodeLockRequest(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.mayForget(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		l, err := s.svc.Forget(r.Context(), name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.log.Info("forget", "lock", name, "fence", l.Fence, "by", s.actor(r), s.remote(r))
		s.writeLockResponse(w, fmt.Sprintf("forgot lock %q and its history; taken again, it gets a higher fence than %d", name, l.Fence), l)
	})
}
