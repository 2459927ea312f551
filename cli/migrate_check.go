package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudfoundry-community/locker/pgstore"
)

// migrateAppName names locker migrate's connections in pg_stat_activity,
// apart from the servers' ("locker server <schema>", or the URL's name).
const migrateAppName = "locker migrate"

// migration is one run of locker migrate.
type migration struct {
	ignoreServers bool      // --ignore-servers
	stderr        io.Writer // warnings and progress
}

// serversGone is how long checkServers looks again for servers' connections
// before refusing: a replica stopped a moment ago leaves pg_stat_activity
// shortly after.
var serversGone = 2 * time.Second

// serversOf lists the servers' connections (tests replace it).
var serversOf = (*pgstore.Store).Servers

// checkServers refuses a database that Locker servers are connected to:
// as the source, they can change locks during the copy and after it, which
// the target would miss (a lock held there, free in the target: two
// holders once clients move over); as the target, they would serve a
// half-copied database. With --ignore-servers it only warns. When the
// check cannot be made it warns, and does not refuse.
func (mc *migration) checkServers(ctx context.Context, s *pgstore.Store, spec, role string) error {
	sessions, err := serversOf(s, ctx)
	for deadline := time.Now().Add(serversGone); err == nil && len(sessions) > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		sessions, err = serversOf(s, ctx)
	}
	if err != nil {
		fmt.Fprintf(mc.stderr, "locker migrate: warning: could not check whether Locker servers are connected to the %s database %s (%v): make sure that every replica that uses it is stopped\n",
			role, redactStore(spec), err)
		return nil
	}
	if len(sessions) == 0 {
		return nil
	}
	found := fmt.Sprintf("Locker servers are connected to the %s database %s: %s", role, redactStore(spec), describeSessions(sessions))
	if mc.ignoreServers {
		fmt.Fprintf(mc.stderr, "locker migrate: warning: %s; copying anyway (--ignore-servers)\n", found)
		return nil
	}
	harm := "They can change locks during the copy and after it, and the target would not have those changes (a lock held there could be free in the target)"
	if role == "target" {
		harm = "They would serve clients from a half-copied database"
	}
	return fmt.Errorf("%s. %s. Stop every Locker replica that uses it, then run locker migrate again (if those are not this installation's servers, --ignore-servers copies anyway)", found, harm)
}

// describeSessions says how many connections there are, by which names,
// and from which addresses.
func describeSessions(sessions []pgstore.Session) string {
	var names []string
	byAddr := map[string]int{}
	for _, s := range sessions {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
		byAddr[s.Addr]++
	}
	hidden := byAddr[""]
	delete(byAddr, "")
	addrs := make([]string, 0, len(byAddr))
	for a := range byAddr {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	from := make([]string, 0, len(addrs))
	for _, a := range addrs {
		from = append(from, fmt.Sprintf("%s (%d)", a, byAddr[a]))
	}
	where := "from " + strings.Join(from, ", ")
	const unseen = "from addresses this database role may not see (superusers and members of pg_read_all_stats may)"
	switch {
	case hidden > 0 && len(from) == 0:
		where = unseen
	case hidden > 0:
		where += fmt.Sprintf(", and %d %s", hidden, unseen)
	}
	return fmt.Sprintf("%d connections named %s, %s", len(sessions), strings.Join(quoteAll(names), " or "), where)
}

// migratePool is a connection pool to the database at url, its connections
// named as locker migrate's.
func migratePool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = migrateAppName
	return pgxpool.NewWithConfig(ctx, cfg)
}

// migrateProgressEvery is how often a long migration reports how far it got.
var migrateProgressEvery = 5 * time.Second

// copyProgress reports on stderr how far a step of the migration got, at most
// every migrateProgressEvery: nothing for a step that ends sooner.
type copyProgress struct {
	format string // with the count done and the total
	total  int
	last   time.Time
	w      io.Writer
}

func (mc *migration) progress(format string, total int) *copyProgress {
	return &copyProgress{format: format, total: total, last: time.Now(), w: mc.stderr}
}

// done is told how many are done.
func (p *copyProgress) done(n int) {
	if n <= 0 || n >= p.total || time.Since(p.last) < migrateProgressEvery {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, p.format+"\n", thousands(n), thousands(p.total))
}

// thousands writes n with commas between its groups of three digits.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
