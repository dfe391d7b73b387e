package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

const lease = 30 * time.Second

func newBackend(t testing.TB, c client.WithWatch, ns string, opts ...kubernetes.Option) *kubernetes.Backend {
	t.Helper()
	b, err := kubernetes.New(c, append([]kubernetes.Option{kubernetes.WithNamespace(ns)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func mustAcquire(t testing.TB, b backends.Backend, key, holder string, d time.Duration) backends.Lock {
	t.Helper()
	l, err := b.Acquire(context.Background(), &backends.AcquireRequest{Key: key, Holder: holder, LeaseDuration: d})
	if err != nil {
		t.Fatalf("Acquire(%q, %q): %v", key, holder, err)
	}
	return l
}

func mustRelease(t testing.TB, b backends.Backend, l backends.Lock, del bool) {
	t.Helper()
	if err := b.Release(context.Background(), &backends.ReleaseRequest{Key: l.Key, Holder: l.Holder, Version: l.Version, Delete: del}); err != nil {
		t.Fatalf("Release(%q, delete=%v): %v", l.Key, del, err)
	}
}

// The write fast path: once a client has seen a key, acquire, renew and
// release are one request each and never read first.
func TestRequestsPerOperation(t *testing.T) {
	ctx := context.Background()
	c, counter := countingClient(t)
	ns := freshNamespace(t)
	controller := runController(t, ns)
	b := newBackend(t, c, ns)
	// The first request of a client discovers the API's resources; count
	// from a warm client.
	if _, err := b.List(ctx, &backends.ListRequest{Limit: 1}); err != nil {
		t.Fatal(err)
	}
	counter.take()

	step := func(name string, want map[string]int, op func()) {
		t.Helper()
		op()
		if diff := cmp.Diff(want, counter.take()); diff != "" {
			t.Errorf("%s: requests by method (-want +got):\n%s", name, diff)
		}
	}
	var l backends.Lock
	step("first acquire of a new key", map[string]int{"POST": 1, "PUT": 1}, func() { l = mustAcquire(t, b, "k", "a", lease) })
	step("renew", map[string]int{"PUT": 1}, func() {
		var err error
		if l, err = b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: lease}); err != nil {
			t.Fatal(err)
		}
	})
	step("re-acquire by the holder", map[string]int{"PUT": 1}, func() { l = mustAcquire(t, b, "k", "a", lease) })
	step("release", map[string]int{"PUT": 1}, func() { mustRelease(t, b, l, false) })
	step("acquire of an existing free key", map[string]int{"PUT": 1}, func() { l = mustAcquire(t, b, "k", "b", lease) })
	step("refused acquire", map[string]int{"GET": 1}, func() {
		if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "c", LeaseDuration: lease}); !errors.Is(err, backends.ErrLockHeld) {
			t.Fatalf("Acquire of a held key: %v, want ErrLockHeld", err)
		}
	})
	step("release with delete", map[string]int{"DELETE": 1}, func() { mustRelease(t, b, l, true) })
	step("first acquire after delete", map[string]int{"POST": 1, "PUT": 1}, func() { l = mustAcquire(t, b, "k", "a", lease) })
	mustRelease(t, b, l, false)

	// A client that has never seen the key pays for what it does not know.
	other := newBackend(t, c, ns)
	counter.take()
	step("acquire of an existing free key by a client new to it", map[string]int{"POST": 1, "GET": 1, "PUT": 1}, func() { l = mustAcquire(t, other, "k", "z", lease) })
	step("renew by a client that did not write the version", map[string]int{"GET": 1, "PUT": 1}, func() {
		if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "z", Version: l.Version, LeaseDuration: lease}); err != nil {
			t.Fatal(err)
		}
	})

	// The controller ran beside every step. Its writes would have shown as
	// conflicts above; none of its requests may be a write.
	for method, n := range controller.take() {
		if method != http.MethodGet && method != "WATCH" {
			t.Errorf("the controller sent %d %s requests during grants, renewals and releases; want no writes", n, method)
		}
	}
}

