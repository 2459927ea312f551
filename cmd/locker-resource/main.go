// Command locker-resource is Locker's Concourse resource type. Concourse
// runs it as /opt/resource/check, /opt/resource/in <dir> and
// /opt/resource/out <dir> (links to this one binary); it also runs as
// `locker-resource check|in|out [dir]`. See docs/concourse.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudfoundry-community/locker/resource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd, args := resource.Command(os.Args)
	code := resource.Run(ctx, cmd, args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
