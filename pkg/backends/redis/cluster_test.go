package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// startCluster starts a one-node Redis Cluster that owns every slot. One
// node is enough to prove the key layout: a cluster node refuses a script
// whose keys hash to different slots (CROSSSLOT) whether or not another
// node would own them.
func startCluster(t *testing.T) *goredis.ClusterClient {
	t.Helper()
	c, _ := startClusterServer(t)
	return c
}

func startClusterServer(t *testing.T) (*goredis.ClusterClient, *testserver.Redis) {
	t.Helper()
	r := testserver.StartRedis(t, "--cluster-enabled", "yes")
	ctx := context.Background()
	node := adminClient(t, r, 0, "")
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("assigning slots: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := node.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok after 20s: %q, %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{r.Addr()}})
	t.Cleanup(func() { _ = c.Close() })
	return c, r
}

// The whole contract holds on Redis Cluster: every script's keys share a
// slot, List scans every master, and pub/sub reaches waiters.
func TestConformanceOnCluster(t *testing.T) {
	c := startCluster(t)
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			b, err := lhredis.New(c, lhredis.WithNamespace(namespace))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return b
		},
		TimeTolerance: time.Microsecond,
	})
}

// A script whose keys were in different slots would fail with CROSSSLOT:
// keys full of braces still map both of a lock's keys to one slot.
func TestClusterKeysWithBraces(t *testing.T) {
	c := startCluster(t)
	b := newBackend(t, c, lhredis.WithNamespace("braces"))
	ctx := context.Background()
	for _, key := range []string{"{a}", "x{b}y", "}{", "{{}}", "{"} {
		l := acquire(t, b, key, "h", nil)
		release(t, b, l, true) // writes the fence, deletes the record
		l = acquire(t, b, key, "h", nil)
		if _, err := b.Get(ctx, key); err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		release(t, b, l, false)
	}
}

// Open with cluster=true builds a Cluster client from the URL.
func TestOpenClusterURL(t *testing.T) {
	_, r := startClusterServer(t)
	b, err := openURL(t, "redis://"+r.Addr()+"?cluster=true&namespace=opened")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	l := acquire(t, b, "k", "a", nil)
	page, err := b.List(context.Background(), &backends.ListRequest{Limit: 10})
	if err != nil || len(page.Locks) != 1 || page.Locks[0].Key != "k" {
		t.Fatalf("List = %+v, %v; want the one lock", page.Locks, err)
	}
	release(t, b, l, false)
}