// A version is the lock state's (generation and UID), not the object's
// resourceVersion: status and metadata writes by others leave it valid, so
// a version printed by one process is accepted by another, while any write
// of the lock by someone else makes it fail.
func TestVersionIsTheLockStateAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	first := newBackend(t, k8s, ns)
	l := mustAcquire(t, first, "k", "me", lease)

	// What the controller and people may write beside the holder: status,
	// a label.
	obj := &locksv1alpha1.DistributedLock{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubernetes.ObjectName("k")}, obj); err != nil {
		t.Fatal(err)
	}
	before := obj.DeepCopy()
	obj.Status.Phase = locksv1alpha1.PhaseExpired
	if err := k8s.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	before = obj.DeepCopy()
	obj.Labels = map[string]string{"team": "payments"}
	if err := k8s.Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}

	// A new process (a client that never saw the key) renews with the
	// printed version; so does the first, whose copy is now stale.
	second := newBackend(t, k8s, ns)
	renewed, err := second.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "me", Version: l.Version, LeaseDuration: lease})
	if err != nil {
		t.Fatalf("renew by another process with the printed version: %v", err)
	}
	if renewed.Version == l.Version {
		t.Fatalf("renewal kept version %q; every renewal must change it", l.Version)
	}
	if _, err := first.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "me", Version: l.Version, LeaseDuration: lease}); !errors.Is(err, backends.ErrVersionMismatch) {
		t.Fatalf("renew with the version the other process's renewal replaced: %v, want ErrVersionMismatch", err)
	}
	if renewed, err = first.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "me", Version: renewed.Version, LeaseDuration: lease}); err != nil {
		t.Fatalf("renew by the first process with the current version: %v", err)
	}

	// Someone else writes the lock itself (the spec): the guard holds.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	obj.Spec.Metadata = map[string]string{"edited": "by hand"}
	if err := k8s.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*kubernetes.Backend{first, newBackend(t, k8s, ns)} {
		if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "me", Version: renewed.Version, LeaseDuration: lease}); !errors.Is(err, backends.ErrVersionMismatch) {
			t.Fatalf("renew after someone else wrote the lock: %v, want ErrVersionMismatch", err)
		}
		if err := b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "me", Version: renewed.Version}); !errors.Is(err, backends.ErrVersionMismatch) {
			t.Fatalf("release after someone else wrote the lock: %v, want ErrVersionMismatch", err)
		}
	}
}

// A lock written by hand under its plain key, as kubectl apply does, is
// the lock the clients use: there is no second object for the key.
func TestHandWrittenLockIsTheClientsLock(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	now := metav1.NewMicroTime(time.Now())
	hour := int32(3600)
	if err := k8s.Create(ctx, &locksv1alpha1.DistributedLock{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-migration"},
		Spec: locksv1alpha1.DistributedLockSpec{Key: "db-migration", HolderIdentity: "ops", FencingToken: 1,
			LeaseDurationSeconds: &hour, AcquireTime: &now, RenewTime: &now},
	}); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, k8s, ns)
	_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "db-migration", Holder: "me", LeaseDuration: lease})
	var held *backends.HeldError
	if !errors.As(err, &held) || held.Holder != "ops" {
		t.Fatalf("Acquire of a key held by a hand-written lock: %v, want ErrLockHeld by ops", err)
	}
	got, err := b.Get(ctx, "db-migration")
	if err != nil || got.Holder != "ops" || !got.Held || got.FencingToken != 1 {
		t.Fatalf("Get = %+v, %v; want the hand-written grant", got, err)
	}
	var list locksv1alpha1.DistributedLockList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		t.Fatalf("objects in the namespace: %d, %v; want the one written by hand", len(list.Items), err)
	}
}

