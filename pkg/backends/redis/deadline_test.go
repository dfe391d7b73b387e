package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/test/support/faultproxy"
)

// Every operation honours its context's deadline when the server stops
// answering: the client's own read timeout here is a minute, so only the
// deadline can end the calls this test waits for.
func TestOperationsHonourTheDeadlineOfAServerThatDoesNotAnswer(t *testing.T) {
	proxy, err := faultproxy.Start(server.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	u := strings.Replace(server.URL(), server.Addr(), proxy.Addr(), 1)
	if strings.Contains(u, "?") {
		u += "&read_timeout=1m&write_timeout=1m"
	} else {
		u += "?read_timeout=1m&write_timeout=1m"
	}
	ctx := context.Background()
	b, err := redis.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	l, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "me", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	proxy.Blackhole(faultproxy.Both)
	const deadline = 300 * time.Millisecond
	// Far below the read timeout, far above the deadline: a call that
	// returns before it did not wait for the socket.
	const bound = 20 * time.Second
	for _, op := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Acquire", func(ctx context.Context) error {
			_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "other", Holder: "me", LeaseDuration: time.Minute})
			return err
		}},
		{"Renew", func(ctx context.Context) error {
			_, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "me", Version: l.Version, LeaseDuration: time.Minute})
			return err
		}},
		{"Release", func(ctx context.Context) error {
			return b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "me", Version: l.Version})
		}},
		{"Get", func(ctx context.Context) error { _, err := b.Get(ctx, "k"); return err }},
		{"List", func(ctx context.Context) error { _, err := b.List(ctx, &backends.ListRequest{Limit: 10}); return err }},
	} {
		t.Run(op.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := op.call(ctx)
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s against a black hole: %v, want context.DeadlineExceeded", op.name, err)
			}
			if elapsed > bound {
				t.Errorf("%s returned after %s: it waited for the socket's read timeout, not the context's deadline", op.name, elapsed)
			}
		})
	}
}
