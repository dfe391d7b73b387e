package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/test/support/testserver"
)

const sentinelMaster = "leasehold"

// startSentinelSet starts a master, a replica of it and a sentinel
// watching them, and waits until the sentinel knows the replica in sync.
func startSentinelSet(t *testing.T) (master, replica *testserver.Redis, sentinel *testserver.Sentinel) {
	t.Helper()
	master = testserver.StartRedis(t)
	replica = testserver.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	sentinel = testserver.StartSentinel(t, sentinelMaster, master.Addr(), testserver.SentinelOptions{})
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr()})
	t.Cleanup(func() { _ = sc.Close() })
	waitFor(t, "the sentinel to see the replica in sync", func() bool {
		replicas, err := sc.Replicas(context.Background(), sentinelMaster).Result()
		if err != nil {
			return false
		}
		for _, r := range replicas {
			if r["name"] == replica.Addr() && r["master-link-status"] == "ok" && !strings.Contains(r["flags"], "down") {
				return true
			}
		}
		return false
	})
	return master, replica, sentinel
}

// Through a sentinel URL (?master=), a fail-over of the master to its
// replica keeps each key's fencing tokens rising, and every call that the
// fail-over disturbs reports an ambiguous outcome (ErrUnavailable, or the
// call's own deadline), never a decided answer that is false. The master
// is shut down (SIGTERM: Redis then waits for its replica to catch up, so
// no acknowledged write is lost) and the sentinel promotes the replica.
//
// Each worker owns one key and loops acquire, release (deleting every
// other time, so fences are carried over too). After an ambiguous call it
// reads the record until the store answers and, if it still holds the
// lock, releases it, as the lock manager does; from then on every decided
// answer must be the truth about a key nobody else touches.
//
//nolint:gocyclo // the workers' loop and the fail-over they run across share the checks' state
func TestSentinelFailoverKeepsTokensRisingAndReportsAmbiguity(t *testing.T) {
	master, replica, sentinel := startSentinelSet(t)
	b, err := openURL(t, "redis://"+sentinel.Addr()+"/0?master="+sentinelMaster+"&namespace=failover&dial_timeout=1s")
	if err != nil {
		t.Fatalf("Open through the sentinel: %v", err)
	}
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr()})
	t.Cleanup(func() { _ = sc.Close() })

	const workers = 4
	const pairsAfter = 20 // successful pairs each worker makes on the new master
	var (
		failedOver atomic.Bool
		ambiguous  atomic.Int64
		mu         sync.Mutex
		wrong      []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		wrong = append(wrong, fmt.Sprintf(format, args...))
	}
	// isAmbiguous tells an outcome the caller cannot know (counted) from a
	// decided answer.
	isAmbiguous := func(err error) bool {
		if errors.Is(err, backends.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			ambiguous.Add(1)
			return true
		}
		return false
	}
	call := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return f(ctx)
	}
	warm := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, holder := fmt.Sprintf("key-%d", w), fmt.Sprintf("worker-%d", w)
			var highest uint64 // the highest token seen for key
			// resolve settles the key after an ambiguous call: read it until
			// the store answers, and release it if this worker holds it.
			resolve := func() bool {
				for {
					var l backends.Lock
					err := call(func(ctx context.Context) (err error) { l, err = b.Get(ctx, key); return err })
					switch {
					case errors.Is(err, backends.ErrNotFound):
						return true
					case err != nil && isAmbiguous(err):
						continue
					case err != nil:
						fail("%s: Get after an ambiguous call: %v", key, err)
						return false
					}
					if l.FencingToken < highest {
						fail("%s: Get shows token %d, below %d seen before", key, l.FencingToken, highest)
						return false
					}
					highest = l.FencingToken
					if l.Holder != holder {
						return true // released
					}
					err = call(func(ctx context.Context) error {
						return b.Release(ctx, &backends.ReleaseRequest{Key: key, Holder: holder, Version: l.Version})
					})
					switch {
					case err == nil:
						return true
					case isAmbiguous(err):
						continue // read again: the release may have happened
					default:
						fail("%s: Release of version %s read just before: %v", key, l.Version, err)
						return false
					}
				}
			}
			after := 0
			for i := 0; after < pairsAfter; i++ {
				if i == 10 {
					warm <- struct{}{}
				}
				var l backends.Lock
				err := call(func(ctx context.Context) (err error) {
					l, err = b.Acquire(ctx, &backends.AcquireRequest{Key: key, Holder: holder, LeaseDuration: time.Minute})
					return err
				})
				if err != nil {
					if !isAmbiguous(err) {
						fail("%s: Acquire of a free key: %v", key, err)
						return
					}
					if !resolve() {
						return
					}
					continue
				}
				if l.FencingToken <= highest {
					fail("%s: grant %d has token %d, not above %d", key, i, l.FencingToken, highest)
					return
				}
				highest = l.FencingToken
				err = call(func(ctx context.Context) error {
					return b.Release(ctx, &backends.ReleaseRequest{Key: key, Holder: holder, Version: l.Version, Delete: i%2 == 0})
				})
				if err != nil {
					if !isAmbiguous(err) {
						fail("%s: Release of the version just granted: %v", key, err)
						return
					}
					if !resolve() {
						return
					}
					continue
				}
				if failedOver.Load() {
					after++
				}
			}
		}()
	}

	for range workers {
		<-warm
	}
	before := ambiguous.Load()
	master.Stop()
	waitFor(t, "the sentinel to promote the replica", func() bool {
		addr, err := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
		return err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == replica.Addr()
	})
	failedOver.Store(true)
	wg.Wait()

	for _, w := range wrong {
		t.Error(w)
	}
	if ambiguous.Load() == before {
		t.Error("no call reported an ambiguous outcome while the master was down")
	}
	t.Logf("%d calls reported ambiguous outcomes across the fail-over", ambiguous.Load())
	// The new master holds the records the workers wrote after it took over.
	n, err := adminClient(t, replica, 0, "").DBSize(context.Background()).Result()
	if err != nil || n == 0 {
		t.Errorf("the promoted replica holds %d keys (%v), want the workers' records and fences", n, err)
	}
}

// waitFor polls cond until it holds, failing t after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Open through a sentinel that watches no master of the URL's name fails
// as a refused database does (ErrUnavailable: the server says no), and the
// error names the master, not unreachable sentinels.
func TestOpenWithUnknownSentinelMasterNamesIt(t *testing.T) {
	master := testserver.StartRedis(t)
	sentinel := testserver.StartSentinel(t, sentinelMaster, master.Addr(), testserver.SentinelOptions{})
	_, err := openURL(t, "redis://"+sentinel.Addr()+"/0?master=no-such-master&dial_timeout=1s")
	if !errors.Is(err, backends.ErrUnavailable) || errors.Is(err, backends.ErrInvalidArgument) {
		t.Fatalf("Open with an unknown master: %v, want ErrUnavailable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"no-such-master"`) || !strings.Contains(msg, sentinel.Addr()) {
		t.Fatalf("Open with an unknown master: %q, want the master's name and the sentinel's address", msg)
	}
	// The master it does watch still opens.
	if _, err := openURL(t, "redis://"+sentinel.Addr()+"/0?master="+sentinelMaster+"&dial_timeout=1s"); err != nil {
		t.Fatalf("Open with the sentinel's master: %v", err)
	}
}
