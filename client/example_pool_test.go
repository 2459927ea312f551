package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/cloudfoundry-community/locker/client"
)

// Set up a pool of interchangeable test environments, each with its
// settings as metadata.
func ExampleClient_AddMember() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	for _, env := range []struct{ name, region string }{{"aws-1", "us-east-1"}, {"aws-2", "eu-west-1"}} {
		metadata, _ := json.Marshal(map[string]string{"region": env.region})
		if _, err := c.AddMember(ctx, "test-envs", env.name, metadata); err != nil {
			log.Fatal(err)
		}
	}
	p, err := c.Pool(ctx, "test-envs")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d of %d free\n", p.Name, p.Free, p.Total)
	for _, m := range p.Members {
		fmt.Printf("  %s %s %s\n", m.Name, m.State, m.Metadata)
	}
	// Output:
	// test-envs: 2 of 2 free
	//   aws-1 free {"region":"us-east-1"}
	//   aws-2 free {"region":"eu-west-1"}
}

// Take whichever environment is free, read its settings, use it, and give
// it back.
func ExampleClient_AcquireFromPool() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	c.AddMember(ctx, "test-envs", "aws-1", json.RawMessage(`{"region":"us-east-1"}`))

	// Wait up to 30 minutes for a free member; the lease ends by itself
	// after an hour should this program die without releasing it.
	ctx30, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	env, err := c.AcquireFromPool(ctx30, "test-envs", client.LockOptions{Key: "integration-tests", Holder: "build-42", TTL: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	var settings struct{ Region string }
	if err := json.Unmarshal(env.Metadata, &settings); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("testing on %s in %s (fencing token %d)\n", env.Name, settings.Region, env.Fence)

	// ... run the tests ...

	if _, err := c.Unlock(ctx, env.Name, "integration-tests", "build-42"); err != nil {
		log.Fatal(err)
	}
	// Output: testing on aws-1 in us-east-1 (fencing token 1)
}

// When every member is held, LockFromPool without a wait fails at once with
// ErrLocked.
func ExampleClient_LockFromPool() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	c.AddMember(ctx, "test-envs", "aws-1", nil)
	c.LockFromPool(ctx, "test-envs", client.LockOptions{Key: "job-a"})

	_, err = c.LockFromPool(ctx, "test-envs", client.LockOptions{Key: "job-b"})
	fmt.Println(errors.Is(err, client.ErrLocked))
	fmt.Println(err)
	// Output:
	// true
	// pool "test-envs" has no free member (1 members, all held) (HTTP 423)
}

// List every pool with its free members.
func ExampleClient_Pools() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	c.AddMember(ctx, "linux-runners", "runner-a", nil)
	c.AddMember(ctx, "linux-runners", "runner-b", nil)
	c.AddMember(ctx, "test-envs", "aws-1", nil)
	c.Lock(ctx, "runner-a", client.LockOptions{Key: "nightly"}) // a member taken by name

	pools, err := c.Pools(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pools {
		fmt.Printf("%s: %d/%d free, %d waiting\n", p.Name, p.Free, p.Total, p.Waiters)
	}
	// Output:
	// linux-runners: 1/2 free, 0 waiting
	// test-envs: 1/1 free, 0 waiting
}

// Removing a member that is held fails with ErrLocked unless forced.
func ExampleClient_RemoveMember() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	c.AddMember(ctx, "test-envs", "aws-1", nil)
	c.Lock(ctx, "aws-1", client.LockOptions{Key: "job-a"})

	_, err = c.RemoveMember(ctx, "test-envs", "aws-1", false)
	fmt.Println(errors.Is(err, client.ErrLocked))
	l, err := c.RemoveMember(ctx, "test-envs", "aws-1", true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.State, l.Pools)
	// Output:
	// true
	// free []
}
