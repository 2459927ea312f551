package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
	"github.com/cloudfoundry-community/locker/memstore"
)

// TestRoutesListsEveryRoute: Routes (from which the metrics export each
// route's series at 0) has every pattern the server routes by, the open
// ones and /metrics too, and the catch-all last.
func TestRoutesListsEveryRoute(t *testing.T) {
	svc := lockservice.New(memstore.New(memstore.Options{}), lockservice.Config{})
	for _, public := range []bool{false, true} {
		api := httpapi.New(svc, httpapi.Config{Metrics: http.NotFoundHandler(), MetricsPublic: public})
		got := api.Routes()
		for _, want := range []string{"GET /locks", "PUT /lock/{name}", "DELETE /pool/{pool}/{member}", "GET /metrics", "/{$}", "GET /healthz", "GET /readyz"} {
			if !slices.Contains(got, want) {
				t.Errorf("public metrics %v: Routes() = %q, without %q", public, got, want)
			}
		}
		if len(got) == 0 || got[len(got)-1] != "/" {
			t.Errorf("Routes() = %q, want the catch-all / last", got)
		}
	}
}

// TestEveryRouteBehindAuthentication: every route but the open ones
// (health checks, a public /metrics, the JSON answer at / and the
// catch-all) answers 401 without credentials, for its own method, and
// every route that is not a read answers 403 to read-only credentials.
// The rule against DNS rebinding leaves a change that carries
// credentials to authenticate (rebinding.go): a route that changes
// anything must never be registered outside it.
func TestEveryRouteBehindAuthentication(t *testing.T) {
	metricsPage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	s, api := newHardenedStack(t, httpapi.Config{Auth: userCreds, Admin: adminCreds, ReadOnly: readOnlyCreds, Metrics: metricsPage})
	open := []string{"/{$}", "GET /healthz", "GET /readyz", "/"}
	path := strings.NewReplacer("{name}", "x", "{pool}", "p", "{member}", "m", "/ui/", "/ui/app.js")
	checked := 0
	for _, pattern := range api.Routes() {
		method, p, ok := strings.Cut(pattern, " ")
		if slices.Contains(open, pattern) || !ok {
			continue
		}
		checked++
		p = path.Replace(p)
		authRequired(t, s, method, p, `{"key":"k"}`, anonymous())
		if method != http.MethodGet {
			s.do(method, p, `{"key":"k"}`, as(readOnlyCreds.User, readOnlyCreds.Pass)).expect(t, 403, "read-only "+pattern)
		}
	}
	if checked < 15 {
		t.Errorf("checked %d routes of %q", checked, api.Routes())
	}
	if l := s.list(t); len(l) != 0 {
		t.Errorf("locks after refused requests: %v", keys(l))
	}
}
