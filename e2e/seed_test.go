package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestSeedReadmeExamples runs the seed README's curl examples, word for word
// in meaning, against the built binary.
func TestSeedReadmeExamples(t *testing.T) {
	s := startServer(t, nil)
	lockURL := s.URL + "/lock/prod-deployments"
	steps := []struct {
		method, url, body string
		status            int
		want              string
	}{
		{"PUT", lockURL, `{"key":"prod-cloudfoundry"}`, 200, `"locked_by":{"prod-cloudfoundry":1}`},
		{"PUT", lockURL, `{"key":"prod-cloudfoundry", "lock_by": "my-deployment"}`, 200, `"my-deployment":1`},
		{"PUT", lockURL, `{"key":"someone-else"}`, 423, `"error":`},
		{"GET", s.URL + "/locks", "", 200, `"prod-deployments":{`},
		{"DELETE", lockURL, `{"key":"prod-cloudfoundry","locked_by":"my-deployment"}`, 200, `"locked_by":{"prod-cloudfoundry":1}`},
		{"DELETE", lockURL, `{"key":"prod-cloudfoundry"}`, 200, `"key":""`},
		{"GET", s.URL + "/locks", "", 200, `"prod-deployments":{"name":"prod-deployments","key":"","locked_by":{}`},
	}
	for i, st := range steps {
		status, body := do(t, http.DefaultClient, st.method, st.url, st.body)
		if status != st.status || !strings.Contains(body, st.want) {
			t.Fatalf("step %d: %s %s %s: got %d %s, want %d containing %s", i, st.method, st.url, st.body, status, body, st.status, st.want)
		}
	}
}
