package cli

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what is written to tty is read from
// master.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// runOnTTY runs the command in process with its stdout on a terminal, and
// returns what the terminal got, and the command's stderr.
func runOnTTY(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	master, tty := openPTY(t)
	if !isTerminal(tty) {
		t.Fatal("the pseudo-terminal is not taken for a terminal")
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // EIO once the terminal side is closed
		got <- string(b)
	}()
	var errb syncBuffer
	err := Run(context.Background(), append([]string{"locker"}, args...), func(k string) string { return env[k] }, tty, &errb)
	tty.Close()
	var exit ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.Code
	case err != nil:
		code = 1
	}
	return strings.ReplaceAll(<-got, "\r\n", "\n"), errb.String(), code
}

// A server (a proxy, a man in the middle of plain HTTP, or one other than
// Locker) may name the member it grants as it likes: locker pool acquire
// prints the name escaped on a terminal, as the other commands print the
// server's text, and as it is for the scripts that capture it.
func TestPoolAcquireNameOnTerminal(t *testing.T) {
	const name = "aws-1\x1b]0;owned\x07\x1b[2J\u202e"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/pool/envs" {
			http.Error(w, `{"error":"no such route"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"aws-1\u001b]0;owned\u0007\u001b[2J\u202e","key":"k","locked_by":{"k":1},"state":"held","fence":3,"holds":{"k":{"count":1,"acquired":"2026-01-01T00:00:00Z"}},"waiters":0,"pools":["envs"]}`)
	}))
	defer srv.Close()
	env := map[string]string{"LOCKER_URL": srv.URL}

	out, errOut, code := runOnTTY(t, env, "pool", "acquire", "envs", "--key", "k")
	if code != 0 || out != `aws-1\x1b]0;owned\a\x1b[2J\u202e`+"\n" {
		t.Fatalf("on a terminal: exit %d, stdout %q, stderr %q; want the name escaped", code, out, errOut)
	}

	// Not a terminal: the name as it is, for locker unlock "$member".
	locker(t, context.Background(), env, "pool", "acquire", "envs", "--key", "k").want(t, 0, "^"+regexp.QuoteMeta(name)+"\n$", "^$")
}
