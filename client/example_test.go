package client_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/cloudfoundry-community/locker/client"
	"github.com/cloudfoundry-community/locker/httpapi"
)

// exampleServer starts a Locker server for an example to talk to. Real
// programs use the URL of their own server instead, e.g.
// "https://locker.example.com:3000".
func exampleServer() (url string, stop func()) {
	srv, err := startServer(serverConfig{})
	if err != nil {
		log.Fatal(err)
	}
	return srv.URL, srv.stop
}

// Take a lock, do the work it protects, and give it back.
func Example() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(client.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	l, err := c.Lock(ctx, "prod-deployments", client.LockOptions{Key: "prod-cloudfoundry", Holder: "deploy-job"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s by %v, fencing token %d\n", l.Name, l.State, l.Holders(), l.Fence)

	// ... deploy ...

	l, err = c.Unlock(ctx, "prod-deployments", "prod-cloudfoundry", "deploy-job")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s\n", l.Name, l.State)
	// Output:
	// prod-deployments: held by [deploy-job], fencing token 1
	// prod-deployments: free
}

// Trust a private certificate authority for an https server.
func ExampleNew() {
	srv, err := startServer(serverConfig{tls: true, api: httpapi.Config{Auth: httpapi.Credentials{User: "ci", Pass: "secret"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.stop()
	// Usually: caPEM, err := os.ReadFile("/etc/locker/ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	c, err := client.New(client.Options{URL: srv.URL, CACert: caPEM, User: "ci", Pass: "secret", Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	locks, err := c.List(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(locks), "locks")
	// Output: 0 locks
}

// A lock held under another key refuses the request with ErrLocked, and
// says who holds it.
func ExampleClient_Lock() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	if _, err := c.Lock(ctx, "prod", client.LockOptions{Key: "release-42", Holder: "deploy-a"}); err != nil {
		log.Fatal(err)
	}
	_, err := c.Lock(ctx, "prod", client.LockOptions{Key: "release-43", Holder: "deploy-b"})
	var apiErr *client.APIError
	if errors.Is(err, client.ErrLocked) && errors.As(err, &apiErr) {
		fmt.Printf("prod is held by %v under key %q\n", apiErr.Lock.Holders(), apiErr.Lock.Key)
	}

	// The same key shares the lock: each holder counts its holds.
	l, err := c.Lock(ctx, "prod", client.LockOptions{Key: "release-42", Holder: "smoke-tests"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.State, l.LockedBy)
	// Output:
	// prod is held by [deploy-a] under key "release-42"
	// shared map[deploy-a:1 smoke-tests:1]
}

// Acquire waits until the lock is free, then takes it.
func ExampleClient_Acquire() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	first, _ := c.Lock(ctx, "db-migrations", client.LockOptions{Key: "job-1"})
	go func() {
		time.Sleep(100 * time.Millisecond)
		c.Unlock(ctx, "db-migrations", "job-1", "")
	}()

	// Wait up to 10 minutes; with a lease of 1 minute, so that the lock is
	// freed if this program dies without unlocking (see Refresh).
	l, err := c.Acquire(ctx, "db-migrations", client.LockOptions{Key: "job-2", Wait: 10 * time.Minute, TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held by", l.Holders(), "with a newer fencing token:", l.Fence > first.Fence)
	// Output: held by [job-2] with a newer fencing token: true
}

// Unlock gives back one hold; the lock is free when the last one goes.
func ExampleClient_Unlock() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	c.Lock(ctx, "staging", client.LockOptions{Key: "k"})
	c.Lock(ctx, "staging", client.LockOptions{Key: "k"})
	l, _ := c.Unlock(ctx, "staging", "k", "")
	fmt.Println(l.State, l.LockedBy["k"])
	l, _ = c.Unlock(ctx, "staging", "k", "")
	fmt.Println(l.State)
	l, _ = c.Unlock(ctx, "staging", "k", "")
	fmt.Println(l.Message)
	// Output:
	// held 1
	// free
	// lock "staging" is not held; nothing to unlock
}

// Keep a lease alive while the work goes on.
func ExampleClient_Refresh() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	l, _ := c.Lock(ctx, "backup", client.LockOptions{Key: "nightly", TTL: 30 * time.Second})
	before := l.Holds["nightly"].Expires

	// Typically in a goroutine, every third of the TTL, each call with a
	// deadline under what is left of the lease. The fence makes sure it is
	// this hold that is renewed, not one taken afresh with the same key
	// and holder after this one ran out.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := c.RefreshFence(rctx, "backup", "nightly", "", 10*time.Minute, l.Fence)
	if err != nil {
		log.Fatal(err) // ErrNotFound: the lease ran out, or the lock was forced: stop the work
	}
	fmt.Println("lease extended:", l.Holds["nightly"].Expires.After(before))
	// Output: lease extended: true
}

// Keep a lease alive in the background while the work goes on, and stop
// the work if the hold is lost.
func ExampleClient_Keep() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	l, _ := c.Acquire(ctx, "backup", client.LockOptions{Key: "nightly", TTL: 30 * time.Second})
	k, err := c.Keep(ctx, l, "nightly", "", client.KeepOptions{})
	if err != nil {
		log.Fatal(err) // ErrNoLease: taken without a TTL
	}
	work, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-k.Lost(): // forced, or not renewed for nine tenths of the lease
			cancel()
		case <-work.Done():
		}
	}()
	_ = work // ... the work, stopping when work ends ...

	k.Stop()
	l, _ = c.Unlock(ctx, "backup", "nightly", "")
	fmt.Println(l.State, k.Err())
	// Output: free <nil>
}

// Get reads one lock.
func ExampleClient_Get() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	_, err := c.Get(ctx, "never-used")
	fmt.Println(errors.Is(err, client.ErrNotFound))

	c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "ci"})
	l, _ := c.Get(ctx, "prod")
	fmt.Println(l.Name, l.State, l.Key, l.LockedBy, l.Fence, l.Waiters)
	// Output:
	// true
	// prod held k map[ci:1] 1 0
}

