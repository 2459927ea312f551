package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// bruteNearestRank is the nearest-rank percentile by its definition: the
// smallest sample such that at least p% of the samples are at or below it.
func bruteNearestRank(ds []time.Duration, p int) time.Duration {
	best, found := time.Duration(0), false
	for _, c := range ds {
		atOrBelow := 0
		for _, d := range ds {
			if d <= c {
				atOrBelow++
			}
		}
		// at least p% of the n samples, in integers
		if 100*atOrBelow >= p*len(ds) && (!found || c < best) {
			best, found = c, true
		}
	}
	return best
}

// TestSummarizeMatchesBruteForce checks the percentiles, max and mean of
// summarize against their definitions, for small sample counts (where
// nearest rank and interpolation differ most), with ties, and for the
// counts around 100 where p99 moves from the max to the one below it.
func TestSummarizeMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var counts []int
	for n := 1; n <= 40; n++ {
		counts = append(counts, n)
	}
	counts = append(counts, 99, 100, 101, 199, 200, 201, 1000, 1001)
	for _, n := range counts {
		for _, distinct := range []int{1, 2, 3, 1000} { // few distinct values: many ties
			ds := make([]time.Duration, n)
			var sum time.Duration
			for i := range ds {
				ds[i] = time.Duration(1+rng.IntN(distinct)) * 37 * time.Microsecond
				sum += ds[i]
			}
			orig := slices.Clone(ds)
			l := summarize(ds)
			want := Latency{
				N:    n,
				P50:  ms(bruteNearestRank(orig, 50)),
				P90:  ms(bruteNearestRank(orig, 90)),
				P99:  ms(bruteNearestRank(orig, 99)),
				Max:  ms(slices.Max(orig)),
				Mean: ms(sum / time.Duration(n)),
			}
			if l != want {
				t.Fatalf("n=%d, %d distinct values %v:\n got %+v\nwant %+v", n, distinct, orig, l, want)
			}
		}
	}
	// Known small cases.
	msd := func(xs ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	for _, c := range []struct {
		in                 []time.Duration
		p50, p90, p99, max float64
	}{
		{msd(7), 7, 7, 7, 7},
		{msd(2, 1), 1, 2, 2, 2},
		{msd(3, 1, 2), 2, 3, 3, 3},
		{msd(1, 2, 3, 4), 2, 4, 4, 4},
		{msd(5, 5, 5, 1), 5, 5, 5, 5},
		{msd(1, 1, 1, 9), 1, 9, 9, 9},
		{msd(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 5, 9, 10, 10},
		{msd(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 6, 10, 11, 11},
	} {
		l := summarize(c.in)
		if l.P50 != c.p50 || l.P90 != c.p90 || l.P99 != c.p99 || l.Max != c.max {
			t.Errorf("summarize(%v) = %+v, want p50 %v p90 %v p99 %v max %v", c.in, l, c.p50, c.p90, c.p99, c.max)
		}
	}
}
