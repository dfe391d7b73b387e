package fencekube_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leasehold/leasehold/pkg/fencing/fencekube"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// BenchmarkGuardedWrite measures what the fencing policy adds to a write
// of a guarded object (an update of a labelled, stamped ConfigMap): b.N
// writes without the policy bound, b.N with the namespace-wide binding of
// config/fencing, and b.N with it and 200 more DistributedLocks in the
// namespace (the binding evaluates the policy once per lock there), and
// b.N with a per-lock binding (fencekube.PerLockBinding) instead, among the
// same locks. It reports each phase's p50 and p99 in µs and their ratios to
// the unbound phase.
//
//	go test -run '^$' -bench GuardedWrite -benchtime 2000x ./pkg/fencing/fencekube/
func BenchmarkGuardedWrite(b *testing.B) {
	ctx := context.Background()
	ns := freshNamespace(b)
	createLock(b, ns, "bench", 5)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"}}
	if err := fencekube.Stamp(cm, "bench", 5); err != nil {
		b.Fatal(err)
	}
	if err := k8s.Create(ctx, cm); err != nil {
		b.Fatal(err)
	}
	binding := namespaceBinding(b)

	// A write with token 1 against the lock's 5 is what the policy refuses.
	staleRefused := func(ctx context.Context) (bool, error) {
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-"}}
		if err := fencekube.Stamp(probe, "bench", 1); err != nil {
			return false, err
		}
		return k8s.Create(ctx, probe) != nil, nil
	}
	measure := func(name string) (p50, p99 time.Duration) {
		lat := make([]time.Duration, b.N)
		for i := range b.N {
			cm.Data = map[string]string{"n": fmt.Sprint(i)}
			start := time.Now()
			if err := k8s.Update(ctx, cm); err != nil {
				b.Fatalf("%s: guarded write: %v", name, err)
			}
			lat[i] = time.Since(start)
		}
		slices.Sort(lat)
		return lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}

	b.ResetTimer()
	if err := k8s.Delete(ctx, binding.DeepCopy()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = k8s.Create(context.Background(), binding.DeepCopy()) }()
	waitFor(b, "the policy to stop applying", func(ctx context.Context) (bool, error) {
		refused, err := staleRefused(ctx)
		return !refused, err
	})
	b0, b99 := measure("unbound")

	if err := k8s.Create(ctx, binding.DeepCopy()); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "the policy to apply", staleRefused)
	p50, p99 := measure("bound")

	for i := range 200 {
		createLock(b, ns, fmt.Sprintf("other-%d", i), 1)
	}
	// The 200 locks reach the API server's cache in the time it takes to
	// create them; the measurement below includes them from its start or
	// within its first writes.
	m50, m99 := measure("bound, 201 locks")

	// The same namespace with a binding for this lock alone instead: the
	// namespace-wide binding is gone once a stale write guarded by another
	// lock passes, and the per-lock one applies once a stale write guarded
	// by this lock is refused again.
	createLock(b, ns, "unbound-probe", 5)
	if err := k8s.Delete(ctx, binding.DeepCopy()); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "the namespace-wide binding to stop applying", func(ctx context.Context) (bool, error) {
		stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-"}}
		if err := fencekube.Stamp(stale, "unbound-probe", 1); err != nil {
			return false, err
		}
		return k8s.Create(ctx, stale) == nil, nil
	})
	perLock := fencekube.PerLockBinding(ns, "bench")
	if err := k8s.Create(ctx, perLock); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = k8s.Delete(context.Background(), perLock) }()
	waitFor(b, "the per-lock binding to apply", staleRefused)
	l50, l99 := measure("per-lock binding, 201 locks")
	b.StopTimer()

	us := func(d time.Duration) float64 { return float64(d.Microseconds()) }
	b.ReportMetric(us(b0), "p50-unbound-µs")
	b.ReportMetric(us(b99), "p99-unbound-µs")
	b.ReportMetric(us(p50), "p50-bound-µs")
	b.ReportMetric(us(p99), "p99-bound-µs")
	b.ReportMetric(us(m50), "p50-bound-201locks-µs")
	b.ReportMetric(us(m99), "p99-bound-201locks-µs")
	b.ReportMetric(float64(p50)/float64(b0), "p50-ratio")
	b.ReportMetric(float64(p99)/float64(b99), "p99-ratio")
	b.ReportMetric(float64(m50)/float64(b0), "p50-ratio-201locks")
	b.ReportMetric(float64(m99)/float64(b99), "p99-ratio-201locks")
	b.ReportMetric(us(l50), "p50-perlock-201locks-µs")
	b.ReportMetric(us(l99), "p99-perlock-201locks-µs")
	b.ReportMetric(float64(l50)/float64(b0), "p50-ratio-perlock-201locks")
	b.ReportMetric(float64(l99)/float64(b99), "p99-ratio-perlock-201locks")
}

// namespaceBinding returns the binding config/fencing installs.
func namespaceBinding(b *testing.B) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	root, err := kubeenv.Root()
	if err != nil {
		b.Fatal(err)
	}
	objs, err := kubeenv.FencingObjects(root)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		if vb, ok := o.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding); ok {
			var live admissionregistrationv1.ValidatingAdmissionPolicyBinding
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vb), &live); err != nil {
				b.Fatal(err)
			}
			return vb
		}
	}
	b.Fatal("config/fencing has no binding")
	return nil
}

func waitFor(b *testing.B, what string, cond wait.ConditionWithContextFunc) {
	b.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, enforceTimeout, true, cond); err != nil {
		b.Fatalf("waiting for %s: %v", what, err)
	}
}
