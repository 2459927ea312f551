package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"testing"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

// TestPoolRemoveHolderNotChecked: locker pool rm --force --holder H (or
// --key K) answered by a server from before the holder condition
// (simulated: its answers lack Locker-Holder-Checked), which ignores them
// and forces every hold: the member was removed (exit 0, said on stdout),
// and stderr warns that every hold on it was ended, not only H's. A
// server that checks gets no warning, nor does a removal that names no
// holder or key.
func TestPoolRemoveHolderNotChecked(t *testing.T) {
	url := testServer(t, httpapi.Config{}, lockservice.Config{})
	target, _ := neturl.Parse(url)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Header.Del("Locker-Holder-Checked")
		return nil
	}
	old := httptest.NewServer(rp)
	t.Cleanup(old.Close)
	ctx := context.Background()
	cl, _ := client.New(client.Options{URL: url})
	for _, m := range []string{"env-1", "env-2", "env-3", "env-4"} {
		if _, err := cl.AddMember(ctx, "envs", m, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Lock(ctx, m, client.LockOptions{Key: "build", Holder: "build-1"}); err != nil {
			t.Fatal(err)
		}
	}
	oldEnv := map[string]string{"LOCKER_URL": old.URL}
	warning := `^locker pool rm: warning: the server does not check a forced removal's holder \(it predates --holder and --key\): it removed 'env-1' from pool 'envs' and ended every hold on it, whoever's, without checking that they were all held by 'build-1' under key 'build'; see 'locker history env-1'\n$`
	locker(t, ctx, oldEnv, "pool", "rm", "envs", "env-1", "--force", "--key", "build", "--holder", "build-1").
		want(t, 0, `^removed 'env-1' from pool 'envs'; it is free\n$`, warning)
	locker(t, ctx, oldEnv, "pool", "rm", "envs", "env-2", "--force", "--holder", "build-1", "--json").
		want(t, 0, `"name": "env-2"`, `^locker pool rm: warning: the server does not check a forced removal's holder .*whoever's, without checking that they were all held by 'build-1'; see 'locker history env-2'\n$`)
	locker(t, ctx, oldEnv, "pool", "rm", "envs", "env-3", "--force").
		want(t, 0, `^removed 'env-3' from pool 'envs'; it is free\n$`, `^$`)
	locker(t, ctx, map[string]string{"LOCKER_URL": url}, "pool", "rm", "envs", "env-4", "--force", "--key", "build", "--holder", "build-1").
		want(t, 0, `^removed 'env-4' from pool 'envs'; it is free\n$`, `^$`)
}
