package kubernetes_test

import (
	"context"
	"testing"

	"github.com/leasehold/leasehold/pkg/backends"
)

// BenchmarkAcquireRelease measures acquire+release pairs on one key by one
// client against envtest's API server: after the first pair, one guarded
// update each. Reported as pairs/s.
func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	be := newBackend(b, k8s, freshNamespace(b))
	acq := &backends.AcquireRequest{Key: "bench", Holder: "a", LeaseDuration: lease}
	for b.Loop() {
		l, err := be.Acquire(ctx, acq)
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Release(ctx, &backends.ReleaseRequest{Key: l.Key, Holder: l.Holder, Version: l.Version}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
