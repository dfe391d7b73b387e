package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/controllers"
)

// controllerWorkers is the reconciler's MaxConcurrentReconciles, the
// manager binary's default (--max-concurrent-reconciles).
const controllerWorkers = 8

// controllerCounts counts the controller's API requests, all and writes
// (every method but GET and HEAD: creates, updates, patches, deletes,
// Events included).
type controllerCounts struct {
	requests, writes atomic.Int64
}

type writeCountingTransport struct {
	next http.RoundTripper
	c    *controllerCounts
}

func (t writeCountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.requests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		t.c.writes.Add(1)
	}
	return t.next.RoundTrip(r)
}

// startController runs the DistributedLock reconciler as the manager
// binary does (real clock, default clock-skew allowance, 8 concurrent
// reconciles, no client-side rate limit) in a controller-runtime manager
// against restCfg, counting its requests. stop ends it and waits.
func startController(restCfg *rest.Config) (counts *controllerCounts, stop func(), err error) {
	counts = &controllerCounts{}
	c := rest.CopyConfig(restCfg)
	c.QPS, c.Burst = -1, 0
	c.RateLimiter = nil
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return writeCountingTransport{next: rt, c: counts} }
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(locksv1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(c, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	r := &controllers.DistributedLockReconciler{
		Clock:                   clock.RealClock{},
		Rule:                    controllers.ExpiryRule{ClockSkewAllowance: controllers.DefaultClockSkewAllowance},
		MaxConcurrentReconciles: controllerWorkers,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, nil, fmt.Errorf("setting up the controller: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Wait until its informer has synced, so that the figures that follow
	// are taken with the controller watching.
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	if _, err := mgr.GetCache().GetInformer(syncCtx, &locksv1alpha1.DistributedLock{}); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("the controller's cache did not sync: %w (manager: %v)",
			err, <-done) //nolint:errorlint // the manager's error is nil unless it failed too
	}
	return counts, func() {
		cancel()
		<-done //nolint:errcheck // stopped by cancel: nothing to report
	}, nil
}
