package httpapi

import (
	"net/http"
	"slices"
)

// routes lists every route of the API.
func (s *Server) routes() {
	// The seed's API.
	s.handle("GET /locks", s.handleList())
	s.handle("PUT /lock/{name}", s.handleAcquire())
	s.handle("DELETE /lock/{name}", s.handleRelease())

	// Additions: one lock, leases, history, events, description.
	s.handle("GET /lock/{name}", s.handleGet())
	s.handle("POST /lock/{name}/refresh", s.handleRefresh())
	s.handle("POST /lock/{name}/forget", s.handleForget())
	s.handle("GET /lock/{name}/history", s.handleHistory())
	s.handle("GET /events", s.handleEvents())
	s.handle("GET /openapi.json", s.handleOpenAPI())

	// Pools (pools.go): groups of interchangeable locks with metadata.
	s.handle("GET /pools", s.handlePools())
	s.handle("GET /pool/{pool}", s.handlePool())
	s.handle("PUT /pool/{pool}", s.handlePoolAcquire())
	s.handle("PUT /pool/{pool}/{member}", s.handlePoolAdd())
	s.handle("DELETE /pool/{pool}/{member}", s.handlePoolRemove())

	// Prometheus metrics: behind auth unless configured public.
	if s.cfg.Metrics != nil {
		if s.cfg.MetricsPublic {
			s.mux.Handle("GET /metrics", closingUnread(boundWrites(s.cfg.Metrics)))
		} else {
			s.handle("GET /metrics", boundWrites(s.cfg.Metrics))
		}
	}

	// The web dashboard (dashboard.go): the page at "/" for browsers (JSON
	// clients still get the 404 there), its assets, who the user is, and
	// where the page's "Sign in" link leads.
	s.mux.Handle("/{$}", closingUnread(s.handleRoot()))
	s.handle("GET /ui/", s.handleAsset())
	s.handle("GET /whoami", s.handleWhoami())
	s.handle("GET /signin", s.handleSignIn())

	// Health checks for load balancers: no auth. The routes outside
	// authentication never read a body: closingUnread (auth.go).
	s.mux.Handle("GET /healthz", closingUnread(s.handleHealthz()))
	s.mux.Handle("GET /readyz", closingUnread(s.handleReadyz()))

	// Everything else: JSON 404 or 405.
	s.mux.Handle("/", closingUnread(withSlashNames(s.handleNotFound())))
}

// Routes returns the pattern of every route, as net/http reads them
// ("GET /locks", "/{$}"), in the order they are registered, the catch-all
// "/" last: what the metrics' route labels are made of
// (metrics.Metrics.KnownRoutes).
func (s *Server) Routes() []string { return slices.Clone(s.mux.patterns) }

// routeMux is a ServeMux that notes the pattern of each route (Routes).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// handle registers a route behind authentication. It and the 404 are
// wrapped in withSlashNames (slashnames.go): the other routes' paths have
// no segment that could be an escaped slash.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, withSlashNames(s.authenticate(h)))
}
