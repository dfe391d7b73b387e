/*
Copyright 2026 The Leasehold Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// createPod creates a Pod as a workload's controller would; envtest runs
// no kubelet, so its status is whatever the spec writes.
func createPod(ns, name, node string) *corev1.Pod {
	GinkgoHelper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "work", Image: "registry.example/work:1"}},
		},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	return pod
}

// setPodPhase writes the Pod's status as a kubelet would.
func setPodPhase(pod *corev1.Pod, phase corev1.PodPhase) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &corev1.Pod{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
			return err
		}
		cur.Status.Phase = phase
		return k8sClient.Status().Update(ctx, cur)
	})).To(Succeed())
}

// deletePod deletes the Pod at once, as a kubelet confirms a deletion.
func deletePod(pod *corev1.Pod) {
	GinkgoHelper()
	Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
}

// boundLock is a lock held by holder and bound to the Pod name/uid.
func boundLock(key types.NamespacedName, holder string, lease time.Duration, token int64, podName, podUID string) *locksv1alpha1.DistributedLock {
	lock := grantedLock(key, holder, lease, token, time.Now(), locksv1alpha1.ReapPolicyRelease)
	lock.Spec.HolderPod = &locksv1alpha1.HolderPod{Name: podName, UID: podUID}
	return lock
}

// podGoneReaps is reaps_total{policy="Release",reason="PodGone"}.
func podGoneReaps() float64 {
	return testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonPodGone))
}

// expectFreedForPod waits for the controller to free key because its Pod
// is gone: holder and binding cleared, fencing token kept, one PodGone
// Event, counted once in reaps_total with reason PodGone.
func expectFreedForPod(key types.NamespacedName, token int64, reapsBefore float64) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		lock := getLock(g, key)
		g.Expect(lock.Spec.HolderIdentity).To(BeEmpty())
		g.Expect(lock.Spec.HolderPod).To(BeNil())
		g.Expect(lock.Spec.FencingToken).To(Equal(token), "a freed lock keeps its fencing token")
		g.Expect(recorded.count(key, EventReasonPodGone)).To(Equal(1))
	}, timeout, interval).Should(Succeed())
	// Specs run one at a time, so every PodGone reap since reapsBefore is this one.
	Eventually(podGoneReaps, timeout, interval).Should(Equal(reapsBefore + 1))
	Expect(recorded.count(key, EventReasonReaped)).To(BeZero(), "freed for its Pod, not reaped for its lease")
}

var _ = Describe("DistributedLock controller with locks bound to Pods", func() {
	var ns string
	BeforeEach(func() { ns = lockNamespace() })

	It("frees the lock as soon as its Pod is deleted", func() {
		pod := createPod(ns, "worker-0", "")
		key := types.NamespacedName{Namespace: ns, Name: "pod-deleted"}
		reaps := podGoneReaps()
		Expect(k8sClient.Create(ctx, boundLock(key, "worker-0", longLease, 5, pod.Name, string(pod.UID)))).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(getLock(g, key).Spec.HolderIdentity).To(Equal("worker-0"))
		}, time.Second, interval).Should(Succeed(), "a lock whose Pod runs stays held")

		deletePod(pod)
		expectFreedForPod(key, 5, reaps)
	})

	It("frees the lock when its Pod succeeded", func() {
		pod := createPod(ns, "job-1-abcde", "")
		key := types.NamespacedName{Namespace: ns, Name: "pod-succeeded"}
		reaps := podGoneReaps()
		Expect(k8sClient.Create(ctx, boundLock(key, "job-1", longLease, 9, pod.Name, string(pod.UID)))).To(Succeed())
		setPodPhase(pod, corev1.PodRunning)
		Consistently(func(g Gomega) {
			g.Expect(getLock(g, key).Spec.HolderIdentity).To(Equal("job-1"))
		}, time.Second, interval).Should(Succeed(), "a lock whose Pod runs stays held")

		setPodPhase(pod, corev1.PodSucceeded)
		expectFreedForPod(key, 9, reaps)
	})

	It("frees the lock when its Pod failed", func() {
		pod := createPod(ns, "job-2-fghij", "")
		key := types.NamespacedName{Namespace: ns, Name: "pod-failed"}
		reaps := podGoneReaps()
		Expect(k8sClient.Create(ctx, boundLock(key, "job-2", longLease, 3, pod.Name, string(pod.UID)))).To(Succeed())
		setPodPhase(pod, corev1.PodFailed)
		expectFreedForPod(key, 3, reaps)
	})

	It("frees the lock when a Pod of the same name with another UID replaced its Pod", func() {
		// A StatefulSet's Pod comes back under its name: the lock names
		// the UID of the Pod that was there before.
		pod := createPod(ns, "db-0", "")
		key := types.NamespacedName{Namespace: ns, Name: "pod-replaced"}
		reaps := podGoneReaps()
		Expect(k8sClient.Create(ctx, boundLock(key, "db-0", longLease, 4, pod.Name, "0f6a3c1e-1111-4d2e-9a7b-000000000000"))).To(Succeed())
		expectFreedForPod(key, 4, reaps)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})).To(Succeed(), "the new Pod is left alone")
	})

	It("treats a Pod that never existed as gone", func() {
		key := types.NamespacedName{Namespace: ns, Name: "pod-never-existed"}
		reaps := podGoneReaps()
		Expect(k8sClient.Create(ctx, boundLock(key, "ghost", longLease, 2, "ghost-0", "8d2b6f4a-2222-4c1d-8e3f-000000000000"))).To(Succeed())
		expectFreedForPod(key, 2, reaps)
	})

	It("keeps the lock of a Pod whose Node is NotReady until its lease expires", func() {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "node-"}}
		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, node)).To(Succeed()) })
		pod := createPod(ns, "worker-on-lost-node", node.Name)
		setPodPhase(pod, corev1.PodRunning)

		const lease = 4 * time.Second
		key := types.NamespacedName{Namespace: ns, Name: "node-not-ready"}
		lock := boundLock(key, "worker-1", lease, 6, pod.Name, string(pod.UID))
		expiresAt := lock.Spec.RenewTime.Add(lease)
		Expect(k8sClient.Create(ctx, lock)).To(Succeed())

		By("the Node going NotReady, and then Unknown, with the Pod still Running")
		for _, status := range []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionUnknown} {
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status,
				Reason: "KubeletNotReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
			Expect(k8sClient.Status().Update(ctx, node)).To(Succeed())
			// The Pod's Ready condition follows, as the node lifecycle
			// controller writes it: a Pod change the controller looks at.
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur := &corev1.Pod{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
					return err
				}
				cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse,
					Reason: "NodeNotReady", LastTransitionTime: metav1.Now()}}
				return k8sClient.Status().Update(ctx, cur)
			})).To(Succeed())
		}

		By("the lock staying held for as long as its lease runs")
		Consistently(func(g Gomega) {
			held := getLock(g, key).Spec.HolderIdentity == "worker-1"
			g.Expect(held || time.Now().After(expiresAt)).To(BeTrue(), "freed before its lease expired at %s", expiresAt)
		}, lease, interval).Should(Succeed())

		By("the reaper ending it once the lease expired")
		Eventually(func(g Gomega) {
			g.Expect(getLock(g, key).Spec.HolderIdentity).To(BeEmpty())
			g.Expect(recorded.count(key, EventReasonReaped)).To(Equal(1))
		}, timeout, interval).Should(Succeed())
		Expect(recorded.count(key, EventReasonPodGone)).To(BeZero(), "a NotReady Node does not make its Pod gone")
	})

	It("gives the next holder, waiting on the Kubernetes backend, a higher token than the freed one's", func() {
		const key = "bound-then-taken"
		name := types.NamespacedName{Namespace: ns, Name: kubernetes.ObjectName(key)}
		// The suite's controller watches labelled locks only: the lock is
		// created free with the label, as in the beside-clients specs.
		Expect(k8sClient.Create(ctx, &locksv1alpha1.DistributedLock{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name.Name, Labels: reconciledLabels},
			Spec:       locksv1alpha1.DistributedLockSpec{Key: key},
		})).To(Succeed())
		first := createPod(ns, "first", "")
		second := createPod(ns, "second", "")
		holder, _ := countedBackend(ns)
		waiter, _ := countedBackend(ns)

		l, err := holder.Acquire(ctx, &backends.AcquireRequest{Key: key, Holder: "first", LeaseDuration: time.Hour,
			HolderPod: &backends.PodRef{Namespace: ns, Name: first.Name, UID: string(first.UID)}})
		Expect(err).NotTo(HaveOccurred())
		Expect(getLock(Default, name).Spec.HolderPod).To(Equal(&locksv1alpha1.HolderPod{Name: first.Name, UID: string(first.UID)}))
		l, err = holder.Renew(ctx, &backends.RenewRequest{Key: key, Holder: "first", Version: l.Version, LeaseDuration: time.Hour})
		Expect(err).NotTo(HaveOccurred())
		Expect(getLock(Default, name).Spec.HolderPod).NotTo(BeNil(), "a renewal keeps the binding")
		_, err = waiter.Acquire(ctx, &backends.AcquireRequest{Key: key, Holder: "second", LeaseDuration: time.Hour})
		Expect(err).To(MatchError(backends.ErrLockHeld))

		deletePod(first)
		var next backends.Lock
		Eventually(func() error {
			next, err = waiter.Acquire(ctx, &backends.AcquireRequest{Key: key, Holder: "second", LeaseDuration: time.Hour,
				HolderPod: &backends.PodRef{Namespace: ns, Name: second.Name, UID: string(second.UID)}})
			return err
		}, timeout, interval).Should(Succeed())
		Expect(next.FencingToken).To(BeNumerically(">", l.FencingToken), "the next holder's token is higher than the freed one's")
		Expect(getLock(Default, name).Spec.HolderPod).To(Equal(&locksv1alpha1.HolderPod{Name: second.Name, UID: string(second.UID)}))

		By("a release clearing the binding")
		Expect(waiter.Release(ctx, &backends.ReleaseRequest{Key: key, Holder: "second", Version: next.Version})).To(Succeed())
		Expect(getLock(Default, name).Spec.HolderPod).To(BeNil())
	})
})
