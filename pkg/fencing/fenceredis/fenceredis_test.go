package fenceredis_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/fencing/fenceredis"
	"github.com/leasehold/leasehold/test/support/testserver"
)

func client(t *testing.T, r *testserver.Redis) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wantValue(t *testing.T, c *goredis.Client, value string, token uint64) {
	t.Helper()
	v, tok, err := fenceredis.Get(context.Background(), c, "report")
	if err != nil {
		t.Fatal(err)
	}
	if v != value || tok != token {
		t.Errorf("Get = %q, %d; want %q, %d", v, tok, value, token)
	}
}

func wantStale(t *testing.T, err error, token, highest uint64) {
	t.Helper()
	var stale *fencing.StaleTokenError
	if !errors.Is(err, fencing.ErrStaleToken) || !errors.As(err, &stale) {
		t.Fatalf("Set with token %d = %v, want ErrStaleToken", token, err)
	}
	if diff := cmp.Diff(fencing.StaleTokenError{Lock: "report", Token: token, Highest: highest}, *stale); diff != "" {
		t.Errorf("stale error (-want +got):\n%s", diff)
	}
}

func TestLowerTokenChangesNothingAcrossRestart(t *testing.T) {
	ctx := context.Background()
	// The fence is as durable as the server's data: this server keeps an
	// append-only file, synced on every write, across its restart.
	r := testserver.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	c := client(t, r)

	if _, _, err := fenceredis.Get(ctx, c, "report"); !errors.Is(err, fenceredis.ErrNotFound) {
		t.Fatalf("Get of an absent key = %v, want ErrNotFound", err)
	}
	if err := fenceredis.Set(ctx, c, "report", "from A", 5); err != nil {
		t.Fatalf("A's write: %v", err)
	}
	if err := fenceredis.Set(ctx, c, "report", "from B", 7); err != nil {
		t.Fatalf("B's write: %v", err)
	}
	wantStale(t, fenceredis.Set(ctx, c, "report", "late from A", 5), 5, 7)
	wantValue(t, c, "from B", 7)

	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	c = client(t, r)
	wantStale(t, fenceredis.Set(ctx, c, "report", "later from A", 6), 6, 7)
	wantValue(t, c, "from B", 7)
	if err := fenceredis.Set(ctx, c, "report", "again from B", 7); err != nil {
		t.Fatalf("B's write after the restart: %v", err)
	}
	wantValue(t, c, "again from B", 7)
}

// Tokens compare as numbers, exactly, up to the largest token, where Lua's
// doubles would round.
func TestTokensCompareExactly(t *testing.T) {
	ctx := context.Background()
	c := client(t, testserver.StartRedis(t))
	const big = uint64(fencing.MaxToken)
	if err := fenceredis.Set(ctx, c, "report", "big", big); err != nil {
		t.Fatal(err)
	}
	wantStale(t, fenceredis.Set(ctx, c, "report", "big-1", big-1), big-1, big)
	if err := fenceredis.Set(ctx, c, "other", "v", 10); err != nil {
		t.Fatal(err)
	}
	if err := fenceredis.Set(ctx, c, "other", "v", 9); !errors.Is(err, fencing.ErrStaleToken) {
		t.Fatalf("9 after 10 = %v, want ErrStaleToken (a string comparison would accept it)", err)
	}
	if err := fenceredis.Set(ctx, c, "report", "v", 0); !errors.Is(err, fencing.ErrInvalidArgument) {
		t.Fatalf("token 0 = %v, want ErrInvalidArgument", err)
	}
}
