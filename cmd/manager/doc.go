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

// Command manager runs the Leasehold controller manager: the controller for
// DistributedLock objects (status, expiry, reaping), with health and
// readiness probes, Prometheus metrics and optional leader election, so that
// several replicas can run with exactly one of them reaping.
//
// It holds no business logic: options.go parses and checks the flags and
// builds the controller-runtime options, main.go wires them up, and the
// reconciler lives in package controllers.
//
// Usage:
//
//	manager [--kubeconfig=FILE]
//	        [--metrics-bind-address=:8443] [--metrics-secure=true] [--metrics-cert-dir=DIR]
//	        [--health-probe-bind-address=:8081]
//	        [--leader-elect] [--leader-election-namespace=NS]
//	        [--namespaces=a,b]
//	        [--clock-skew-allowance=1s] [--reap-grace=0s]
//	        [--max-concurrent-reconciles=8] [--zap-* flags]
//
// It finds its cluster like kubectl: --kubeconfig, $KUBECONFIG, the in-cluster
// config, then ~/.kube/config.
//
// Metrics (controller-runtime's registry: the leasehold_distributedlock*
// series, controller-runtime's and client-go's) are served on
// --metrics-bind-address at /metrics. By default (--metrics-secure) they are
// served over HTTPS (certificate from --metrics-cert-dir, else self-signed)
// and only to scrapers that authenticate with a bearer token the API server
// accepts (TokenReview) and that may get the non-resource URL /metrics
// (SubjectAccessReview): bind config/rbac's metrics-reader ClusterRole to
// the scraper; no token is 401, a token without that right is 403. The
// manager's own ServiceAccount needs create on tokenreviews and
// subjectaccessreviews for this (config/rbac/metrics_auth_role.yaml).
// --metrics-secure=false serves plain HTTP to anyone, for local runs (make
// run, make dev).
//
// /healthz answers once the process runs; /readyz once the informer caches
// have synced.
//
// With --leader-elect, replicas compete for the coordination.k8s.io Lease
// "leasehold.locks.leasehold.dev" in the manager's own namespace (in a
// cluster) or in --leader-election-namespace; only the leader runs the
// controller, so only one replica reaps. The leader releases the Lease when
// it stops (SIGTERM, SIGINT), so a standby takes over at once.
//
// --namespaces restricts the manager to the DistributedLocks of those
// namespaces (the cache's DefaultNamespaces); it watches all namespaces by
// default. Bad flags exit with status 2 and a message naming the flag.
package main
