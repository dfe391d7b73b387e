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
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// Named durations of the controller specs. Leases are 1-2 s on the real
// clock; the timeouts are generous because the suite runs with -race on two
// shared cores, and no spec passes or fails on how fast the reaper is.
const (
	// shortLease is the lease of the specs that wait for a reap.
	shortLease = 1 * time.Second
	// longLease outlives any spec that must not see its lock expire.
	longLease = 10 * time.Minute
	// notReapedWindow is how long an invalid lock with a long-expired lease
	// is watched to stay unreaped: several times what a valid one takes.
	notReapedWindow = 3 * time.Second
	// bulkTimeout bounds the 1,000-lock spec.
	bulkTimeout = 3 * time.Minute
	// renewEvery and renewFor pace the holders of the renewal race: every
	// renewal is sent 100 ms before the previous one's lease runs out.
	renewEvery = 900 * time.Millisecond
	renewFor   = 3 * time.Second
)

// lockNamespace creates a namespace for one spec.
func lockNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "locks-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// micro returns t as the API stores it: microsecond precision.
func micro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t.Truncate(time.Microsecond))
	return &m
}

// grantedLock is a lock as a client's acquire creates it: held by holder
// from at, with token.
func grantedLock(key types.NamespacedName, holder string, lease time.Duration, token int64, at time.Time,
	policy locksv1alpha1.ReapPolicy) *locksv1alpha1.DistributedLock {
	return &locksv1alpha1.DistributedLock{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: reconciledLabels},
		Spec: locksv1alpha1.DistributedLockSpec{
			Key:                  key.Name, // a plain key names its own object
			HolderIdentity:       holder,
			LeaseDurationSeconds: ptr.To(int32(lease / time.Second)),
			AcquireTime:          micro(at),
			RenewTime:            micro(at),
			LeaseTransitions:     1,
			FencingToken:         token,
			Metadata:             map[string]string{"host": "node-1"},
			ReapPolicy:           policy,
		},
	}
}

// getLock reads the lock from the API server.
func getLock(g Gomega, key types.NamespacedName) *locksv1alpha1.DistributedLock {
	lock := &locksv1alpha1.DistributedLock{}
	g.Expect(k8sClient.Get(ctx, key, lock)).To(Succeed())
	return lock
}

// writeSpec changes the lock's spec as a client does: a write guarded by
// the resourceVersion just read, read again and retried when another write
// (the controller's status patches) came first.
func writeSpec(key types.NamespacedName, change func(*locksv1alpha1.DistributedLockSpec)) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lock := &locksv1alpha1.DistributedLock{}
		if err := k8sClient.Get(ctx, key, lock); err != nil {
			return err
		}
		change(&lock.Spec)
		return k8sClient.Update(ctx, lock)
	})).To(Succeed())
}

// expectCondition checks one condition of lock.
func expectCondition(g Gomega, lock *locksv1alpha1.DistributedLock, conditionType string, status metav1.ConditionStatus, reason string) {
	c := meta.FindStatusCondition(lock.Status.Conditions, conditionType)
	g.Expect(c).NotTo(BeNil(), "condition %s", conditionType)
	g.Expect(c.Status).To(Equal(status), "condition %s", conditionType)
	g.Expect(c.Reason).To(Equal(reason), "condition %s", conditionType)
	g.Expect(c.ObservedGeneration).To(Equal(lock.Generation), "condition %s", conditionType)
}

// reapDelay is how long after expiresAt the reconciler recorded the Reaped
// event of key, which it does right after the reaping write.
func reapDelay(key types.NamespacedName, expiresAt time.Time) time.Duration {
	at, ok := recorded.first(key, EventReasonReaped)
	Expect(ok).To(BeTrue(), "no Reaped event for %s", key)
	return at.Sub(expiresAt)
}

