package clientgolock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

const key = "leader"

func record(id string) resourcelock.LeaderElectionRecord {
	now := metav1.Now()
	return resourcelock.LeaderElectionRecord{HolderIdentity: id, LeaseDurationSeconds: 2, AcquireTime: now, RenewTime: now}
}

func mustLock(t *testing.T, m *lockmanager.Manager, id string) *Lock {
	t.Helper()
	l, err := New(m, key, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A candidate whose lease ran out in the store and went to another learns
// it on its next renewal (a Conflict), and does not acquire again for a
// lease duration after noticing, so that the client-go elector that
// believed in the lost lease has stopped leading before this identity
// leads again.
func TestLostLeaseIsFollowedByAQuietPeriod(t *testing.T) {
	ctx := context.Background()
	storeClock := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	store := memory.NewStore(memory.WithClock(storeClock))
	ma, mb := lockmanager.New(store.Backend("q")), lockmanager.New(store.Backend("q"))
	defer ma.Close()
	defer mb.Close()
	a, b := mustLock(t, ma, "a"), mustLock(t, mb, "b")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a.clock = func() time.Time { return now }

	if err := a.Create(ctx, record("a")); err != nil {
		t.Fatal(err)
	}
	storeClock.SetTime(storeClock.Now().Add(3 * time.Second)) // a's 2 s lease expires in the store
	if _, _, err := b.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, record("b")); err != nil {
		t.Fatalf("b taking the expired lease: %v", err)
	}

	// a's renewal (client-go's fast path, no Get first) finds the lease gone.
	err := a.Update(ctx, record("a"))
	if !apierrors.IsConflict(err) || !errors.Is(err, lockmanager.ErrNotHolder) {
		t.Fatalf("a's renewal after losing = %v, want Conflict wrapping ErrNotHolder", err)
	}
	// b steps down; a reads the free record but may not take it yet.
	if err := b.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	got, _, err := a.Get(ctx)
	if err != nil || got.HolderIdentity != "" {
		t.Fatalf("a's Get after b released = %+v, %v; want no holder", got, err)
	}
	if err := a.Update(ctx, record("a")); !apierrors.IsConflict(err) {
		t.Fatalf("a acquiring during its quiet period = %v, want Conflict", err)
	}
	now = now.Add(2 * time.Second) // one lease duration after a noticed
	if err := a.Update(ctx, record("a")); err != nil {
		t.Fatalf("a acquiring after its quiet period: %v", err)
	}
}

// A renewal whose reply was lost committed in the store; the next renewal
// with the old version is a Conflict, and client-go's Get that follows
// adopts the new version, since holder and fencing token are still ours.
func TestAmbiguousRenewalIsResolvedByGet(t *testing.T) {
	ctx := context.Background()
	faulty := backendtest.NewFaulty(memory.New())
	m := lockmanager.New(faulty)
	defer m.Close()
	l := mustLock(t, m, "a")
	if err := l.Create(ctx, record("a")); err != nil {
		t.Fatal(err)
	}
	granted, err := m.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}

	faulty.SetNext(backendtest.LoseReplies, 1)
	if err := l.Update(ctx, record("a")); !errors.Is(err, lockmanager.ErrUnavailable) {
		t.Fatalf("renewal with its reply lost = %v, want ErrUnavailable", err)
	}
	if err := l.Update(ctx, record("a")); !apierrors.IsConflict(err) || !errors.Is(err, lockmanager.ErrVersionMismatch) {
		t.Fatalf("renewal with the old version = %v, want Conflict wrapping ErrVersionMismatch", err)
	} else if n := strings.Count(err.Error(), "version mismatch"); n != 1 {
		t.Errorf("error %q names the cause %d times, want once", err, n)
	}
	got, _, err := l.Get(ctx)
	if err != nil || got.HolderIdentity != "a" {
		t.Fatalf("Get = %+v, %v; want still held by a", got, err)
	}
	if err := l.Update(ctx, record("a")); err != nil {
		t.Fatalf("renewal after Get: %v", err)
	}
	rec, err := m.Get(ctx, key)
	if err != nil || rec.FencingToken != granted.FencingToken || rec.Holder != "a" {
		t.Fatalf("record = %+v, %v; want a's grant with token %d", rec, err, granted.FencingToken)
	}
}

// client-go releases by writing a record with no holder; that releases the
// lock (keeping the record), and a release without a lease is a no-op.
func TestEmptyHolderReleases(t *testing.T) {
	ctx := context.Background()
	m := lockmanager.New(memory.New())
	defer m.Close()
	l := mustLock(t, m, "a")
	if err := l.Update(ctx, resourcelock.LeaderElectionRecord{}); err != nil {
		t.Fatalf("release without a lease: %v", err)
	}
	if err := l.Create(ctx, record("a")); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1}); err != nil {
		t.Fatalf("release: %v", err)
	}
	rec, err := m.Get(ctx, key)
	if err != nil || rec.Held {
		t.Fatalf("record after release = %+v, %v; want kept and free", rec, err)
	}
}
