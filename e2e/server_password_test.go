package e2e

import (
	"net/url"
	"strings"
	"testing"
)

// The server logs where it keeps locks, never the database's password,
// whether LOCKER_DATABASE_URL is a URL or a keyword=value connection string
// (a review found `store="postgres://host=... password=hunter2 ..."` in the
// log: the connection string was read as a URL's path); nor does it print
// one when it cannot parse it.
func TestServerDoesNotLogTheDatabasePassword(t *testing.T) {
	t.Parallel() // a server of its own; no package variables, environment or fixed ports: beside the others (CI time)
	db := haDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2")
	q := u.Query()
	q.Set("sslpassword", "hunter2-ssl")
	u.RawQuery = q.Encode()
	for _, tc := range []struct{ name, spec, want string }{
		{"connection string", connectionString(t, db, "hunter2"), ` password=xxxxx `},
		{"URL", u.String(), ":xxxxx@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, []string{"LOCKER_DATABASE_URL=" + tc.spec})
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			out := srv.Output()
			if strings.Contains(out, "hunter2") || !strings.Contains(out, tc.want) {
				t.Errorf("want the store logged with %q, no password:\n%s", tc.want, out)
			}
		})
	}
	for _, spec := range []string{"host=127.0.0.1 password='hunter2 unterminated", "postgres://u:hunter2%zz@127.0.0.1/x", "hunter2 password=hunter2"} {
		out, code := runLocker(t, []string{"LOCKER_DATABASE_URL=" + spec, "LOCKER_LISTEN=127.0.0.1:0"})
		if code == 0 || !strings.Contains(out, "cannot parse") || strings.Contains(out, "hunter2") {
			t.Errorf("LOCKER_DATABASE_URL=%s: exit %d, want a refusal without the password:\n%s", spec, code, out)
		}
	}
}
