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
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// The manager's requests and the Events share one bucket: an Event waits
// while the manager's own requests have taken every token, and gets one
// when the bucket has tokens to spare.
func TestShareRateLimitEventsTakeLeftovers(t *testing.T) {
	// A bucket that refills far slower than the test runs.
	cfg := &rest.Config{QPS: 0.001, Burst: 1}
	events := ShareRateLimit(cfg)
	if cfg.RateLimiter == nil {
		t.Fatal("ShareRateLimit left cfg.RateLimiter unset: every client would get a bucket of its own")
	}
	if !cfg.RateLimiter.TryAccept() {
		t.Fatal("a fresh bucket refused the manager's first request")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := events.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an Event got a token the manager had taken: Wait = %v", err)
	}

	cfg = &rest.Config{QPS: 0.001, Burst: 1}
	events = ShareRateLimit(cfg)
	if err := events.Wait(context.Background()); err != nil {
		t.Fatalf("an Event waited although the bucket was full: %v", err)
	}
	if cfg.RateLimiter.TryAccept() {
		t.Fatal("the Event's token did not come from the shared bucket")
	}
}

// A limiter set already is the one shared.
func TestShareRateLimitKeepsAGivenLimiter(t *testing.T) {
	never := flowcontrol.NewFakeNeverRateLimiter()
	cfg := &rest.Config{QPS: 5, Burst: 10, RateLimiter: never}
	events := ShareRateLimit(cfg)
	if cfg.RateLimiter != never {
		t.Fatal("ShareRateLimit replaced the limiter it was given")
	}
	if events.TryAccept() {
		t.Fatal("an Event got a token from a limiter that never gives one")
	}
}
