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
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// These specs talk to the API server alone: they prove that the CRD's
// markers and CEL rules accept every sample and reject each kind of record
// that breaks the lock contract, with a message that names the problem.

const samplesDir = "../config/samples"

// newNamespace creates a namespace of its own for one spec, so specs can use
// fixed object names without colliding.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// heldLock returns a valid lock held by "worker-1" with fencing token 5.
func heldLock(namespace string) *locksv1alpha1.DistributedLock {
	now := metav1.NewMicroTime(time.Now())
	return &locksv1alpha1.DistributedLock{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: kubernetes.ObjectName("scheduler:background:lease")},
		Spec: locksv1alpha1.DistributedLockSpec{
			Key:                  "scheduler:background:lease",
			HolderIdentity:       "worker-1",
			LeaseDurationSeconds: ptr.To[int32](15),
			AcquireTime:          &now,
			RenewTime:            &now,
			LeaseTransitions:     2,
			FencingToken:         5,
			Metadata:             map[string]string{"host": "node-1"},
		},
	}
}

// sampleFiles returns the samples listed in config/samples/kustomization.yaml.
func sampleFiles() []string {
	var k struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(samplesDir, "kustomization.yaml"))
	if err != nil {
		panic(err) // runs while the spec tree is built, before Gomega can fail
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		panic(err)
	}
	return k.Resources
}

// expectInvalid asserts that err is the API server's Invalid error and that
// its message contains every one of wantMessages.
func expectInvalid(err error, wantMessages ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted the object")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	for _, m := range wantMessages {
		Expect(err.Error()).To(ContainSubstring(m))
	}
}

