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

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

const (
	// demoKey is the lock devcluster holds while it runs, so that `kubectl
	// get dlock` shows a lease being renewed next to the samples.
	demoKey = "dev:demo"
	// demoLease is short enough that the RENEWED column visibly moves.
	demoLease = 15 * time.Second
)

// holdDemo acquires demoKey in namespace default and keeps it renewed (a
// lock manager Session) until stop, which releases it.
func holdDemo(ctx context.Context, cfg *rest.Config) (stop func() error, err error) {
	b, err := kubernetes.NewForConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the Kubernetes backend: %w", err)
	}
	m := lockmanager.New(b)
	sess, err := lockmanager.Hold(context.WithoutCancel(ctx), m, lockmanager.AcquireOptions{
		Key:           demoKey,
		Holder:        fmt.Sprintf("devcluster:%d", os.Getpid()),
		LeaseDuration: demoLease,
		Metadata:      map[string]string{"purpose": "make dev keeps this lock renewed while it runs"},
	})
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("holding %s: %w", demoKey, err)
	}
	return func() error {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := sess.Release(rctx)
		_ = m.Close()
		if err != nil {
			return fmt.Errorf("releasing %s: %w", demoKey, err)
		}
		return nil
	}, nil
}
