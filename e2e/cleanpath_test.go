package e2e

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// Through the binary, as a pipeline's script sends it: curl without -L,
// against a base URL that ends in "/", gets the lock it names, in one
// answer (a redirect had it take nothing, or with -L the lock "a%20b").
func TestUncleanPathEndToEnd(t *testing.T) {
	s := startServer(t, nil)
	base := s.URL + "/"
	out, err := exec.Command("curl", "-sS", "--path-as-is", "-X", "PUT", base+"/lock/a%20b", "-d", `{"key":"k"}`).Output()
	if err != nil {
		t.Fatalf("curl PUT: %v", err)
	}
	var l struct{ Name, State string }
	if err := json.Unmarshal(out, &l); err != nil || l.Name != "a b" || l.State != "held" {
		t.Fatalf("PUT %s/lock/a%%20b answered %q (%v), want the lock \"a b\" held", base, out, err)
	}
	out, err = exec.Command("curl", "-sS", "--path-as-is", base+"/locks").Output()
	var list map[string]json.RawMessage
	if err != nil || json.Unmarshal(out, &list) != nil || len(list) != 1 || list["a b"] == nil {
		t.Fatalf("GET %s/locks = %q (%v), want the one lock \"a b\"", base, out, err)
	}
}
