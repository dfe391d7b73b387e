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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

var _ = Describe("Reaping", func() {
	It("records Reaped Events up to their limit and still reaps and counts the rest", func() {
		const locks = 4
		ns := lockNamespace()
		// A reconciler of its own, driven directly: the suite's manager
		// does not watch these objects (they lack reconciledLabels).
		recorder := newCountingRecorder(events.NewFakeRecorder(locks), clock.RealClock{})
		r := &DistributedLockReconciler{
			Client:   k8sClient,
			Recorder: recorder,
			// Two Events at once, then one a day: the next two reaps are
			// past the limit.
			ReapEvents: rate.NewLimiter(rate.Every(24*time.Hour), 2),
			metrics:    newLockMetrics(prometheus.NewRegistry()),
		}
		r.init()
		dropped := testutil.ToFloat64(reapEventsDropped)
		expired := time.Now().Add(-time.Minute)
		for i := range locks {
			key := types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("burst-%d", i)}
			lock := grantedLock(key, "gone", 10*time.Second, 1, expired, locksv1alpha1.ReapPolicyRelease)
			lock.Labels = nil
			Expect(k8sClient.Create(ctx, lock)).To(Succeed())
			_, reaped, err := r.reap(ctx, lock, expired.Add(10*time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(reaped).To(BeTrue(), "%s", key)
			Expect(getLock(Default, key).Spec.HolderIdentity).To(BeEmpty(), "%s is free", key)
		}
		withEvent := 0
		for i := range locks {
			withEvent += recorder.count(types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("burst-%d", i)}, EventReasonReaped)
		}
		Expect(withEvent).To(Equal(2), "Reaped Events recorded")
		Expect(testutil.ToFloat64(reapEventsDropped)-dropped).To(Equal(2.0), "reaps counted without an Event")
		Expect(testutil.ToFloat64(r.metrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonLeaseExpired))).To(Equal(4.0), "reaps counted")
	})

	It("reaps with no more than the manager's ClusterRole from config/rbac grants", func() {
		ns := lockNamespace()
		role := managerClusterRole()
		role.Name = "test-manager-role-" + ns
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		DeferCleanup(k8sClient.Delete, role)
		user := "manager-" + ns
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
		}
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		DeferCleanup(k8sClient.Delete, binding)
		as := rest.CopyConfig(cfg)
		as.Impersonate = rest.ImpersonationConfig{UserName: user}
		cl, err := client.New(as, client.Options{Scheme: scheme.Scheme})
		Expect(err).NotTo(HaveOccurred())
		r := &DistributedLockReconciler{
			Client:     cl,
			Recorder:   events.NewFakeRecorder(10),
			ReapEvents: rate.NewLimiter(rate.Inf, 0),
			metrics:    newLockMetrics(prometheus.NewRegistry()),
		}
		r.init()

		expired := time.Now().Add(-time.Minute)
		for _, policy := range []locksv1alpha1.ReapPolicy{locksv1alpha1.ReapPolicyRelease, locksv1alpha1.ReapPolicyDelete} {
			key := types.NamespacedName{Namespace: ns, Name: strings.ToLower(string(policy))}
			lock := grantedLock(key, "gone", 10*time.Second, 1, expired, policy)
			lock.Labels = nil
			Expect(k8sClient.Create(ctx, lock)).To(Succeed())
			_, reaped, err := r.reap(ctx, getLock(Default, key), expired.Add(10*time.Second))
			Expect(err).NotTo(HaveOccurred(), "reapPolicy %s", policy)
			Expect(reaped).To(BeTrue(), "reapPolicy %s", policy)
		}
	})

	// The cache keeps a trimmed copy of each lock (TrimCachedLock); the
	// Release reap starts from that copy and must not write it back.
	Describe("a Release reap from the trimmed cached copy", func() {
		var r *DistributedLockReconciler
		BeforeEach(func() {
			r = &DistributedLockReconciler{
				Client:     k8sClient,
				Recorder:   events.NewFakeRecorder(10),
				ReapEvents: rate.NewLimiter(rate.Inf, 0),
				metrics:    newLockMetrics(prometheus.NewRegistry()),
			}
			r.init()
		})

		// userLock is a held, expired lock with everything a user may add
		// beside the lease: labels, annotations, an owner and a finalizer.
		userLock := func(key types.NamespacedName, expired time.Time) *locksv1alpha1.DistributedLock {
			lock := grantedLock(key, "gone", 10*time.Second, 7, expired, locksv1alpha1.ReapPolicyRelease)
			lock.Labels = map[string]string{"team": "payments"}
			lock.Annotations = map[string]string{"owner": "alice", lease.MillisAnnotation: "9500"}
			lock.Finalizers = []string{"test.leasehold.dev/keep"}
			lock.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "0b5f3e2c-5d3c-4b8e-9a43-2f0f1b7c9d11"}}
			return lock
		}
		cachedCopy := func(key types.NamespacedName) *locksv1alpha1.DistributedLock {
			obj, err := TrimCachedLock(getLock(Default, key))
			Expect(err).NotTo(HaveOccurred())
			lock := obj.(*locksv1alpha1.DistributedLock)
			Expect(lock.Labels).To(BeEmpty(), "the cached copy has no labels")
			Expect(lock.Spec.Metadata).To(BeEmpty(), "the cached copy has no holder metadata")
			return lock
		}
		release := func(key types.NamespacedName) {
			lock := getLock(Default, key)
			lock.Finalizers = nil
			Expect(k8sClient.Update(ctx, lock)).To(Succeed())
		}

		It("clears the grant and the holder's metadata and keeps what the cache left out", func() {
			key := types.NamespacedName{Namespace: lockNamespace(), Name: "trimmed"}
			expired := time.Now().Add(-time.Minute)
			Expect(k8sClient.Create(ctx, userLock(key, expired))).To(Succeed())
			DeferCleanup(release, key)

			_, reaped, err := r.reap(ctx, cachedCopy(key), expired.Add(10*time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(reaped).To(BeTrue())

			got := getLock(Default, key)
			Expect(got.Spec.HolderIdentity).To(BeEmpty())
			Expect(got.Spec.AcquireTime).To(BeNil())
			Expect(got.Spec.RenewTime).To(BeNil())
			Expect(got.Spec.LeaseDurationSeconds).To(BeNil())
			Expect(got.Spec.Metadata).To(BeEmpty(), "the expired holder's metadata goes with its grant")
			Expect(got.Spec.FencingToken).To(Equal(int64(7)), "the fencing history stays")
			Expect(got.Spec.LeaseTransitions).To(Equal(int32(1)), "the fencing history stays")
			Expect(got.Spec.ReapPolicy).To(Equal(locksv1alpha1.ReapPolicyRelease))
			Expect(got.Labels).To(Equal(map[string]string{"team": "payments"}))
			Expect(got.Annotations).To(Equal(map[string]string{"owner": "alice", lease.MillisAnnotation: "9500"}))
			Expect(got.Finalizers).To(Equal([]string{"test.leasehold.dev/keep"}))
			Expect(got.OwnerReferences).To(HaveLen(1))
			Expect(got.OwnerReferences[0].Name).To(Equal("owner"))
		})

		It("refuses when the lease changed after the cached copy was read", func() {
			key := types.NamespacedName{Namespace: lockNamespace(), Name: "renewed"}
			expired := time.Now().Add(-time.Minute)
			Expect(k8sClient.Create(ctx, userLock(key, expired))).To(Succeed())
			DeferCleanup(release, key)
			stale := cachedCopy(key)
			renewed := micro(time.Now())
			writeSpec(key, func(spec *locksv1alpha1.DistributedLockSpec) { spec.RenewTime = renewed })

			_, reaped, err := r.reap(ctx, stale, expired.Add(10*time.Second))
			Expect(err).NotTo(HaveOccurred(), "a Conflict is not an error")
			Expect(reaped).To(BeFalse())
			got := getLock(Default, key)
			Expect(got.Spec.HolderIdentity).To(Equal("gone"), "the renewed lease is not reaped")
			Expect(got.Spec.RenewTime.Equal(renewed)).To(BeTrue())
			Expect(got.Spec.Metadata).To(Equal(map[string]string{"host": "node-1"}))
			Expect(testutil.ToFloat64(r.metrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonLeaseExpired))).To(BeZero())
		})
	})
})

// managerClusterRole reads the manager's ClusterRole from
// config/rbac/role.yaml, which controller-gen generates from rbac.go.
func managerClusterRole() *rbacv1.ClusterRole {
	raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for doc := range strings.SplitSeq(string(raw), "\n---") {
		role := &rbacv1.ClusterRole{}
		Expect(yaml.UnmarshalStrict([]byte(doc), role)).To(Succeed())
		if role.Kind == "ClusterRole" {
			role.ResourceVersion = ""
			return role
		}
	}
	Fail("config/rbac/role.yaml has no ClusterRole")
	return nil
}
