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

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

var _ = Describe("A lock bound to its holder's Pod", func() {
	It("goes to a waiter soon after the Pod is deleted, long before the lease would run out", func(ctx SpecContext) {
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-podbind-"}}
		Expect(k8sClient.Create(ctx, nsObj)).To(Succeed())
		ns := nsObj.Name
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "holder-0"},
			Spec: corev1.PodSpec{
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{{Name: "work", Image: "registry.example/work:1"}},
			},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())

		// Holder and waiter are two processes' Managers.
		holderBackend, err := kubernetes.New(k8sClient, kubernetes.WithNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		holder := lockmanager.New(holderBackend)
		DeferCleanup(holder.Close)
		waiterBackend, err := kubernetes.New(k8sClient, kubernetes.WithNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		waiter := lockmanager.New(waiterBackend)
		DeferCleanup(waiter.Close)
		const key, lease = "e2e/pod-bound", time.Minute
		held, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: pod.Name, LeaseDuration: lease,
			HolderPod: &lockmanager.PodRef{Namespace: ns, Name: pod.Name, UID: string(pod.UID)}})
		Expect(err).NotTo(HaveOccurred())
		_, row := tableRow(kubectl(ctx, "get", "dlock", "--namespace", ns, "-o", "wide"), kubernetes.ObjectName(key))
		Expect(row).To(HaveKeyWithValue("POD", pod.Name), "kubectl get -o wide shows the holder's Pod")

		type grant struct {
			l   lockmanager.Lock
			err error
		}
		granted := make(chan grant, 1)
		go func() {
			defer GinkgoRecover()
			l, err := waiter.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: "waiter", LeaseDuration: lease, Wait: 2 * lease})
			granted <- grant{l, err}
		}()
		Consistently(granted, 2*time.Second).ShouldNot(Receive(), "the waiter waits while the Pod exists")

		Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		// The lease has 58 s or more to run: a grant within 20 s can only
		// come from the manager freeing the lock for its Pod.
		var g grant
		Eventually(granted, 20*time.Second).Should(Receive(&g))
		Expect(g.err).NotTo(HaveOccurred())
		Expect(g.l.FencingToken).To(BeNumerically(">", held.FencingToken))
	})
})
