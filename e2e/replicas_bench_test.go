package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudfoundry-community/locker/pgstore/pgtest"
)

// BenchmarkReplicas measures lock/unlock operations per second through one
// and through three replicas of the real binary on one PostgreSQL schema
// (LOCKER_TEST_DATABASE_URL), 8 concurrent clients spread over the
// replicas, each on a lock of its own. One op is one PUT or DELETE.
//
//	LOCKER_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//	  go test ./e2e/ -run '^$' -bench Replicas -benchtime 5s
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			dbURL := pgtest.Schema(b)
			var urls []string
			for i := 0; i < n; i++ {
				urls = append(urls, startServer(b, []string{"LOCKER_DATABASE_URL=" + dbURL}).URL)
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			var client atomic.Int64
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := client.Add(1)
				base := urls[int(id)%len(urls)]
				url := fmt.Sprintf("%s/lock/bench-%d", base, id)
				body := fmt.Sprintf(`{"key":"k%d"}`, id)
				put := true
				for pb.Next() {
					method := http.MethodDelete
					if put {
						method = http.MethodPut
					}
					put = !put
					req, _ := http.NewRequest(method, url, strings.NewReader(body))
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s %s: %s", method, url, resp.Status)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
