package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudfoundry-community/locker/lock"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestMigrateOriginalCounts: locker migrate --original counts one lock,
// one hold, in the singular ("left out 1 hold", not "1 holds"), more in
// the plural.
func TestMigrateOriginalCounts(t *testing.T) {
	dir := t.TempDir()
	store := func(name string, leased, short []string) string {
		src := filepath.Join(dir, name+".yml")
		withService(t, src, func(s *lockservice.Service) {
			for _, l := range leased {
				_, err := s.Acquire(bgCtx, l, lock.Request{Key: "k", Holder: "h-" + l, TTL: time.Hour}, 0)
				must(t, err)
			}
			for _, l := range short {
				_, err := s.Acquire(bgCtx, l, lock.Request{Key: "k", Holder: "h-" + l, TTL: time.Second}, 0)
				must(t, err)
			}
		})
		return src
	}
	cases := []struct {
		src   string
		wants []string
	}{
		{store("short", nil, []string{"s1"}), []string{
			"wrote 1 lock (0 held) from ",
			"left out 1 hold whose lease had run out\n",
		}},
		{store("leased", []string{"l1"}, nil), []string{
			"wrote 1 lock (1 held) from ",
			"1 hold had a lease, which the original locker does not end: it lasts until released:\n  \"l1\" held by \"h-l1\"\n",
		}},
		{store("more", []string{"l1", "l2"}, []string{"s1", "s2"}), []string{
			"wrote 4 locks (2 held) from ",
			"left out 2 holds whose leases had run out\n",
			"2 holds had a lease, which the original locker does not end: they last until released:\n",
		}},
	}
	time.Sleep(1500 * time.Millisecond) // the short leases run out, the stores closed
	for _, c := range cases {
		out, err := migrate(t, "--from", c.src, "--to", strings.TrimSuffix(c.src, ".yml")+".json", "--original")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range c.wants {
			if !strings.Contains(out, want) {
				t.Errorf("migrate --original printed\n%s\nwant %q in it", out, want)
			}
		}
	}
}
