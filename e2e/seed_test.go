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

// TestSeedBodiesAsOldClientsSendThem: the bodies the original
// locker-resource writes by hand ({"key":"…","requestor":"…"}), and a seed
// example saved by an editor that starts files with a UTF-8 byte-order
// mark (curl --data-binary @file), work against the built binary; the
// stricter reading of bodies refuses what no client sends (a field twice,
// a repeated query parameter) and changes nothing; a name in another case
// is still the field, as it was for the original server.
func TestSeedBodiesAsOldClientsSendThem(t *testing.T) {
	s := startServer(t, nil)
	lockURL := s.URL + "/lock/prod-deployments"
	steps := []struct {
		method, url, body string
		status            int
		want              string
	}{
		{"PUT", lockURL, `{"key":"prod-cloudfoundry","requestor":"concourse"}`, 200, `"locked_by":{"concourse":1}`},
		{"PUT", lockURL, "\xef\xbb\xbf{\"key\":\"prod-cloudfoundry\", \"lock_by\": \"my-deployment\"}\r\n", 200, `"my-deployment":1`},
		{"PUT", lockURL, `{"key":"prod-cloudfoundry","key":"other"}`, 400, `request body has the field \"key\" twice`},
		{"PUT", lockURL, `{"KEY":"other"}`, 423, `prod-cloudfoundry`},
		{"PUT", lockURL + "?key=prod-cloudfoundry&ttl=1s&ttl=-5", ``, 400, `query string has \"ttl\" twice`},
		{"DELETE", lockURL, "\xef\xbb\xbf{\"key\":\"prod-cloudfoundry\",\"locked_by\":\"my-deployment\"}", 200, `"locked_by":{"concourse":1}`},
		{"DELETE", lockURL, `{"key":"prod-cloudfoundry","requestor":"concourse"}`, 200, `"key":""`},
	}
	for i, st := range steps {
		status, body := do(t, http.DefaultClient, st.method, st.url, st.body)
		if status != st.status || !strings.Contains(body, st.want) {
			t.Fatalf("step %d: %s %s %q: got %d %s, want %d containing %s", i, st.method, st.url, st.body, status, body, st.status, st.want)
		}
	}
}
