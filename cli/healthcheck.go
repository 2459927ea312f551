package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const healthcheckHelp = `Usage: locker healthcheck

Asks the server on this machine whether it is alive (GET /healthz) and exits
0 if it is, 1 if not (2: a bad command line; it takes no arguments): for
container health checks (the image has no curl).
It reads the server's own variables to find it: PORT, LOCKER_LISTEN, and
SSL_CERT (then it speaks HTTPS, without checking the certificate: it only
asks whether the process answers).
`

// runHealthcheck checks the local server's /healthz.
func runHealthcheck(ctx context.Context, args []string, env Env, stdout, stderr io.Writer) error {
	fs := commandFlags("locker healthcheck")
	if done, err := parseFlags(fs, args, healthcheckHelp, stdout); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: locker healthcheck takes no arguments (got %q): it reads PORT, LOCKER_LISTEN and SSL_CERT; see locker healthcheck --help", errUsage, fs.Args())
	}
	port := env("PORT")
	if port == "" {
		port = "3000"
	}
	host := "127.0.0.1"
	if l := env("LOCKER_LISTEN"); l != "" {
		h, p, err := net.SplitHostPort(l)
		if err != nil {
			h = unbracket(l)
		} else {
			port = p
		}
		if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
			host = h
		}
	}
	scheme := "http"
	if env("SSL_CERT") != "" {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // liveness only; no credentials are sent
	}}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "ok: %s\n", url)
	return nil
}