// List reads every lock, sorted by name.
func ExampleClient_List() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	c.Lock(ctx, "staging", client.LockOptions{Key: "a"})
	c.Lock(ctx, "prod", client.LockOptions{Key: "b"})
	c.Unlock(ctx, "staging", "a", "")
	locks, _ := c.List(ctx)
	for _, l := range locks {
		fmt.Println(l.Name, l.State, l.Key)
	}
	// Output:
	// prod held b
	// staging free
}

// History lists a lock's recent changes, oldest first.
func ExampleClient_History() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "a"})
	c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: "b"})
	c.Unlock(ctx, "prod", "k", "a")
	c.ForceUnlock(ctx, "prod")
	events, _ := c.History(ctx, "prod")
	for _, ev := range events {
		fmt.Println(ev.Type, ev.Holder, ev.Count)
	}
	// Output:
	// acquired a 1
	// acquired b 1
	// released a 0
	// forced b 0
}

// ForceUnlock frees a lock whatever its key: for an operator cleaning up
// after a job that died.
func ExampleClient_ForceUnlock() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(client.Options{URL: url})

	c.Lock(ctx, "prod", client.LockOptions{Key: "crashed-job"})
	l, err := c.ForceUnlock(ctx, "prod")
	if errors.Is(err, client.ErrForbidden) {
		log.Fatal("only the admin user may force a release on this server")
	}
	fmt.Println(l.State)
	// Output: free
}

// Events follows every change as it happens.
func ExampleClient_Events() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _ := client.New(client.Options{URL: url})

	got := make(chan client.Event)
	go c.Events(ctx, func(ev client.Event) error {
		select {
		case got <- ev:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	// Lock until the stream sees it (the stream may start after the first
	// attempt).
	for i := 0; ; i++ {
		c.Lock(ctx, "prod", client.LockOptions{Key: "k", Holder: fmt.Sprint("h", i)})
		select {
		case ev := <-got:
			fmt.Println(ev.Type, ev.Lock, ev.Key)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Output: acquired prod k
}
