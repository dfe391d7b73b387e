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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
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
			reaped, err := r.reap(ctx, lock, expired.Add(10*time.Second))
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
})
