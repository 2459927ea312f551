// Command locker is a lock server for deploys and pipelines, and its
// command-line client. See README.md, and `locker --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/cloudfoundry-community/locker/cli"
)

func main() {
	// Caught from the start: a signal while a client command waits for a
	// lock ends its context (given back, exit 130) instead of killing it.
	ctx, stop := signal.NotifyContext(context.Background(), cli.Signals(os.Args)...)
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
