package lockmetrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/pkg/lockmanager/lockmetrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestObserver(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	obs, err := lockmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	m := lockmanager.New(memory.New(), lockmanager.WithObserver(obs))
	defer m.Close()
	ctx := context.Background()
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: time.Minute})
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: "s", Holder: "a", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Operations series by series: the session's watcher may also read the
	// record (a Get, ok or cut short by the release) when the store's
	// notification of its own grant arrives.
	for _, op := range []struct {
		operation, outcome string
		want               float64
	}{{"acquire", "held", 1}, {"acquire", "ok", 2}, {"release", "ok", 2}} {
		m := series(t, reg, "leasehold_client_operations_total", map[string]string{"operation": op.operation, "outcome": op.outcome})
		if got := m.GetCounter().GetValue(); got != op.want {
			t.Errorf("operations_total{operation=%q,outcome=%q} = %v, want %v", op.operation, op.outcome, got, op.want)
		}
	}
	want := `
# HELP leasehold_client_sessions_ended_total Heartbeat sessions ended, by reason.
# TYPE leasehold_client_sessions_ended_total counter
leasehold_client_sessions_ended_total{reason="released"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "leasehold_client_sessions_ended_total"); err != nil {
		t.Fatal(err)
	}
}

// Registering twice with one registry fails rather than export two sets.
func TestObserverRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := lockmetrics.NewObserver(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := lockmetrics.NewObserver(reg); err == nil {
		t.Fatal("second NewObserver on one registry: got nil error, want AlreadyRegistered")
	}
}

// signalling is the Observer under test, also telling the test when a
// wait starts, a renewal succeeds and a session is lost, so that the test
// reads the metrics at those points instead of polling them.
type signalling struct {
	*lockmetrics.Observer
	waiting, renewed, lost chan struct{}
}

func newSignalling(t *testing.T, reg prometheus.Registerer) *signalling {
	t.Helper()
	obs, err := lockmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &signalling{Observer: obs, waiting: make(chan struct{}, 16), renewed: make(chan struct{}, 16), lost: make(chan struct{}, 16)}
}

func (s *signalling) ObserveWaitStart(d lockmanager.Description) {
	s.Observer.ObserveWaitStart(d)
	s.waiting <- struct{}{}
}

func (s *signalling) ObserveRenewal(d lockmanager.Description, remaining time.Duration) {
	s.Observer.ObserveRenewal(d, remaining)
	select {
	case s.renewed <- struct{}{}:
	default: // the test has seen enough renewals
	}
}

func (s *signalling) ObserveSessionLost(d lockmanager.Description, cause string) {
	s.Observer.ObserveSessionLost(d, cause)
	s.lost <- struct{}{}
}

// await fails the test if nothing arrives on ch within a minute.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
	}
}

// series returns the series of the metric name with the given labels.
func series(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return nil
}

// An Acquire that finds the lock held is a waiter until it is granted: the
// waiters gauge counts it meanwhile, and the wait histogram records the
// wait under outcome "ok"; one that gives up is recorded under "held".
func TestObserverWaits(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	obs := newSignalling(t, reg)
	store := memory.NewStore()
	m := lockmanager.New(store.Backend("team-a"), lockmanager.WithObserver(obs))
	defer m.Close()
	ctx := context.Background()

	held, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Gives up: the lease outlasts its wait.
	if _, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "c", LeaseDuration: time.Minute, Wait: 20 * time.Millisecond}); !errors.Is(err, lockmanager.ErrLockHeld) {
		t.Fatalf("Acquire with a short wait: got %v, want ErrLockHeld", err)
	}
	await(t, obs.waiting, "wait start")

	granted := make(chan error, 1)
	go func() {
		_, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: time.Minute, Wait: time.Minute})
		granted <- err
	}()
	await(t, obs.waiting, "wait start")
	waiters := map[string]string{"backend": "memory", "namespace": "team-a"}
	if got := series(t, reg, "leasehold_client_waiters", waiters).GetGauge().GetValue(); got != 1 {
		t.Errorf("waiters while b waits = %v, want 1", got)
	}
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: held.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-granted; err != nil {
		t.Fatalf("b's Acquire after a's release: %v", err)
	}
	if got := series(t, reg, "leasehold_client_waiters", waiters).GetGauge().GetValue(); got != 0 {
		t.Errorf("waiters after b was granted = %v, want 0", got)
	}
	for outcome, want := range map[string]uint64{"ok": 1, "held": 1} {
		h := series(t, reg, "leasehold_client_wait_duration_seconds",
			map[string]string{"backend": "memory", "namespace": "team-a", "outcome": outcome}).GetHistogram()
		count, sum := h.GetSampleCount(), h.GetSampleSum()
		if count != want || sum <= 0 {
			t.Errorf("wait_duration_seconds{outcome=%q}: count %d, sum %v; want count %d and a positive sum", outcome, count, sum, want)
		}
	}
}

// Each successful renewal records the time left on the lease: less than
// the whole lease (its grant was sent before), and more than nothing (a
// renewal every 10 ms of a one-minute lease).
func TestObserverRenewalMargin(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	obs := newSignalling(t, reg)
	m := lockmanager.New(memory.New(), lockmanager.WithObserver(obs))
	defer m.Close()
	const lease = time.Minute
	sess, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{
		Key: "k", Holder: "a", LeaseDuration: lease, RefreshPeriod: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	await(t, obs.renewed, "renewal")
	await(t, obs.renewed, "second renewal")
	if err := sess.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := series(t, reg, "leasehold_client_renewal_margin_seconds",
		map[string]string{"backend": "memory", "namespace": "default"}).GetHistogram()
	count, sum := h.GetSampleCount(), h.GetSampleSum()
	if count < 2 {
		t.Fatalf("renewal_margin_seconds count = %d, want at least 2", count)
	}
	if sum <= 0 || sum >= float64(count)*lease.Seconds() {
		t.Errorf("renewal_margin_seconds sum = %v over %d renewals, want each in (0, %v)", sum, count, lease.Seconds())
	}
}

// A session whose record another party deletes is lost with cause
// "deleted"; one released by someone else with cause "taken_over"; one
// whose renewals fail until its safe deadline with cause "not_renewed". A
// session its owner releases is not counted.
func TestObserverSessionsLost(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	obs := newSignalling(t, reg)
	store := memory.NewStore()
	faulty := backendtest.NewFaulty(store.Backend("team-a"))
	m := lockmanager.New(faulty, lockmanager.WithObserver(obs))
	defer m.Close()
	other := lockmanager.New(store.Backend("team-a"))
	defer other.Close()
	ctx := context.Background()
	hold := func(key string) *lockmanager.Session {
		t.Helper()
		sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{
			Key: key, Holder: "a", LeaseDuration: time.Second, RefreshPeriod: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}

	released := hold("released")
	if err := released.Release(ctx); err != nil {
		t.Fatal(err)
	}

	deleted := hold("deleted")
	if err := other.Release(ctx, lockmanager.ReleaseOptions{Key: "deleted", Holder: "a", Version: deleted.Lock().Version, Delete: true}); err != nil {
		t.Fatal(err)
	}
	await(t, obs.lost, "lost session (deleted)")
	<-deleted.Done()

	takenOver := hold("taken-over")
	if err := other.Release(ctx, lockmanager.ReleaseOptions{Key: "taken-over", Holder: "a", Version: takenOver.Lock().Version}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Acquire(ctx, lockmanager.AcquireOptions{Key: "taken-over", Holder: "b", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	await(t, obs.lost, "lost session (taken over)")
	<-takenOver.Done()

	unrenewed := hold("unrenewed")
	faulty.Set(backendtest.FailFast)
	await(t, obs.lost, "lost session (not renewed)")
	<-unrenewed.Done()
	faulty.Set(backendtest.NoFault)

	want := `
# HELP leasehold_client_sessions_lost_total Heartbeat sessions that lost their lease, by cause (not_renewed, expired, taken_over, deleted).
# TYPE leasehold_client_sessions_lost_total counter
leasehold_client_sessions_lost_total{backend="memory",cause="deleted",namespace="team-a"} 1
leasehold_client_sessions_lost_total{backend="memory",cause="not_renewed",namespace="team-a"} 1
leasehold_client_sessions_lost_total{backend="memory",cause="taken_over",namespace="team-a"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "leasehold_client_sessions_lost_total"); err != nil {
		t.Fatal(err)
	}
}
