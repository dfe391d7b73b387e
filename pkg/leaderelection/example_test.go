package leaderelection_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/leaderelection"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// A candidate that leads, does its work with the term's fencing token, and
// steps down by cancelling Run's context, which releases the lease.
func ExampleRun() {
	m := lockmanager.New(memory.New()) // or lockmanager.Open(ctx, "postgres://...")
	defer m.Close()

	ctx, stepDown := context.WithCancel(context.Background())
	err := leaderelection.Run(ctx, leaderelection.Config{
		Manager:       m,
		Key:           "billing:scheduler",
		Identity:      "node-1",
		LeaseDuration: 10 * time.Second,
		Callbacks: leaderelection.Callbacks{
			OnNewLeader: func(identity string) { fmt.Println("leader:", identity) },
			OnStartedLeading: func(ctx context.Context) {
				lease, _ := leaderelection.Lease(ctx)
				fmt.Println("leading with fencing token", lease.FencingToken)
				stepDown() // a real leader works until ctx is cancelled
				<-ctx.Done()
			},
			OnStoppedLeading: func() { fmt.Println("stopped leading") },
		},
	})
	fmt.Println("stepped down:", errors.Is(err, context.Canceled))
	l, _ := m.Get(context.Background(), "billing:scheduler")
	fmt.Println("lock held after Run:", l.Held)
	// Output:
	// leader: node-1
	// leading with fencing token 1
	// stopped leading
	// stepped down: true
	// lock held after Run: false
}
