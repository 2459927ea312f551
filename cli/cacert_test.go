package cli

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// LOCKER_CA_CERT holding the PEM text itself is taken with whitespace
// around it (a leading newline from a YAML block or a heredoc, trailing
// blanks, CRLF line ends), as the same text in a file is.
func TestCACertTextWithSurroundingWhitespace(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	ctx := context.Background()
	for name, text := range map[string]string{
		"as is":            ca,
		"leading newline":  "\n" + ca,
		"leading blanks":   "  \t" + ca,
		"trailing blanks":  strings.TrimSuffix(ca, "\n") + "  \n\n",
		"both":             "\n\n  " + strings.TrimSuffix(ca, "\n") + " \t",
		"CRLF":             strings.ReplaceAll(ca, "\n", "\r\n"),
		"indented (YAML)":  "    " + strings.ReplaceAll(strings.TrimSuffix(ca, "\n"), "\n", "\n    ") + "\n",
		"no final newline": strings.TrimSuffix(ca, "\n"),
	} {
		env := map[string]string{"LOCKER_URL": srv.URL, "LOCKER_CA_CERT": text}
		r := locker(t, ctx, env, "list")
		if r.code != 0 {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", name, r.code, r.stdout, r.stderr)
		}
	}
}
