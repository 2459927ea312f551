// Command locker is a lock server for deploys and pipelines, and its
// command-line client. See README.md, and `locker --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudfoundry-community/locker/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	var exit cli.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.Code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "locker:", err)
		os.Exit(1)
	}
}
