package httpapi_test

import (
	"net/http"
	"slices"
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
