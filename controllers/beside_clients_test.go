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
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// requestCounter counts a client's API requests by method.
type requestCounter struct {
	next http.RoundTripper

	mu       sync.Mutex
	byMethod map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.byMethod[r.Method]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns the counts since the last take.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.byMethod
	c.byMethod = map[string]int{}
	return out
}

// countedBackend returns a Kubernetes backend, as lock clients use it, whose
// API requests are counted.
func countedBackend(ns string) (*kubernetes.Backend, *requestCounter) {
	GinkgoHelper()
	counter := &requestCounter{byMethod: map[string]int{}}
	c := rest.CopyConfig(cfg)
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	}
	cl, err := client.NewWithWatch(c, client.Options{Scheme: kubernetes.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	b, err := kubernetes.New(cl, kubernetes.WithNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(b.Close)
	return b, counter
}

var _ = Describe("DistributedLock controller beside lock clients", func() {
	var ns string
	BeforeEach(func() { ns = lockNamespace() })

	// The suite's controller watches labelled locks only; a person creates
	// the lock (free, under its plain key) with the label, and the clients
	// use that object from then on.
	createFree := func(key string) types.NamespacedName {
		GinkgoHelper()
		name := types.NamespacedName{Namespace: ns, Name: kubernetes.ObjectName(key)}
		Expect(k8sClient.Create(ctx, &locksv1alpha1.DistributedLock{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name.Name, Labels: reconciledLabels},
			Spec:       locksv1alpha1.DistributedLockSpec{Key: key},
		})).To(Succeed())
		return name
	}

	It("costs one request per renewal and no controller write", func() {
		name := createFree("renewed-often")
		holder, counter := countedBackend(ns)
		acquisitions := testutil.ToFloat64(defaultMetrics.acquisitions)
		l, err := holder.Acquire(ctx, &backends.AcquireRequest{Key: "renewed-often", Holder: "worker-1", LeaseDuration: time.Minute})
		Expect(err).NotTo(HaveOccurred())
		// Wait until the controller has judged the grant: a status write,
		// if it made one, would have landed by then.
		Eventually(func() float64 { return testutil.ToFloat64(defaultMetrics.acquisitions) }, timeout, interval).
			Should(BeNumerically(">", acquisitions))
		counter.take()

		const renewals = 5
		for i := range renewals {
			renewalsSeen := testutil.ToFloat64(defaultMetrics.renewals)
			l, err = holder.Renew(ctx, &backends.RenewRequest{Key: l.Key, Holder: "worker-1", Version: l.Version, LeaseDuration: time.Minute})
			Expect(err).NotTo(HaveOccurred(), "renewal %d", i)
			Eventually(func() float64 { return testutil.ToFloat64(defaultMetrics.renewals) }, timeout, interval).
				Should(BeNumerically(">", renewalsSeen), "the controller saw renewal %d", i)
		}
		Expect(counter.take()).To(Equal(map[string]int{"PUT": renewals}), "one guarded update per renewal, no conflict, no read")
		Expect(statusWrites.count(name)).To(BeZero(), "no controller write for a grant or a renewal")

		By("releasing, then a version printed by one process used by another")
		Expect(holder.Release(ctx, &backends.ReleaseRequest{Key: l.Key, Holder: "worker-1", Version: l.Version})).To(Succeed())
		acquisitions = testutil.ToFloat64(defaultMetrics.acquisitions)
		l, err = holder.Acquire(ctx, &backends.AcquireRequest{Key: "renewed-often", Holder: "script", LeaseDuration: time.Minute})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() float64 { return testutil.ToFloat64(defaultMetrics.acquisitions) }, timeout, interval).
			Should(BeNumerically(">", acquisitions), "the controller saw the grant before the other process renews")
		other, _ := countedBackend(ns)
		renewed, err := other.Renew(ctx, &backends.RenewRequest{Key: l.Key, Holder: "script", Version: l.Version, LeaseDuration: time.Minute})
		Expect(err).NotTo(HaveOccurred(), "renew from another process with the printed version")
		Expect(other.Release(ctx, &backends.ReleaseRequest{Key: l.Key, Holder: "script", Version: renewed.Version})).To(Succeed())
		Expect(statusWrites.count(name)).To(BeZero())
	})

	It("refuses the version once someone else wrote the lock, with the controller running", func() {
		name := createFree("guarded")
		holder, _ := countedBackend(ns)
		l, err := holder.Acquire(ctx, &backends.AcquireRequest{Key: "guarded", Holder: "worker-1", LeaseDuration: time.Minute})
		Expect(err).NotTo(HaveOccurred())
		writeSpec(name, func(s *locksv1alpha1.DistributedLockSpec) { s.Metadata = map[string]string{"by": "hand"} })
		fresh, _ := countedBackend(ns)
		for _, b := range []*kubernetes.Backend{holder, fresh} {
			_, err := b.Renew(ctx, &backends.RenewRequest{Key: l.Key, Holder: "worker-1", Version: l.Version, LeaseDuration: time.Minute})
			Expect(err).To(MatchError(backends.ErrVersionMismatch))
		}
	})
})