// Fencing tokens rise strictly across release, delete and re-create, even
// for a client whose last sighting is of an earlier incarnation, and even
// with unrelated writes moving the cluster's revision on in between.
func TestFencingTokensRiseAcrossDeleteAndRecreate(t *testing.T) {
	ns := freshNamespace(t)
	one, two := newBackend(t, k8s, ns), newBackend(t, k8s, ns)
	var last uint64
	check := func(l backends.Lock) {
		t.Helper()
		if l.FencingToken <= last {
			t.Fatalf("grant to %q token %d, want above %d", l.Holder, l.FencingToken, last)
		}
		last = l.FencingToken
	}
	for i := range 10 {
		l := mustAcquire(t, one, "k", "one", lease)
		check(l)
		// The first grant of an incarnation is seeded by its
		// resourceVersion; later grants count on from it.
		mustRelease(t, one, l, false)
		l = mustAcquire(t, two, "k", "two", lease)
		check(l)
		mustRelease(t, two, l, true)
		if i%3 == 0 {
			mustRelease(t, two, mustAcquire(t, two, fmt.Sprintf("noise-%d", i), "n", lease), true)
		}
		// one's last sighting is of a deleted incarnation: its guarded
		// update must not succeed against the re-created object.
		l = mustAcquire(t, two, "k", "two", lease)
		check(l)
		mustRelease(t, two, l, i%2 == 0)
	}
}

// The same under concurrency: many clients race to acquire, each winner
// records its token while it holds the lock, then releases, deleting the
// object about half the time. Holding is exclusive (leases do not expire
// here), so the recorded order is the order of grants.
func TestFencingTokensRiseUnderConcurrentDeleteAndRecreate(t *testing.T) {
	ns := freshNamespace(t)
	const grantsWanted = 60
	var (
		mu     sync.Mutex
		tokens []uint64
		errs   []error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var contended atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		b := newBackend(t, k8s, ns)
		for j := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holder := fmt.Sprintf("c%d-g%d", i, j)
				for ctx.Err() == nil {
					l, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "hot", Holder: holder, LeaseDuration: lease})
					// Losing is ErrLockHeld, or ErrUnavailable when the
					// retry after a conflict lost as well while the key
					// kept being freed at once (retryable by contract).
					if errors.Is(err, backends.ErrLockHeld) || ctx.Err() != nil {
						continue
					}
					if errors.Is(err, backends.ErrUnavailable) && strings.Contains(err.Error(), "kept changing") {
						contended.Add(1)
						continue
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("acquire: %w", err))
					} else {
						tokens = append(tokens, l.FencingToken)
					}
					done := len(tokens) >= grantsWanted || len(errs) > 0
					mu.Unlock()
					if err == nil {
						if err := b.Release(context.Background(), &backends.ReleaseRequest{Key: "hot", Holder: holder, Version: l.Version, Delete: rand.IntN(2) == 0}); err != nil {
							mu.Lock()
							errs = append(errs, fmt.Errorf("release: %w", err))
							mu.Unlock()
						}
					}
					if done {
						cancel()
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("errors other than ErrLockHeld: %v", errs)
	}
	if len(tokens) < grantsWanted {
		t.Fatalf("only %d grants before the deadline", len(tokens))
	}
	t.Logf("%d grants; %d attempts gave up after two conflicts", len(tokens), contended.Load())
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("grant %d token %d is not above grant %d's %d (all: %v)", i, tokens[i], i-1, tokens[i-1], tokens)
		}
	}
}

