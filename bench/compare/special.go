package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// sessionFailover is failover for Leasehold: a Session holds the key
// through a backend wrapped in backendtest.Faulty; the crash is Set(Hang),
// after which no call of the holder reaches the store and nothing is
// released. Another Session, on a backend of its own, waits for the key
// (Wait > 0). It returns the time from the holder's last successful
// renewal (RenewedAt, written by the store's clock on this machine) to the
// waiter's grant.
func sessionFailover(ctx context.Context, open func(context.Context) (backends.Backend, error), key string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hb, err := open(ctx)
	if err != nil {
		return 0, err
	}
	faulty := backendtest.NewFaulty(hb)
	hm := lockmanager.New(faulty)
	defer hm.Close()
	wb, err := open(ctx)
	if err != nil {
		return 0, err
	}
	wm := lockmanager.New(wb)
	defer wm.Close()

	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	holder, err := lockmanager.Hold(hctx, hm, lockmanager.AcquireOptions{
		Key: key, Holder: "holder-a", LeaseDuration: failoverLease, RefreshPeriod: failoverRefresh,
	})
	if err != nil {
		return 0, fmt.Errorf("holder: %w", err)
	}
	granted := make(chan time.Time, 1)
	go func() {
		s, err := lockmanager.Hold(ctx, wm, lockmanager.AcquireOptions{
			Key: key, Holder: "holder-b", LeaseDuration: failoverLease, RefreshPeriod: failoverRefresh, Wait: 30 * time.Second,
		})
		if err != nil {
			close(granted)
			return
		}
		granted <- time.Now()
		_ = s.Release(context.WithoutCancel(ctx))
	}()
	sleep(ctx, 3*failoverRefresh+failoverRefresh/2)
	faulty.Set(backendtest.Hang)
	at, ok := <-granted
	if !ok {
		return 0, errors.New("the waiter was never granted the lock")
	}
	return at.Sub(holder.Lock().RenewedAt), nil
}

// electionFailover is failover for client-go's leader election with a
// Lease: candidate a leads, b campaigns, a's context is cancelled with
// ReleaseOnCancel false (it stops renewing and releases nothing). It
// returns the time from a's last renewal (the Lease's renewTime) to b's
// OnStartedLeading.
func electionFailover(ctx context.Context, cs kubernetes.Interface, ns, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	elector := func(id string, release bool, started chan<- time.Time) (*leaderelection.LeaderElector, error) {
		return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: name},
				Client:     cs.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: id},
			},
			LeaseDuration:   failoverLease,
			RenewDeadline:   failoverLease * 3 / 4,
			RetryPeriod:     leaseRetry,
			ReleaseOnCancel: release,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) { started <- time.Now() },
				OnStoppedLeading: func() {},
			},
		})
	}
	aStarted, bStarted := make(chan time.Time, 1), make(chan time.Time, 1)
	a, err := elector("holder-a", false, aStarted)
	if err != nil {
		return 0, err
	}
	b, err := elector("holder-b", true, bStarted)
	if err != nil {
		return 0, err
	}
	actx, acancel := context.WithCancel(ctx)
	aDone := make(chan struct{})
	go func() { a.Run(actx); close(aDone) }()
	select {
	case <-aStarted:
	case <-ctx.Done():
		acancel()
		return 0, errors.New("candidate a never led")
	}
	bctx, bcancel := context.WithCancel(ctx)
	bDone := make(chan struct{})
	go func() { b.Run(bctx); close(bDone) }()
	defer func() { bcancel(); <-bDone }()
	sleep(ctx, 3*failoverRefresh+failoverRefresh/2)
	acancel()
	<-aDone
	lease, err := cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "holder-a" || lease.Spec.RenewTime == nil {
		return 0, errors.New("b took over before a's last renewal could be read")
	}
	last := lease.Spec.RenewTime.Time
	select {
	case at := <-bStarted:
		return at.Sub(last), nil
	case <-ctx.Done():
		return 0, errors.New("candidate b never led")
	}
}