var _ = Describe("DistributedLock API validation", func() {
	var namespace string

	BeforeEach(func() {
		namespace = newNamespace()
	})

	Describe("the samples in config/samples", func() {
		It("lists every sample file in its kustomization", func() {
			entries, err := os.ReadDir(samplesDir)
			Expect(err).NotTo(HaveOccurred())
			var files []string
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
					files = append(files, e.Name())
				}
			}
			slices.Sort(files)
			listed := slices.Sorted(slices.Values(sampleFiles()))
			Expect(listed).To(Equal(files))
		})

		files := sampleFiles()
		entries := make([]TableEntry, 0, len(files))
		for _, f := range files {
			entries = append(entries, Entry(f, f))
		}
		DescribeTable("are accepted by the API server as written",
			func(file string) {
				b, err := os.ReadFile(filepath.Join(samplesDir, file))
				Expect(err).NotTo(HaveOccurred())
				obj := &unstructured.Unstructured{}
				Expect(yaml.Unmarshal(b, &obj.Object)).To(Succeed())
				Expect(obj.GetAPIVersion()).To(Equal(locksv1alpha1.GroupVersion.String()))
				Expect(obj.GetKind()).To(Equal("DistributedLock"))
				obj.SetNamespace(namespace)

				// Strict field validation: a misspelt field in a sample
				// fails instead of being dropped.
				Expect(k8sClient.Create(ctx, obj, client.FieldValidation(metav1.FieldValidationStrict))).To(Succeed())

				var got locksv1alpha1.DistributedLock
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), &got)).To(Succeed())
				key, _, _ := unstructured.NestedString(obj.Object, "spec", "key")
				Expect(got.Spec.Key).To(Equal(key))
				Expect(got.Spec.ReapPolicy).To(BeElementOf(locksv1alpha1.ReapPolicyRelease, locksv1alpha1.ReapPolicyDelete))
			},
			entries,
		)
	})

	It("defaults reapPolicy to Release and the counters to zero", func() {
		lock := &locksv1alpha1.DistributedLock{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "jobs-free"},
			Spec:       locksv1alpha1.DistributedLockSpec{Key: "jobs-free"},
		}
		Expect(k8sClient.Create(ctx, lock)).To(Succeed())
		Expect(lock.Spec.ReapPolicy).To(Equal(locksv1alpha1.ReapPolicyRelease))
		Expect(lock.Spec.FencingToken).To(BeZero())
		Expect(lock.Spec.LeaseTransitions).To(BeZero())
		Expect(lock.Spec.HolderIdentity).To(BeEmpty())
	})

	DescribeTable("rejects a new lock that breaks the contract",
		func(mutate func(*locksv1alpha1.DistributedLock), wantMessages ...string) {
			lock := heldLock(namespace)
			mutate(lock)
			expectInvalid(k8sClient.Create(ctx, lock), wantMessages...)
		},
		Entry("zero lease duration",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) },
			"spec.leaseDurationSeconds", "should be greater than or equal to 1"),
		Entry("negative lease duration",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.LeaseDurationSeconds = ptr.To[int32](-30) },
			"spec.leaseDurationSeconds", "should be greater than or equal to 1"),
		Entry("lease duration over 24 hours",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.LeaseDurationSeconds = ptr.To[int32](86401) },
			"spec.leaseDurationSeconds", "should be less than or equal to 86400"),
		Entry("empty key",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = "" },
			"spec.key", "should be at least 1 chars long"),
		Entry("key of 257 characters",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = strings.Repeat("k", 257) },
			"spec.key", "may not be more than 256"),
		Entry("key of 256 characters but 512 bytes",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = strings.Repeat("é", 256) },
			"spec.key", "key must be at most 256 bytes"),
		Entry("key with a newline",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = "jobs\nnightly" },
			"spec.key", "key must not contain control characters"),
		Entry("key with a NUL byte",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = "jobs\x00nightly" },
			"spec.key", "key must not contain control characters"),
		Entry("key with DEL",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = "jobs\x7f" },
			"spec.key", "key must not contain control characters"),
		Entry("key with a C1 control character",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = "jobs\u0085nightly" },
			"spec.key", "key must not contain control characters"),
		Entry("holder of 257 characters",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.HolderIdentity = strings.Repeat("h", 257) },
			"spec.holderIdentity", "may not be more than 256"),
		Entry("holder of 200 characters but 400 bytes",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.HolderIdentity = strings.Repeat("é", 200) },
			"spec.holderIdentity", "holderIdentity must be at most 256 bytes"),
		Entry("holder with a tab",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.HolderIdentity = "worker\t1" },
			"spec.holderIdentity", "holderIdentity must not contain control characters"),
		Entry("unknown reap policy",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.ReapPolicy = "Forget" },
			"spec.reapPolicy", `Unsupported value: "Forget"`, `"Release"`, `"Delete"`),
		Entry("negative fencing token",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.FencingToken = -1 },
			"spec.fencingToken", "should be greater than or equal to 0"),
		Entry("negative lease transitions",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.LeaseTransitions = -1 },
			"spec.leaseTransitions", "should be greater than or equal to 0"),
		Entry("metadata with 65 entries",
			func(l *locksv1alpha1.DistributedLock) {
				l.Spec.Metadata = map[string]string{}
				for i := range 65 {
					l.Spec.Metadata[fmt.Sprintf("k%02d", i)] = "v"
				}
			},
			"spec.metadata", "must have at most 64"),
		Entry("metadata over 16 KiB in all",
			func(l *locksv1alpha1.DistributedLock) {
				l.Spec.Metadata = map[string]string{
					"a": strings.Repeat("x", 8192),
					"b": strings.Repeat("y", 8192),
				}
			},
			"spec.metadata", "metadata must be at most 16384 characters in all"),
		Entry("holder without renewTime",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.RenewTime = nil },
			"a lock with a holderIdentity needs renewTime"),
		Entry("holder without acquireTime",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.AcquireTime = nil },
			"a lock with a holderIdentity needs acquireTime"),
		Entry("holder without leaseDurationSeconds",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.LeaseDurationSeconds = nil },
			"a lock with a holderIdentity needs leaseDurationSeconds"),
		Entry("held with fencing token 0, which is never granted",
			func(l *locksv1alpha1.DistributedLock) { l.Spec.FencingToken = 0 },
			"a lock with a holderIdentity needs a fencingToken greater than 0"),
		Entry("renewTime before acquireTime",
			func(l *locksv1alpha1.DistributedLock) {
				earlier := metav1.NewMicroTime(l.Spec.AcquireTime.Add(-time.Minute))
				l.Spec.RenewTime = &earlier
			},
			"renewTime must not be before acquireTime"),
		Entry("a plain key under a name of the writer's choosing",
			func(l *locksv1alpha1.DistributedLock) {
				l.Name = "db-migration"
				l.Spec.Key = "db-migration-v2"
			},
			"metadata.name must equal spec.key (db-migration-v2)"),
		Entry("a key that needs a derived name, under a name without the hash",
			func(l *locksv1alpha1.DistributedLock) { l.Name = "scheduler-background-lease" },
			"metadata.name must be the name lock clients derive from spec.key"),
	)

	It("accepts a lock written by hand under its plain key, and the lock clients use that object", func() {
		lock := heldLock(namespace)
		lock.Name, lock.Spec.Key = "db-migration", "db-migration"
		Expect(k8sClient.Create(ctx, lock)).To(Succeed())
		Expect(kubernetes.ObjectName("db-migration")).To(Equal(lock.Name))
	})

	It("rejects an empty holderIdentity, since absent is the only way to say free", func() {
		lock := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": locksv1alpha1.GroupVersion.String(),
			"kind":       "DistributedLock",
			"metadata":   map[string]any{"namespace": namespace, "name": "empty-holder"},
			"spec":       map[string]any{"key": "empty-holder", "holderIdentity": ""},
		}}
		expectInvalid(k8sClient.Create(ctx, lock), "spec.holderIdentity", "should be at least 1 chars long")
	})

	It("accepts metadata of exactly 64 entries and 16 KiB", func() {
		lock := heldLock(namespace)
		lock.Spec.Metadata = map[string]string{}
		for i := range 64 {
			// 64 entries of 3 + 253 bytes: 16384 bytes in all.
			lock.Spec.Metadata[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 253)
		}
		Expect(k8sClient.Create(ctx, lock)).To(Succeed())
	})

	Describe("updates", func() {
		var lock *locksv1alpha1.DistributedLock

		BeforeEach(func() {
			lock = heldLock(namespace)
			Expect(k8sClient.Create(ctx, lock)).To(Succeed())
		})

		DescribeTable("rejects an update that breaks the contract",
			func(mutate func(*locksv1alpha1.DistributedLock), wantMessages ...string) {
				mutate(lock)
				expectInvalid(k8sClient.Update(ctx, lock), wantMessages...)
			},
			Entry("changed key",
				func(l *locksv1alpha1.DistributedLock) { l.Spec.Key = "scheduler:other" },
				"spec.key", "key is immutable"),
			Entry("decreasing fencing token",
				func(l *locksv1alpha1.DistributedLock) { l.Spec.FencingToken = 4 },
				"spec.fencingToken", "fencingToken must not decrease"),
			Entry("fencing token reset to zero on release",
				func(l *locksv1alpha1.DistributedLock) {
					l.Spec.HolderIdentity = ""
					l.Spec.FencingToken = 0
				},
				"fencingToken must not decrease"),
			Entry("decreasing lease transitions",
				func(l *locksv1alpha1.DistributedLock) { l.Spec.LeaseTransitions = 1 },
				"spec.leaseTransitions", "leaseTransitions must not decrease"),
			Entry("a new holder keeping the previous holder's token",
				func(l *locksv1alpha1.DistributedLock) {
					l.Spec.HolderIdentity = "worker-2"
					l.Spec.LeaseTransitions++
				},
				"fencingToken must increase when a new holder takes the lock"),
			Entry("removing renewTime while held",
				func(l *locksv1alpha1.DistributedLock) { l.Spec.RenewTime = nil },
				"a lock with a holderIdentity needs renewTime"),
		)

		DescribeTable("accepts the updates the contract makes",
			func(mutate func(*locksv1alpha1.DistributedLock)) {
				mutate(lock)
				Expect(k8sClient.Update(ctx, lock)).To(Succeed())
			},
			Entry("renewal: same holder and token, later renewTime, new metadata",
				func(l *locksv1alpha1.DistributedLock) {
					t := metav1.NewMicroTime(l.Spec.RenewTime.Add(5 * time.Second))
					l.Spec.RenewTime = &t
					l.Spec.Metadata = map[string]string{"host": "node-1", "step": "2"}
				}),
			Entry("release: holder cleared, token and history kept",
				func(l *locksv1alpha1.DistributedLock) {
					l.Spec.HolderIdentity = ""
					l.Spec.Metadata = nil
				}),
			Entry("takeover: new holder with a greater token",
				func(l *locksv1alpha1.DistributedLock) {
					now := metav1.NewMicroTime(time.Now())
					l.Spec.HolderIdentity = "worker-2:pod#7"
					l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
					l.Spec.FencingToken++
					l.Spec.LeaseTransitions++
				}),
		)

		It("requires a greater token when a released lock is granted again", func() {
			lock.Spec.HolderIdentity = ""
			Expect(k8sClient.Update(ctx, lock)).To(Succeed())

			lock.Spec.HolderIdentity = "worker-1"
			expectInvalid(k8sClient.Update(ctx, lock), "fencingToken must increase when a new holder takes the lock")

			lock.Spec.FencingToken++
			Expect(k8sClient.Update(ctx, lock)).To(Succeed())
		})
	})

	Describe("status", func() {
		It("accepts a status with a known phase and conditions", func() {
			lock := heldLock(namespace)
			Expect(k8sClient.Create(ctx, lock)).To(Succeed())
			lock.Status = locksv1alpha1.DistributedLockStatus{
				Phase:              locksv1alpha1.PhaseExpired,
				ObservedGeneration: lock.Generation,
				Conditions: []metav1.Condition{{
					Type:               locksv1alpha1.ConditionHeld,
					Status:             metav1.ConditionFalse,
					Reason:             locksv1alpha1.ReasonLeaseExpired,
					Message:            "the lease expired and awaits reaping",
					LastTransitionTime: metav1.Now(),
				}},
			}
			Expect(k8sClient.Status().Update(ctx, lock)).To(Succeed())
			var got locksv1alpha1.DistributedLock
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(lock), &got)).To(Succeed())
			Expect(got.Status.Phase).To(Equal(locksv1alpha1.PhaseExpired))
			Expect(got.Status.Conditions).To(HaveLen(1))
		})

		It("rejects an unknown phase", func() {
			lock := heldLock(namespace)
			Expect(k8sClient.Create(ctx, lock)).To(Succeed())
			lock.Status.Phase = "Stolen"
			expectInvalid(k8sClient.Status().Update(ctx, lock), "status.phase", `Unsupported value: "Stolen"`)
		})
	})
})
