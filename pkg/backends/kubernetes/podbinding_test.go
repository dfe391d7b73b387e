package kubernetes_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// createPod creates a Pod in ns (envtest runs no kubelet: it only exists).
func createPod(t testing.TB, ns, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "work", Image: "registry.example/work:1"}},
		},
	}
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatalf("creating Pod %s/%s: %v", ns, name, err)
	}
	return pod
}

// holderPodOf reads key's object's spec.holderPod.
func holderPodOf(t testing.TB, ns, key string) *locksv1alpha1.HolderPod {
	t.Helper()
	obj := &locksv1alpha1.DistributedLock{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: kubernetes.ObjectName(key)}, obj); err != nil {
		t.Fatal(err)
	}
	return obj.Spec.HolderPod
}

// TestHoldBindsThePodNamedByTheEnvironment: a session started in a Pod
// whose downward-API variables are set binds its grant to that Pod; its
// renewals keep the binding and its release clears it.
func TestHoldBindsThePodNamedByTheEnvironment(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	pod := createPod(t, ns, "worker-0")
	t.Setenv(lockmanager.EnvPodName, pod.Name)
	t.Setenv(lockmanager.EnvPodNamespace, ns)
	t.Setenv(lockmanager.EnvPodUID, string(pod.UID))
	m := lockmanager.New(newBackend(t, k8s, ns))
	const key = "env-bound"

	s, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: key, Holder: "worker-0",
		LeaseDuration: 3 * time.Second, RefreshPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := &locksv1alpha1.HolderPod{Name: pod.Name, UID: string(pod.UID)}
	if diff := cmp.Diff(want, holderPodOf(t, ns, key)); diff != "" {
		t.Errorf("holderPod after the grant (-want +got):\n%s", diff)
	}
	first, err := m.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// Liveness bound only: the session renews every 100 ms.
	for deadline := time.Now().Add(time.Minute); ; {
		l, err := m.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if l.RenewedAt.After(first.RenewedAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never renewed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if diff := cmp.Diff(want, holderPodOf(t, ns, key)); diff != "" {
		t.Errorf("holderPod after a renewal (-want +got):\n%s", diff)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := holderPodOf(t, ns, key); got != nil {
		t.Errorf("holderPod after the release = %+v, want none", got)
	}
}

// TestHoldBindsNoPodOfAnotherNamespace: a lock can only name a Pod beside
// it, so a client whose Pod runs elsewhere takes the lock unbound.
func TestHoldBindsNoPodOfAnotherNamespace(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	t.Setenv(lockmanager.EnvPodName, "worker-0")
	t.Setenv(lockmanager.EnvPodNamespace, "elsewhere")
	t.Setenv(lockmanager.EnvPodUID, "6d0c4c8e-0000-4000-8000-000000000000")
	m := lockmanager.New(newBackend(t, k8s, ns))
	s, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: "unbound", Holder: "worker-0", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Release(ctx) }()
	if got := holderPodOf(t, ns, "unbound"); got != nil {
		t.Errorf("holderPod = %+v, want none for a Pod outside the lock's namespace", got)
	}
}

// BenchmarkPodGoneHandOff measures, with the controller running, the time
// from a bound holder's Pod going (deleted, or its phase set to Succeeded)
// to the grant of a client waiting in lockmanager's Acquire with Wait,
// with a 60 s lease: the lease alone would make it wait a minute. Each
// reports p50 and p99 over the trials (at least 20: -benchtime=20x).
//
//	go test -run '^$' -bench PodGoneHandOff -benchtime 20x ./pkg/backends/kubernetes/
func BenchmarkPodGoneHandOff(b *testing.B) {
	for _, how := range []string{"deleted", "succeeded"} {
		b.Run(how, func(b *testing.B) {
			ctx := context.Background()
			ns := freshNamespace(b)
			runController(b, ns)
			holder := lockmanager.New(newBackend(b, k8s, ns))
			waiter := lockmanager.New(newBackend(b, k8s, ns))
			var took []time.Duration
			i := 0
			for b.Loop() {
				i++
				key := fmt.Sprintf("handoff-%d", i)
				pod := createPod(b, ns, fmt.Sprintf("holder-%d", i))
				if _, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: pod.Name, LeaseDuration: time.Minute,
					HolderPod: &lockmanager.PodRef{Namespace: ns, Name: pod.Name, UID: string(pod.UID)}}); err != nil {
					b.Fatal(err)
				}
				got := make(chan error, 1)
				var grantedAt time.Time
				go func() {
					_, err := waiter.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: "waiter", LeaseDuration: time.Minute, Wait: 2 * time.Minute})
					grantedAt = time.Now()
					got <- err
				}()
				// Give the waiter time to be refused once and subscribe, so
				// that it waits as a waiter does when the Pod goes.
				time.Sleep(300 * time.Millisecond)
				gone := time.Now()
				if how == "deleted" {
					if err := k8s.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
						b.Fatal(err)
					}
				} else {
					pod.Status.Phase = corev1.PodSucceeded
					if err := k8s.Status().Update(ctx, pod); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-got; err != nil {
					b.Fatalf("trial %d: the waiter was not granted: %v", i, err)
				}
				took = append(took, grantedAt.Sub(gone))
			}
			slices.Sort(took)
			b.ReportMetric(percentile(took, 0.50).Seconds()*1000, "p50-ms")
			b.ReportMetric(percentile(took, 0.99).Seconds()*1000, "p99-ms")
			b.ReportMetric(took[len(took)-1].Seconds()*1000, "max-ms")
		})
	}
}

// percentile returns the p-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