// Expiry is judged on the judging client's clocks: a lease is expired once
// the judge has seen the same version for a whole lease, or once its wall
// clock passes renewTime + lease + the skew allowance, whichever is first.
func TestExpiryJudgedByObservationAndSkewAllowance(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	const d = 10 * time.Second
	for _, tc := range []struct {
		name string
		// holderOffset is the holder's clock minus the judge's.
		holderOffset time.Duration
		skew         time.Duration
		// heldUntil is how long after its first read the judge still
		// reports the lease held; it reports it expired from then on.
		heldUntil time.Duration
	}{
		{"ClocksAgree", 0, time.Second, d},
		{"HolderAheadCannotExtendPastObservation", time.Hour, time.Second, d},
		{"HolderBehindWithinAllowance", -500 * time.Millisecond, time.Second, d},
		{"HolderBehindBeyondAllowance", -3 * time.Second, time.Second, d + time.Second - 3*time.Second},
		{"HolderFarBehindIsExpiredAtFirstSight", -time.Hour, time.Second, 0},
		{"LargerAllowanceTrustsRenewTimeLess", -3 * time.Second, 5 * time.Second, d},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := freshNamespace(t)
			holderClock := clocktesting.NewFakePassiveClock(t0.Add(tc.holderOffset))
			judgeClock := clocktesting.NewFakePassiveClock(t0)
			holder := newBackend(t, k8s, ns, kubernetes.WithClock(holderClock))
			judge := newBackend(t, k8s, ns, kubernetes.WithClock(judgeClock), kubernetes.WithSkewAllowance(tc.skew))
			l := mustAcquire(t, holder, "k", "a", d)
			if want := l.RenewedAt.Add(d); !l.ExpiresAt.Equal(want) {
				t.Fatalf("ExpiresAt = %s, want renewTime + lease = %s", l.ExpiresAt, want)
			}
			held := func() bool {
				t.Helper()
				got, err := judge.Get(context.Background(), "k")
				if err != nil {
					t.Fatal(err)
				}
				return got.Held
			}
			if tc.heldUntil > 0 {
				if !held() {
					t.Fatal("lease expired at first sight")
				}
				judgeClock.SetTime(t0.Add(tc.heldUntil - time.Millisecond))
				if !held() {
					t.Fatalf("lease expired %s after first sight, want held until %s", tc.heldUntil-time.Millisecond, tc.heldUntil)
				}
				judgeClock.SetTime(t0.Add(tc.heldUntil + time.Millisecond))
			}
			if held() {
				t.Fatalf("lease still held %s after first sight, want expired", tc.heldUntil+time.Millisecond)
			}
			taken, err := judge.Acquire(context.Background(), &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: d})
			if err != nil || taken.FencingToken <= l.FencingToken {
				t.Fatalf("takeover = token %d, %v; want a grant above %d", taken.FencingToken, err, l.FencingToken)
			}
		})
	}
}

// A lease that is not a whole number of seconds is kept exactly; the spec
// carries it rounded up, so that readers of the spec alone wait longer.
func TestSubSecondLeaseIsExact(t *testing.T) {
	ns := freshNamespace(t)
	b := newBackend(t, k8s, ns)
	l := mustAcquire(t, b, "k", "a", 1500*time.Millisecond)
	if l.LeaseDuration != 1500*time.Millisecond || !l.ExpiresAt.Equal(l.RenewedAt.Add(1500*time.Millisecond)) {
		t.Fatalf("lease %s expiring %s after renewal, want 1.5s", l.LeaseDuration, l.ExpiresAt.Sub(l.RenewedAt))
	}
	var obj locksv1alpha1.DistributedLock
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: kubernetes.ObjectName("k")}, &obj); err != nil {
		t.Fatal(err)
	}
	if got := *obj.Spec.LeaseDurationSeconds; got != 2 {
		t.Fatalf("spec.leaseDurationSeconds = %d, want 2 (rounded up)", got)
	}
	got, err := newBackend(t, k8s, ns).Get(context.Background(), "k")
	if err != nil || got.LeaseDuration != 1500*time.Millisecond {
		t.Fatalf("another client reads lease %s, %v; want 1.5s", got.LeaseDuration, err)
	}
}

// A plain key's object can only be named after the key (the API server
// refuses any other name); for other keys, which the schema can only check
// by shape, an object under a key's name that holds another key is an
// error, never the record of the key asked for, and objects not named
// after their key are invisible.
func TestForeignObjects(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	create := func(name, key string) error {
		obj := &locksv1alpha1.DistributedLock{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: locksv1alpha1.DistributedLockSpec{Key: key}}
		return k8s.Create(ctx, obj)
	}
	if err := create("mine", "someone-elses"); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name must equal spec.key (someone-elses)") {
		t.Fatalf("creating key someone-elses under the name mine: %v; want Invalid naming the name to use", err)
	}
	if err := create(kubernetes.ObjectName("jobs/mine"), "jobs/someone-elses"); err != nil {
		t.Fatal(err)
	}
	if err := create("hand-0123456789abcdef", "Hand"); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, k8s, ns)
	_, err := b.Get(ctx, "jobs/mine")
	if errors.Is(err, backends.ErrNotFound) || err == nil || !strings.Contains(err.Error(), "someone-elses") {
		t.Fatalf("Get of a key whose name holds another key: %v; want an error naming the other key", err)
	}
	if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "jobs/mine", Holder: "a", LeaseDuration: lease}); err == nil || !strings.Contains(err.Error(), "someone-elses") {
		t.Fatalf("Acquire of a key whose name holds another key: %v; want an error naming the other key", err)
	}
	if _, err := b.Get(ctx, "Hand"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get of a key whose object is not named after it: %v, want ErrNotFound", err)
	}
	page, err := b.List(ctx, &backends.ListRequest{Limit: 10})
	if err != nil || len(page.Locks) != 0 {
		t.Fatalf("List = %+v, %v; want no records", page.Locks, err)
	}
}