var _ = Describe("DistributedLock controller", func() {
	var ns string
	BeforeEach(func() { ns = lockNamespace() })

	It("writes no status while a client acquires, renews and releases the lock", func() {
		key := types.NamespacedName{Namespace: ns, Name: "jobs-nightly"}
		Expect(k8sClient.Create(ctx, &locksv1alpha1.DistributedLock{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: reconciledLabels},
			Spec:       locksv1alpha1.DistributedLockSpec{Key: "jobs-nightly"},
		})).To(Succeed())
		// The acquisition and renewal counters move when the controller has
		// seen each step, so they tell when to look for a status write that
		// must not be there.
		By("acquiring")
		acquisitions := testutil.ToFloat64(defaultMetrics.acquisitions)
		renewals := testutil.ToFloat64(defaultMetrics.renewals)
		acquired := time.Now().Truncate(time.Microsecond)
		writeSpec(key, func(s *locksv1alpha1.DistributedLockSpec) {
			s.HolderIdentity = "worker-1"
			s.AcquireTime, s.RenewTime = micro(acquired), micro(acquired)
			s.LeaseDurationSeconds = ptr.To(int32(longLease / time.Second))
			s.FencingToken, s.LeaseTransitions = 1, 1
		})
		Eventually(func() float64 { return testutil.ToFloat64(defaultMetrics.acquisitions) }, timeout, interval).
			Should(Equal(acquisitions + 1))

		By("renewing")
		renewed := acquired.Add(5 * time.Second)
		writeSpec(key, func(s *locksv1alpha1.DistributedLockSpec) { s.RenewTime = micro(renewed) })
		Eventually(func() float64 { return testutil.ToFloat64(defaultMetrics.renewals) }, timeout, interval).
			Should(Equal(renewals + 1))
		Expect(testutil.ToFloat64(defaultMetrics.acquisitions)).To(Equal(acquisitions+1), "a renewal is not an acquisition")

		By("releasing")
		writeSpec(key, func(s *locksv1alpha1.DistributedLockSpec) {
			s.HolderIdentity = ""
			s.AcquireTime, s.RenewTime, s.LeaseDurationSeconds = nil, nil, nil
		})
		Eventually(func(g Gomega) {
			lock := getLock(g, key)
			g.Expect(lock.Spec.HolderIdentity).To(BeEmpty())
			g.Expect(lock.Status).To(Equal(locksv1alpha1.DistributedLockStatus{}))
		}, timeout, interval).Should(Succeed())
		Expect(recorded.count(key, EventReasonReaped)).To(BeZero(), "a released lock is not reaped")
		Expect(statusWrites.count(key)).To(BeZero(), "no status write for a grant, a renewal or a release")
	})

	It("reaps an expired lease by clearing the holder and keeps the fencing history (reapPolicy Release)", func() {
		key := types.NamespacedName{Namespace: ns, Name: "reports-daily"}
		reaps := testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonLeaseExpired))
		renewed := time.Now().Truncate(time.Microsecond)
		lock := grantedLock(key, "worker-1", shortLease, 7, renewed, locksv1alpha1.ReapPolicyRelease)
		lock.Spec.LeaseTransitions = 3
		Expect(k8sClient.Create(ctx, lock)).To(Succeed())

		Eventually(func(g Gomega) {
			lock := getLock(g, key)
			g.Expect(lock.Spec.HolderIdentity).To(BeEmpty())
			g.Expect(lock.Status).To(Equal(locksv1alpha1.DistributedLockStatus{}))
		}, timeout, interval).Should(Succeed())
		lock = getLock(Default, key)
		Expect(lock.Spec.FencingToken).To(Equal(int64(7)), "a free lock keeps its fencing token")
		Expect(lock.Spec.LeaseTransitions).To(Equal(int32(3)), "a free lock keeps its lease transitions")
		Expect(lock.Spec.AcquireTime).To(BeNil())
		Expect(lock.Spec.RenewTime).To(BeNil())
		Expect(lock.Spec.LeaseDurationSeconds).To(BeNil())
		Expect(lock.Spec.Metadata).To(BeEmpty(), "metadata belongs to the expired grant")

		// The Event and the count follow the reaping write's answer.
		Eventually(func(g Gomega) {
			g.Expect(recorded.count(key, EventReasonReaped)).To(Equal(1))
			g.Expect(testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonLeaseExpired))).To(Equal(reaps + 1))
		}, timeout, interval).Should(Succeed())
		Expect(statusWrites.count(key)).To(BeZero(), "an abandoned lease costs the reap and its Event, no status write")
		delay := reapDelay(key, renewed.Add(shortLease))
		Expect(delay).To(BeNumerically(">=", 0), "reaped before renewTime + leaseDurationSeconds")
		fmt.Fprintf(GinkgoWriter, "Reap delay after expiry (Release): %s\n", delay)
		AddReportEntry("reap delay after expiry, reapPolicy Release", delay.String())
	})

	It("reaps an expired lease by deleting the lock (reapPolicy Delete)", func() {
		key := types.NamespacedName{Namespace: ns, Name: "tmp-upload-42"}
		reaps := testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyDelete), reapReasonLeaseExpired))
		renewed := time.Now().Truncate(time.Microsecond)
		Expect(k8sClient.Create(ctx, grantedLock(key, "worker-1", shortLease, 1, renewed, locksv1alpha1.ReapPolicyDelete))).To(Succeed())

		Eventually(func() error {
			return k8sClient.Get(ctx, key, &locksv1alpha1.DistributedLock{})
		}, timeout, interval).Should(Satisfy(apierrors.IsNotFound))
		// The reconciler counts the reap and records its Event once the
		// DELETE has been answered, which may be after this Get saw it.
		Eventually(func(g Gomega) {
			g.Expect(recorded.count(key, EventReasonReaped)).To(Equal(1))
			g.Expect(testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyDelete), reapReasonLeaseExpired))).To(Equal(reaps + 1))
		}, timeout, interval).Should(Succeed())
		delay := reapDelay(key, renewed.Add(shortLease))
		Expect(delay).To(BeNumerically(">=", 0), "reaped before renewTime + leaseDurationSeconds")
		fmt.Fprintf(GinkgoWriter, "Reap delay after expiry (Delete): %s\n", delay)
		AddReportEntry("reap delay after expiry, reapPolicy Delete", delay.String())
	})

	It("never reaps a lease renewed just before it expires", func() {
		// 20 rounds, run side by side: each a lock with a 1 s lease whose
		// holder renews it every 900 ms for 3 s, then stops.
		const rounds = 20
		results := make([]renewalRound, rounds)
		var wg sync.WaitGroup
		for i := range rounds {
			key := types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("race-%02d", i)}
			sent := time.Now()
			Expect(k8sClient.Create(ctx, grantedLock(key, "worker-1", shortLease, 1, sent, locksv1alpha1.ReapPolicyRelease))).To(Succeed())
			wg.Go(func() {
				defer GinkgoRecover()
				results[i] = renewWhileHolding(key, sent)
			})
		}
		wg.Wait()

		var late []time.Duration
		renewalsDone := 0
		for i, r := range results {
			Expect(r.err).NotTo(HaveOccurred(), "round %d", i)
			renewalsDone += r.renewals
			if r.late {
				late = append(late, r.sinceRenewal)
			}
		}
		Expect(renewalsDone).To(BeNumerically(">", 0), "the holders renewed")
		AddReportEntry("renewal race", fmt.Sprintf("%d rounds, %d renewals; %d rounds found their lease reaped "+
			"after it ran out (a renewal that reached the API server too late), at %v after the last renewal was sent",
			rounds, renewalsDone, len(late), late))

		By("reaping each lease once its holder stops renewing")
		Eventually(func(g Gomega) {
			for i := range rounds {
				key := types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("race-%02d", i)}
				g.Expect(getLock(g, key).Spec.HolderIdentity).To(BeEmpty(), "%s", key)
				g.Expect(recorded.count(key, EventReasonReaped)).To(Equal(1), "%s", key)
			}
		}, timeout, interval).Should(Succeed())
	})

	It("marks an invalid lock Valid=False with a Warning event and leaves it alone", func() {
		// A key whose object name is derived, under a name a person chose:
		// the schema can check the name's shape, not the key's hash.
		errorsBefore := reconcileErrors()
		key := types.NamespacedName{Namespace: ns, Name: "jobs-nightly-0123456789abcdef"}
		now := time.Now()
		lock := grantedLock(key, "worker-1", shortLease, 1, now, locksv1alpha1.ReapPolicyRelease)
		lock.Spec.Key = "Jobs/Nightly"
		Expect(k8sClient.Create(ctx, lock)).To(Succeed())

		Eventually(func(g Gomega) {
			lock := getLock(g, key)
			expectCondition(g, lock, locksv1alpha1.ConditionValid, metav1.ConditionFalse, locksv1alpha1.ReasonSpecInvalid)
			g.Expect(meta.FindStatusCondition(lock.Status.Conditions, locksv1alpha1.ConditionValid).Message).
				To(ContainSubstring(kubernetes.ObjectName("Jobs/Nightly")), "the message names the object name to use")
			g.Expect(lock.Status.Phase).To(Equal(locksv1alpha1.PhaseInvalid))
			g.Expect(lock.Status.ObservedGeneration).To(Equal(lock.Generation))
		}, timeout, interval).Should(Succeed())
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(SatisfyAll(
				HaveField("Reason", EventReasonInvalidSpec),
				HaveField("Type", corev1.EventTypeWarning),
				HaveField("Regarding.Name", key.Name),
				HaveField("Note", ContainSubstring("metadata.name")),
			)))
		}, timeout, interval).Should(Succeed())

		Consistently(func(g Gomega) {
			g.Expect(getLock(g, key).Spec.HolderIdentity).To(Equal("worker-1"))
		}, notReapedWindow, interval).Should(Succeed(), "an invalid lock is never reaped")
		Expect(recorded.count(key, EventReasonInvalidSpec)).To(Equal(1))

		Expect(reconcileErrors()).To(Equal(errorsBefore), "an invalid object is not a reconcile error")
	})

	It("reaps 1,000 locks with spread expiries, each once", func() {
		const n = 1000
		const writers = 8
		reaps := testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonLeaseExpired)) +
			testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyDelete), reapReasonLeaseExpired))
		keys := make([]types.NamespacedName, n)
		expiresAt := make([]time.Time, n)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				defer GinkgoRecover()
				for i := w; i < n; i += writers {
					keys[i] = types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("bulk-%04d", i)}
					// Leases of 1, 2 and 3 s, created over the time the
					// writes take: expiries spread over a few seconds.
					lease := time.Duration(1+i%3) * time.Second
					policy := locksv1alpha1.ReapPolicyRelease
					if i%2 == 1 {
						policy = locksv1alpha1.ReapPolicyDelete
					}
					renewed := time.Now().Truncate(time.Microsecond)
					expiresAt[i] = renewed.Add(lease)
					Expect(k8sClient.Create(ctx, grantedLock(keys[i], fmt.Sprintf("worker-%d", i), lease, int64(i+1), renewed, policy))).To(Succeed())
				}
			})
		}
		wg.Wait()

		Eventually(func(g Gomega) {
			for _, key := range keys {
				g.Expect(recorded.count(key, EventReasonReaped)).To(BeNumerically(">=", 1), "%s", key)
			}
		}, bulkTimeout, interval).Should(Succeed())
		for _, key := range keys {
			Expect(recorded.count(key, EventReasonReaped)).To(Equal(1), "%s reaped more than once", key)
		}
		// The counter is the suite's: a lock an earlier spec left held may
		// be reaped meanwhile, so it rises by n at least. The Events above,
		// one per reap and per key, show that each lock was reaped once.
		Expect(testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyRelease), reapReasonLeaseExpired)) +
			testutil.ToFloat64(defaultMetrics.reaps.WithLabelValues(string(locksv1alpha1.ReapPolicyDelete), reapReasonLeaseExpired))).
			To(BeNumerically(">=", reaps+n))
		var left locksv1alpha1.DistributedLockList
		Expect(k8sClient.List(ctx, &left, client.InNamespace(ns))).To(Succeed())
		Expect(left.Items).To(HaveLen(n/2), "the Delete half is gone")
		for _, lock := range left.Items {
			Expect(lock.Spec.HolderIdentity).To(BeEmpty(), "%s", lock.Name)
		}

		delays := make([]time.Duration, n)
		for i, key := range keys {
			delays[i] = reapDelay(key, expiresAt[i])
			Expect(delays[i]).To(BeNumerically(">=", 0), "%s reaped before renewTime + leaseDurationSeconds", key)
		}
		slices.Sort(delays)
		summary := fmt.Sprintf("median %s, p99 %s, worst %s", delays[n/2], delays[n*99/100], delays[n-1])
		fmt.Fprintf(GinkgoWriter, "Reap delay after expiry, %d locks: %s\n", n, summary)
		AddReportEntry("reap delay after expiry, 1,000 locks", summary)
	})
})

