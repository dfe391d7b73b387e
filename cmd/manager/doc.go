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

// Command manager runs the Leasehold controller manager: the controllers for
// DistributedLock objects, with health and readiness probes, Prometheus
// metrics and optional leader election, so that several replicas can run
// with one of them active.
//
// It holds no business logic: flags, the scheme and the manager are set up
// here, and the reconcilers live in package controllers.
//
// Usage:
//
//	manager [--metrics-bind-address=:8080] [--health-probe-bind-address=:8081]
//	        [--leader-elect] [--leader-election-namespace=NS]
//	        [--clock-skew-allowance=1s] [--reap-grace=0s]
//	        [--max-concurrent-reconciles=8] [--zap-* flags]
//
// It finds its cluster like kubectl: --kubeconfig, $KUBECONFIG, the in-cluster
// config, then ~/.kube/config.
package main
