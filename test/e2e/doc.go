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

// Package e2e holds the end-to-end specs: an operator's view of Leasehold.
// They run the real manager binary and the real kubectl against a real API
// server and check what an operator would: the samples apply, kubectl get
// dlock shows the lock columns, a lease taken through the Go client
// (lockmanager over the Kubernetes backend) shows up, expired leases are
// reaped by the running manager (Release and Delete), invalid locks are
// refused with the CRD's message, the metrics endpoint serves the lock
// metrics, a manager killed with SIGKILL and started again loses nothing
// and reaps what expired meanwhile, and of two managers with leader
// election only the leader reaps. The metrics endpoint answers a token that
// leasehold-metrics-reader allows (200), no token (401) and another token
// (403); lockctl takes a lock as a ServiceAccount bound to
// leasehold-lock-editor and is refused, with the verb and resource named,
// as one bound to leasehold-lock-viewer.
//
// By default (make test-e2e) the suite starts its own control plane from
// the envtest binaries (make setup-envtest), applies config/default with
// kubectl apply -k (its Deployment stays without pods: there are no nodes),
// builds cmd/manager with go build and runs it as a process on loopback
// ports, with a token of the Deployment's ServiceAccount, so that it has
// config/rbac's rights and no more. With E2E_KIND=1 (make test-e2e-kind) it uses
// the cluster of the current kubeconfig and the manager that make deploy
// installed in leasehold-system (two replicas with leader election): it
// reads metrics through kubectl port-forward, kills the manager with
// kubectl delete pod --force, and reads logs with kubectl logs.
//
// Expiry is the manager's judgement on its own clock (see package
// controllers); the specs only wait, with named timeouts, for what an
// operator would see. On a failed spec the suite prints the managers' logs
// and kubectl get dlock -A -o yaml.
package e2e
