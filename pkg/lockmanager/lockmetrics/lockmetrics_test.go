package lockmetrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

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
	want := `
# HELP leasehold_client_operations_total Lock operations by operation and outcome.
# TYPE leasehold_client_operations_total counter
leasehold_client_operations_total{operation="acquire",outcome="held"} 1
leasehold_client_operations_total{operation="acquire",outcome="ok"} 2
leasehold_client_operations_total{operation="release",outcome="ok"} 2
# HELP leasehold_client_sessions_ended_total Heartbeat sessions ended, by reason.
# TYPE leasehold_client_sessions_ended_total counter
leasehold_client_sessions_ended_total{reason="released"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "leasehold_client_operations_total", "leasehold_client_sessions_ended_total"); err != nil {
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
