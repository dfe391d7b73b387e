package lockmanager_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// slowGrant delays every Acquire before it reaches the store, as the first
// acquire of a key on Kubernetes spends a write (or more) before the one
// that grants; renewErr, when set, fails every Renew.
type slowGrant struct {
	backends.Backend
	delay    time.Duration
	renewErr error
	renews   atomic.Int64
}

func (b *slowGrant) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	time.Sleep(b.delay)
	return b.Backend.Acquire(ctx, req)
}

func (b *slowGrant) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	b.renews.Add(1)
	if b.renewErr != nil {
		return backends.Lock{}, b.renewErr
	}
	return b.Backend.Renew(ctx, req)
}

// A grant that arrives after its safe deadline (counted from the start of
// the acquire) is still live at the store: Hold confirms it with one
// renewal, counted from that renewal's send time, instead of failing.
func TestHoldConfirmsALateGrant(t *testing.T) {
	const lease = time.Second
	store := memory.NewStore()
	b := &slowGrant{Backend: store.Backend("ns"), delay: lease - lease/20} // past lease - margin
	m := lockmanager.New(b)
	defer m.Close()
	before := time.Now()
	sess, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease, RefreshPeriod: lease / 2})
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	defer func() { _ = sess.Release(context.Background()) }() // cleanup only: Release is not under test
	if b.renews.Load() == 0 {
		t.Fatal("Hold returned without confirming the late grant")
	}
	if earliest := before.Add(b.delay + lease - lease/10); sess.SafeUntil().Before(earliest) {
		t.Fatalf("SafeUntil %s is not counted from the confirming renewal (want at least %s)", sess.SafeUntil(), earliest)
	}
	if sess.Context().Err() != nil {
		t.Fatalf("session ended: %v", sess.Err())
	}
}

// If the late grant cannot be confirmed, Hold fails with ErrLeaseExpired
// and gives the grant back.
func TestHoldGivesBackALateGrantItCannotConfirm(t *testing.T) {
	const lease = time.Second
	store := memory.NewStore()
	b := &slowGrant{Backend: store.Backend("ns"), delay: lease - lease/20, renewErr: backends.Unavailable("renewing", "k", errors.New("injected"))}
	m := lockmanager.New(b)
	defer m.Close()
	_, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease, RefreshPeriod: lease / 2})
	if !errors.Is(err, lockmanager.ErrLeaseExpired) || !errors.Is(err, lockmanager.ErrUnavailable) {
		t.Fatalf("Hold = %v; want ErrLeaseExpired wrapping the renewal's ErrUnavailable", err)
	}
	got, err := m.Get(context.Background(), "k")
	if err != nil || got.Holder != "" {
		t.Fatalf("record after the failed Hold = %+v, %v; want released", got, err)
	}
}

// notifying wraps a backend with a subscription the test drives: signals
// are sent on sub, or Subscribe fails with subErr. blockGets, when set,
// holds the next Get until its context ends.
type notifying struct {
	backends.Backend
	sub       chan struct{}
	subErr    error
	gets      atomic.Int64
	blockGets atomic.Bool
	gotten    chan struct{} // receives a value when a Get is held
}

func (b *notifying) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	if b.subErr != nil {
		return nil, b.subErr
	}
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.sub:
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, nil
}

func (b *notifying) Get(ctx context.Context, key string) (backends.Lock, error) {
	b.gets.Add(1)
	if b.blockGets.CompareAndSwap(true, false) {
		select {
		case b.gotten <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return backends.Lock{}, ctx.Err()
	}
	return b.Backend.Get(ctx, key)
}

func newNotifying(b backends.Backend) *notifying {
	return &notifying{Backend: b, sub: make(chan struct{}), gotten: make(chan struct{}, 1)}
}

// A signal only prompts a read: when the record is still the session's,
// nothing changes, and above all the safe deadline does not move.
func TestSessionSignalNeverExtends(t *testing.T) {
	b := newNotifying(memory.New())
	m := lockmanager.New(b)
	defer m.Close()
	sess, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Minute, RefreshPeriod: 50 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Release(context.Background()) }() // cleanup only: Release is not under test
	safe := sess.SafeUntil()
	for i := range 3 {
		select {
		case b.sub <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatal("the session does not listen for signals")
		}
		deadline := time.Now().Add(10 * time.Second)
		for b.gets.Load() < int64(i+1) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if b.gets.Load() == 0 {
		t.Fatal("signals caused no read")
	}
	if sess.Context().Err() != nil {
		t.Fatalf("a spurious signal ended the session: %v", sess.Err())
	}
	if !sess.SafeUntil().Equal(safe) {
		t.Fatalf("a signal moved the safe deadline from %s to %s", safe, sess.SafeUntil())
	}
}

// Without a subscription the session still notices a loss, at its next
// renewal.
func TestSessionWithoutSubscriptionNoticesAtRenewal(t *testing.T) {
	store := memory.NewStore()
	b := newNotifying(store.Backend("ns"))
	b.subErr = backends.Unavailable("subscribing", "k", errors.New("injected"))
	m := lockmanager.New(b)
	defer m.Close()
	sess, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: 3 * time.Second, RefreshPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Release(context.Background()) }() // cleanup only: the lease is lost by then, which Release reports
	other := lockmanager.New(store.Backend("ns"))
	defer other.Close()
	for {
		cur, err := other.Get(context.Background(), "k")
		if err != nil {
			t.Fatal(err)
		}
		err = other.Release(context.Background(), lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: cur.Version, Delete: true})
		if err == nil {
			break
		}
		if !errors.Is(err, lockmanager.ErrVersionMismatch) {
			t.Fatal(err)
		}
	}
	select {
	case <-sess.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session did not notice the delete")
	}
	if err := sess.Err(); !errors.Is(err, lockmanager.ErrLost) || !errors.Is(err, lockmanager.ErrNotFound) {
		t.Fatalf("Err = %v; want ErrLost wrapping ErrNotFound", err)
	}
}

// The parent context ending while the session resolves an ambiguous
// renewal (its reply lost, the retry met a version it does not know) still
// releases at once: the release resolves the version itself. The lease is
// a minute and the waiter waits five seconds, so a lost release fails it.
func TestSessionCancelWhileResolvingAmbiguousRenewalHandsOver(t *testing.T) {
	store := memory.NewStore()
	f := backendtest.NewFaulty(store.Backend("ns"))
	b := newNotifying(f)
	b.subErr = errors.New("no notifications here") // the Get below is adopt's
	m := lockmanager.New(b)
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Minute, RefreshPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.blockGets.Store(true)
	f.SetNext(backendtest.LoseReplies, 1)
	select {
	case <-b.gotten:
	case <-time.After(10 * time.Second):
		t.Fatal("the session never read the record to resolve the lost reply")
	}
	cancel()
	<-sess.Done()
	waiter := lockmanager.New(store.Backend("ns"))
	defer waiter.Close()
	l, err := waiter.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: time.Minute, Wait: 5 * time.Second})
	if err != nil || l.FencingToken <= sess.FencingToken() {
		t.Fatalf("waiter got %+v, %v (session: %v); want the lock with a higher token", l, err, sess.Err())
	}
	if err := sess.Err(); !errors.Is(err, lockmanager.ErrReleased) {
		t.Fatalf("Err = %v; want ErrReleased", err)
	}
}
