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
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// ShareRateLimit makes cfg.QPS and cfg.Burst one budget for every request
// the manager sends, with the reaps first and the Events after them:
//
//   - it sets cfg.RateLimiter to one token bucket of cfg.QPS and
//     cfg.Burst, which every client built from cfg shares (client-go
//     otherwise gives each REST client, one per resource, a bucket of its
//     own, and controller-runtime's Event recorder another one, so the
//     manager could send several times the QPS it was given);
//   - it returns a limiter for NewEventRecorder that takes a token from
//     that bucket only when one is free: while reconciles wait for tokens
//     (a burst of expiries), Events wait, and are sent once the reaps are
//     done. Every Event is still sent, with the time it was recorded.
//
// Why: each reap is followed by its Event, and both are writes the API
// server must commit. In a burst of expiries, Events sent as fast as reaps
// take half of what the server can commit, and the reaps, which free the
// locks, go only as fast as the server commits two writes each.
//
// cfg.QPS must be positive; with cfg.RateLimiter already set, ShareRateLimit
// uses it.
func ShareRateLimit(cfg *rest.Config) flowcontrol.RateLimiter {
	if cfg.RateLimiter == nil {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	return &leftoverLimiter{shared: cfg.RateLimiter, poll: time.Duration(float64(time.Second) / float64(cfg.RateLimiter.QPS()))}
}

// leftoverLimiter takes tokens from shared only when no one waits for them:
// its Wait polls TryAccept once per token interval, one waiter at a time, so
// that any number of queued Events cost one sleeping goroutine's polling.
type leftoverLimiter struct {
	shared flowcontrol.RateLimiter
	poll   time.Duration
	mu     sync.Mutex
}

// TryAccept implements flowcontrol.RateLimiter.
func (l *leftoverLimiter) TryAccept() bool { return l.shared.TryAccept() }

// Accept implements flowcontrol.RateLimiter.
func (l *leftoverLimiter) Accept() { _ = l.Wait(context.Background()) }

// Stop implements flowcontrol.RateLimiter; the shared bucket is not ours to stop.
func (l *leftoverLimiter) Stop() {}

// QPS implements flowcontrol.RateLimiter.
func (l *leftoverLimiter) QPS() float32 { return l.shared.QPS() }

// Wait implements flowcontrol.RateLimiter.
func (l *leftoverLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.shared.TryAccept() {
		t := time.NewTimer(l.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// NewEventRecorder returns the controller's Event recorder (events.k8s.io,
// as the manager's own recorder), whose writes are limited by limiter
// (ShareRateLimit's) instead of cfg's, and adds to mgr what stops it when
// mgr stops. Events recorded are sent in the background; none is dropped
// for waiting.
func NewEventRecorder(mgr manager.Manager, cfg *rest.Config, scheme *runtime.Scheme, limiter flowcontrol.RateLimiter) (events.EventRecorder, error) {
	evCfg := rest.CopyConfig(cfg)
	evCfg.RateLimiter = limiter
	cl, err := eventsv1client.NewForConfigAndClient(evCfg, mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("creating the Events client: %w", err)
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cl})
	ctx, cancel := context.WithCancel(context.Background())
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("starting the Event recorder: %w", err)
	}
	if err := mgr.Add(stopOnDone(func() { cancel(); broadcaster.Shutdown() })); err != nil {
		cancel()
		broadcaster.Shutdown()
		return nil, err
	}
	return broadcaster.NewRecorder(scheme, ControllerName), nil
}

// stopOnDone is a runnable that calls stop when the manager stops. It runs
// on every replica, leader or not.
type stopOnDone func()

// Start implements manager.Runnable.
func (s stopOnDone) Start(ctx context.Context) error {
	<-ctx.Done()
	s()
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (stopOnDone) NeedLeaderElection() bool { return false }
