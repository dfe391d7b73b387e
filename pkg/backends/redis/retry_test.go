package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/test/support/faultproxy"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// A client built by the user with go-redis's default retries (MaxRetries
// 0, which means 3) is accepted, and no script is sent twice: when the
// connection is lost after the script ran, the operation reports an
// ambiguous ErrUnavailable and the server has run the script once. A retried Acquire would renew the grant it
// made, a retried Renew report ErrVersionMismatch, a retried Release
// ErrNotHolder.
func TestNewSendsNoScriptTwiceWhateverTheClientsRetries(t *testing.T) {
	r := testserver.StartRedis(t)
	proxy, err := faultproxy.Start(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	// go-redis retries a command whose connection was reset.
	c := goredis.NewClient(&goredis.Options{Addr: proxy.Addr(), PoolSize: 1, MinRetryBackoff: time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	if got := c.Options().MaxRetries; got < 1 {
		t.Fatalf("client MaxRetries = %d, want go-redis's default retries", got)
	}
	b := newBackend(t, c)
	admin := adminClient(t, r, 0, "")
	ctx := context.Background()
	acquire(t, b, "held", "me", nil) // also loads the scripts

	for _, op := range []struct {
		name string
		call func(ctx context.Context, version string) error
	}{
		{"Acquire", func(ctx context.Context, _ string) error {
			_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "new", Holder: "me", LeaseDuration: time.Minute})
			return err
		}},
		{"Renew", func(ctx context.Context, version string) error {
			_, err := b.Renew(ctx, &backends.RenewRequest{Key: "held", Holder: "me", Version: version, LeaseDuration: time.Minute})
			return err
		}},
		{"Release", func(ctx context.Context, version string) error {
			return b.Release(ctx, &backends.ReleaseRequest{Key: "held", Holder: "me", Version: version})
		}},
	} {
		t.Run(op.name, func(t *testing.T) {
			// The version as it is now (an earlier case may have changed
			// it), read over a connection that the call then reuses.
			proxy.Heal()
			l, err := b.Get(ctx, "held")
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			// The script runs; its reply is held, then lost with the
			// connection, which go-redis would retry on a fresh one.
			proxy.Blackhole(faultproxy.Downstream)
			done := make(chan error, 1)
			go func() { done <- op.call(ctx, l.Version) }()
			waitForScriptCalls(t, admin, 1)
			proxy.ResetAll()
			proxy.Heal()
			if err := <-done; !errors.Is(err, backends.ErrUnavailable) {
				t.Errorf("%s with its reply lost: %v, want ErrUnavailable", op.name, err)
			}
			if n := scriptCalls(t, admin); n != 1 {
				t.Errorf("%s ran its script %d times, want once", op.name, n)
			}
		})
	}
}

// waitForScriptCalls waits until the server has run n scripts.
func waitForScriptCalls(t *testing.T, admin *goredis.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for scriptCalls(t, admin) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the server ran fewer than %d scripts in 30s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scriptCalls is how many EVALSHA and EVAL calls the server has run since
// its statistics were reset.
func scriptCalls(t *testing.T, admin *goredis.Client) int {
	t.Helper()
	info, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		v, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q: %v", line, err)
		}
		n += v
	}
	return n
}
