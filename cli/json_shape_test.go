package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// status --json and list --json promise the server's shapes (GET
// /lock/NAME, GET /locks): the same JSON value, free locks' "holds": {}
// included, so that a script's jq reads the same fields from either.
func TestJSONOutputIsTheServers(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	env := map[string]string{"LOCKER_URL": url}
	ctx := context.Background()

	locker(t, ctx, env, "lock", "held", "--key", "k", "--ttl", "1h").want(t, 0, ``, `^$`)
	locker(t, ctx, env, "lock", "freed", "--key", "k").want(t, 0, ``, `^$`)
	locker(t, ctx, env, "unlock", "freed", "--key", "k").want(t, 0, ``, `^$`)
	locker(t, ctx, env, "pool", "add", "envs", "env-1", "--metadata", `{"host":"a"}`).want(t, 0, ``, `^$`)

	server := func(path string) any {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
		return v
	}
	same := func(args []string, want any) {
		t.Helper()
		r := locker(t, ctx, env, args...)
		r.want(t, 0, ``, `^$`)
		var got any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r.stdout)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("locker %v printed\n%s\nthe server says\n%v", args, r.stdout, want)
		}
	}
	for _, name := range []string{"held", "freed", "env-1"} {
		same([]string{"status", name, "--json"}, server("/lock/"+name))
	}
	same([]string{"list", "--json"}, server("/locks"))

	// A lock never used, which the server does not know (404), is printed
	// in the shape of a free lock, "holds": {} included, with exit 0.
	r := locker(t, ctx, env, "status", "never-used", "--json")
	r.want(t, 0, ``, `^$`)
	var never map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &never); err != nil {
		t.Fatalf("status never-used --json: %v\n%s", err, r.stdout)
	}
	free := server("/lock/freed").(map[string]any)
	free["name"], free["fence"] = "never-used", 0.0
	if !reflect.DeepEqual(never, free) {
		t.Errorf("locker status never-used --json printed\n%s\nwant the shape of a free lock:\n%v", r.stdout, free)
	}
}