// The notifier wakes waiters on release, delete, takeover and expiry, and
// its goroutine ends with the context or with Close.
func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	holder := newBackend(t, k8s, ns)
	waiter := newBackend(t, k8s, ns)
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: subscription closed", what)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no signal", what)
		}
	}
	subCtx, cancel := context.WithCancel(ctx)
	ch, err := waiter.Subscribe(subCtx, "k")
	if err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, holder, "k", "a", lease)
	mustRelease(t, holder, l, false)
	wait(ch, "release")
	l = mustAcquire(t, holder, "k", "a", lease)
	mustRelease(t, holder, l, true)
	wait(ch, "delete")
	cancel()
	for range ch { // closed once the subscription ends
	}

	// Nothing writes "e" after its grant: the only signal can be the
	// waiter's own judgement that the lease ran out.
	mustAcquire(t, holder, "e", "a", time.Second)
	ch, err = waiter.Subscribe(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	wait(ch, "expiry of a 1s lease")
	if got, err := waiter.Get(ctx, "e"); err != nil || got.Held {
		t.Fatalf("after the expiry signal Get = %+v, %v; want not held", got, err)
	}

	ch, err = waiter.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := waiter.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch { // Close ended it
	}
	if _, err := waiter.Subscribe(ctx, "k"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
}

// A grant of a free key ends no lease, so it wakes nobody: every waiter it
// woke would only find the key held. A takeover still signals.
func TestSubscribeIgnoresGrantOfFreeKey(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	holder := newBackend(t, k8s, ns)
	waiter := newBackend(t, k8s, ns)
	mustRelease(t, holder, mustAcquire(t, holder, "g", "a", lease), false)
	ch, err := waiter.Subscribe(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	select { // the first sighting of a free lock is a signal
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("no signal for the free lock seen first")
	}
	// A watch of our own sees the grant; the subscription's watch, opened
	// before it, has then had it delivered too, give or take its own
	// scheduling, which the pause below covers.
	w, err := k8s.Watch(ctx, &locksv1alpha1.DistributedLockList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	mustAcquire(t, holder, "g", "b", lease)
	for ev := range w.ResultChan() {
		if dl, ok := ev.Object.(*locksv1alpha1.DistributedLock); ok && dl.Spec.HolderIdentity == "b" {
			break
		}
	}
	select {
	case <-ch:
		t.Fatal("the grant of a free key signalled the waiter")
	case <-time.After(300 * time.Millisecond):
	}
	// (Takeovers still signal: the Session conformance cases end a
	// holder's Session on one.)
}

// The first grant of an object is seeded by its resourceVersion, so it
// refuses to grant on a server whose resourceVersions are not numbers
// rather than hand out a token that might not rise. (Only checked through
// the arithmetic here: envtest's API server is etcd-backed.)
func TestFirstTokenIsResourceVersionPlusOne(t *testing.T) {
	ns := freshNamespace(t)
	b := newBackend(t, k8s, ns)
	var obj locksv1alpha1.DistributedLock
	obj.Name, obj.Namespace, obj.Spec.Key = kubernetes.ObjectName("seeded"), ns, "seeded"
	if err := k8s.Create(context.Background(), &obj); err != nil {
		t.Fatal(err)
	}
	rv, err := strconv.ParseUint(obj.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, b, "seeded", "a", lease)
	if l.FencingToken != rv+1 {
		t.Fatalf("first token %d, want the free object's resourceVersion + 1 = %d", l.FencingToken, rv+1)
	}
}

// writeStatus does what the controller does after every change: a status
// write, which moves resourceVersion on without touching the spec.
func writeStatus(t *testing.T, ns, key string, phase locksv1alpha1.LockPhase) {
	t.Helper()
	var obj locksv1alpha1.DistributedLock
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: kubernetes.ObjectName(key)}, &obj); err != nil {
		t.Fatal(err)
	}
	obj.Status.Phase = phase
	obj.Status.ObservedGeneration = obj.Generation
	if err := k8s.Status().Update(context.Background(), &obj); err != nil {
		t.Fatalf("status update: %v", err)
	}
}

// The controller's status writes change resourceVersion but not the lock:
// the holder's version stays good for renew and release (one extra read
// and write), and a judge's wait for expiry is not restarted by them.
func TestStatusWritesKeepVersionsAndObservation(t *testing.T) {
	ctx := context.Background()
	c, counter := countingClient(t)
	ns := freshNamespace(t)
	b := newBackend(t, c, ns)
	l := mustAcquire(t, b, "k", "a", lease)
	writeStatus(t, ns, "k", locksv1alpha1.PhaseExpired)
	counter.take()
	r, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: lease})
	if err != nil {
		t.Fatalf("Renew after a status write: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"PUT": 2, "GET": 1}, counter.take()); diff != "" {
		t.Errorf("renew after a status write: requests (-want +got):\n%s", diff)
	}
	if r.FencingToken != l.FencingToken || r.Version == l.Version {
		t.Fatalf("Renew = token %d version %q; want token %d and a new version", r.FencingToken, r.Version, l.FencingToken)
	}
	// A version from before the renewal is stale, status write or not.
	writeStatus(t, ns, "k", locksv1alpha1.PhaseHeld)
	if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: lease}); !errors.Is(err, backends.ErrVersionMismatch) {
		t.Fatalf("Renew with the version before the last renewal: %v, want ErrVersionMismatch", err)
	}
	if err := b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: r.Version, Delete: true}); err != nil {
		t.Fatalf("Release with delete after a status write: %v", err)
	}

	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	judgeClock := clocktesting.NewFakePassiveClock(t0)
	judge := newBackend(t, k8s, ns, kubernetes.WithClock(judgeClock), kubernetes.WithSkewAllowance(time.Hour))
	mustAcquire(t, newBackend(t, k8s, ns), "e", "a", 10*time.Second)
	if got, err := judge.Get(ctx, "e"); err != nil || !got.Held {
		t.Fatalf("Get = %+v, %v; want held", got, err)
	}
	judgeClock.SetTime(t0.Add(5 * time.Second))
	writeStatus(t, ns, "e", locksv1alpha1.PhaseHeld)
	judgeClock.SetTime(t0.Add(10 * time.Second))
	if got, err := judge.Get(ctx, "e"); err != nil || got.Held {
		t.Fatalf("Get a lease after the judge saw its spec unchanged for a whole lease = %+v, %v; want expired", got, err)
	}
}

// The client sends its guarded updates without managedFields (half the
// bytes); the API server keeps the object's managedFields all the same.
func TestUpdatesKeepManagedFields(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	b := newBackend(t, k8s, ns)
	l := mustAcquire(t, b, "mf", "a", lease)
	if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "mf", Holder: "a", Version: l.Version, LeaseDuration: lease}); err != nil {
		t.Fatal(err)
	}
	var obj locksv1alpha1.DistributedLock
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubernetes.ObjectName("mf")}, &obj); err != nil {
		t.Fatal(err)
	}
	if len(obj.ManagedFields) == 0 {
		t.Fatal("the object lost its managedFields")
	}
	if obj.Spec.HolderIdentity != "a" {
		t.Fatalf("holder %q, want a", obj.Spec.HolderIdentity)
	}
}