// renewalRound is what one holder of the renewal race saw.
type renewalRound struct {
	renewals int
	// late reports that a renewal reached the API server after the lease it
	// renewed had run out, and the reaper was first: that is the contract
	// working, not a fault.
	late bool
	// sinceRenewal is, for a late round, how long after its last
	// successful renewal was sent the holder found the lease reaped.
	sinceRenewal time.Duration
	err          error
}

// errReapedEarly is a fault of the reaper: it reaped a lease within its
// duration of the holder's last renewal.
var errReapedEarly = errors.New("reaped a lease before it expired")

// renewWhileHolding is a holder's heartbeat: it renews the lease of key
// every renewEvery for renewFor, as a client does (read, move renewTime,
// write guarded by the resourceVersion read). It fails with errReapedEarly
// if it finds its lease reaped less than a lease duration after it sent its
// last successful renewal: the reaper may only reap after renewTime + lease
// by the holder's clock, here the same clock, and the holder's next read
// returns after the reap happened.
func renewWhileHolding(key types.NamespacedName, lastSent time.Time) renewalRound {
	var round renewalRound
	end := lastSent.Add(renewFor)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for next := lastSent.Add(renewEvery); next.Before(end); next = lastSent.Add(renewEvery) {
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			round.err = ctx.Err()
			return round
		case <-timer.C:
		}
		for renewed := false; !renewed; {
			lock := &locksv1alpha1.DistributedLock{}
			err := k8sClient.Get(ctx, key, lock)
			if err != nil {
				round.err = err
				return round
			}
			if lock.Spec.HolderIdentity != "worker-1" || lock.Spec.FencingToken != 1 {
				since := time.Since(lastSent)
				if since < shortLease {
					round.err = fmt.Errorf("%s: %w: %s after the renewal sent last, lease %s", key, errReapedEarly, since, shortLease)
					return round
				}
				round.late, round.sinceRenewal = true, since
				return round
			}
			sent := time.Now()
			lock.Spec.RenewTime = micro(sent)
			switch err := k8sClient.Update(ctx, lock); {
			case apierrors.IsConflict(err):
				// The controller's status patch or the reaper wrote
				// first: read again.
			case err != nil:
				round.err = err
				return round
			default:
				lastSent, renewed = sent, true
				round.renewals++
			}
		}
	}
	return round
}
