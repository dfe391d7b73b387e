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

// Command reap measures how long after expiry the DistributedLock controller
// reaps leases: it starts a local control plane (envtest), runs the
// controller in a manager, creates many held locks with spread expiries and
// reports the reap delay (from renewTime + leaseDurationSeconds to the
// reaping write) as median, percentiles and worst. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/controllers"
)

func main() {
	var (
		locks    = flag.Int("locks", 1000, "Number of held locks to create; try 10000 on a machine with time to spare.")
		writers  = flag.Int("writers", 8, "Clients creating the locks in parallel.")
		workers  = flag.Int("workers", 8, "The controller's MaxConcurrentReconciles (the manager's --max-concurrent-reconciles, default 8).")
		minLease = flag.Int("min-lease", 1,
			"The shortest lease, in seconds. Make it longer than creating the locks takes to measure the reaper alone.")
		spread = flag.Int("lease-spread", 3, "Leases last min-lease to min-lease + lease-spread - 1 seconds, so that expiries spread out.")
		assets = flag.String("assets", defaultAssets(),
			"Folder with kube-apiserver and etcd (make setup-envtest); $KUBEBUILDER_ASSETS wins when set.")
		crds     = flag.String("crds", filepath.Join("config", "crd", "bases"), "Folder with the DistributedLock CRD.")
		deadline = flag.Duration("timeout", 30*time.Minute, "Give up if the locks are not all reaped by then.")
	)
	flag.Parse()
	if *locks < 1 || *writers < 1 || *workers < 1 || *minLease < 1 || *spread < 1 {
		fmt.Fprintln(os.Stderr, "reap: -locks, -writers, -workers, -min-lease and -lease-spread must be at least 1")
		os.Exit(2)
	}
	if err := run(*locks, *writers, *workers, *minLease, *spread, *assets, *crds, *deadline); err != nil {
		fmt.Fprintln(os.Stderr, "reap:", err)
		os.Exit(1)
	}
}

func defaultAssets() string {
	return filepath.Join("bin", "k8s", "1.37.2-linux-amd64")
}

func run(n, writers, workers, minLease, spread int, assets, crds string, deadline time.Duration) error {
	// The controller's logs would cost more than the work measured.
	logf.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(locksv1alpha1.AddToScheme(scheme))

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane (run from the repository root after `make setup-envtest`): %w", err)
	}
	defer func() { _ = env.Stop() }()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	reaped := newReapClock(mgr.GetEventRecorder(controllers.ControllerName), n)
	r := &controllers.DistributedLockReconciler{
		Recorder:                reaped,
		Clock:                   clock.RealClock{},
		Rule:                    controllers.ExpiryRule{ClockSkewAllowance: controllers.DefaultClockSkewAllowance},
		MaxConcurrentReconciles: workers,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() {
		stopMgr()
		if err := <-mgrDone; err != nil {
			fmt.Fprintln(os.Stderr, "reap: manager:", err)
		}
	}()

	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating a namespace: %w", err)
	}

	// Held locks as a client's acquire creates them, renewTime = now.
	expiresAt := make([]time.Time, n)
	names := make([]types.NamespacedName, n)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				names[i] = types.NamespacedName{Namespace: ns.Name, Name: fmt.Sprintf("lock-%05d", i)}
				lease := time.Duration(minLease+i%spread) * time.Second
				policy := locksv1alpha1.ReapPolicyRelease
				if i%2 == 1 {
					policy = locksv1alpha1.ReapPolicyDelete
				}
				now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
				expiresAt[i] = now.Add(lease)
				err := c.Create(ctx, &locksv1alpha1.DistributedLock{
					ObjectMeta: metav1.ObjectMeta{Namespace: names[i].Namespace, Name: names[i].Name},
					Spec: locksv1alpha1.DistributedLockSpec{
						Key:                  "bench:" + names[i].Name,
						HolderIdentity:       fmt.Sprintf("worker-%d", i),
						LeaseDurationSeconds: ptr.To(int32(lease / time.Second)),
						AcquireTime:          &now,
						RenewTime:            &now,
						FencingToken:         int64(i + 1),
						ReapPolicy:           policy,
					},
				})
				if err != nil {
					errs <- fmt.Errorf("creating %s: %w", names[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(slices.Collect(chanValues(errs))...); err != nil {
		return err
	}
	created := time.Since(start)

	select {
	case <-reaped.all:
	case <-ctx.Done():
		return fmt.Errorf("%d of %d locks reaped before the timeout", reaped.count(), n)
	}
	allReaped := time.Since(start)

	delays := make([]time.Duration, n)
	for i, name := range names {
		at, times := reaped.at(name)
		if times != 1 {
			return fmt.Errorf("%s reaped %d times, want once", name, times)
		}
		delays[i] = at.Sub(expiresAt[i])
	}
	slices.Sort(delays)
	pct := func(p int) time.Duration { return delays[min(n-1, n*p/100)] }
	fmt.Printf("locks %d (leases %d-%d s, half Release, half Delete), writers %d, controller workers %d\n",
		n, minLease, minLease+spread-1, writers, workers)
	fmt.Printf("created in %s; all reaped %s after the first create\n", created.Round(time.Millisecond), allReaped.Round(time.Millisecond))
	fmt.Printf("reap delay after expiry: min %s, median %s, p90 %s, p99 %s, worst %s\n",
		delays[0].Round(time.Millisecond), pct(50).Round(time.Millisecond), pct(90).Round(time.Millisecond),
		pct(99).Round(time.Millisecond), delays[n-1].Round(time.Millisecond))
	return nil
}

func chanValues[T any](ch <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range ch {
			if !yield(v) {
				return
			}
		}
	}
}

// reapClock passes the controller's Events on and notes when each lock's
// Reaped event was recorded: right after the reaping write.
type reapClock struct {
	next events.EventRecorder
	want int
	all  chan struct{}

	mu    sync.Mutex
	first map[types.NamespacedName]time.Time
	times map[types.NamespacedName]int
}

func newReapClock(next events.EventRecorder, want int) *reapClock {
	return &reapClock{next: next, want: want, all: make(chan struct{}),
		first: make(map[types.NamespacedName]time.Time), times: make(map[types.NamespacedName]int)}
}

// Eventf implements events.EventRecorder.
func (r *reapClock) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if obj, ok := regarding.(client.Object); ok && reason == controllers.EventReasonReaped {
		now := time.Now()
		name := client.ObjectKeyFromObject(obj)
		r.mu.Lock()
		if r.times[name] == 0 {
			r.first[name] = now
		}
		r.times[name]++
		if len(r.first) == r.want && r.times[name] == 1 {
			close(r.all)
		}
		r.mu.Unlock()
	}
	r.next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (r *reapClock) at(name types.NamespacedName) (time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[name], r.times[name]
}

func (r *reapClock) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first)
}
