//go:build crashloop

// Crash harness server: the real store, service and API, with a small
// compaction threshold (COMPACT_BYTES) so that kills land in compactions.
// Run with the load (see ../load):
//
//	go build -tags crashloop -o /tmp/crash-server ./e2e/crashloop/server
//	go build -tags crashloop -o /tmp/crash-load ./e2e/crashloop/load
//	/tmp/crash-load -rounds 400 -port 21100 -dir /tmp/crash-data -idle 1500
//
// -fill (with -dir on a small tmpfs) fills the disk now and then.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/cloudfoundry-community/locker/filestore"
	"github.com/cloudfoundry-community/locker/httpapi"
	"github.com/cloudfoundry-community/locker/lockservice"
)

func main() {
	compact, _ := strconv.ParseInt(os.Getenv("COMPACT_BYTES"), 10, 64)
	hist, _ := strconv.Atoi(os.Getenv("HISTORY"))
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := filestore.Open(os.Getenv("LOCKER_CONFIG"), filestore.Options{CompactBytes: compact, HistoryLimit: hist, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "OPEN FAILED:", err)
		os.Exit(3)
	}
	svc := lockservice.New(store, lockservice.Config{})
	if err := svc.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "START FAILED:", err)
		os.Exit(4)
	}
	ln, err := net.Listen("tcp", os.Getenv("LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	api := httpapi.New(svc, httpapi.Config{Logger: log})
	fmt.Println("listening")
	http.Serve(ln, api)
}
