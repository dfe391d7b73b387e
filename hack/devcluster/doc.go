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

// Command devcluster is what `make dev` runs: a throwaway local control
// plane (etcd and kube-apiserver from the envtest binaries that `make
// setup-envtest` builds) with the DistributedLock CRD installed, the real
// manager binary running against it, and the samples applied. It writes an
// admin kubeconfig to a known path (bin/dev/kubeconfig by default), prints
// how to point kubectl at it, and then waits.
//
// SIGINT (Ctrl-C) or SIGTERM stops everything in order: the manager first
// (SIGTERM, so it shuts down as in a cluster), then kube-apiserver and etcd;
// envtest removes their temporary folders and devcluster removes the
// kubeconfig. It exits 0 after a clean stop. The control plane processes
// run in their own process groups, so a Ctrl-C in the terminal reaches
// devcluster alone and the order holds; if devcluster itself is killed
// with SIGKILL, the manager is killed with it (parent-death signal on
// Linux), but etcd and kube-apiserver are not: envtest cannot be asked for
// that.
//
// One devcluster per kubeconfig path: it takes an flock on
// KUBECONFIG.lock (which records its pid and the digest of the kubeconfig
// it wrote) and checks that the manager's metrics and probe addresses are
// free before it starts anything; otherwise it refuses to start and names
// what is taken. It never removes a file it did not write: a kubeconfig in
// its place that another program wrote stops it, one that a killed
// devcluster left is replaced, and on exit the kubeconfig is removed only
// if it is still the one it wrote.
//
// Nothing here judges leases: the manager does that on its own clock (see
// package controllers). The samples carry renewTimes in the past, so the
// manager reaps them at once, as it would in any cluster; so that a Held
// lock is there to look at, devcluster itself holds "dev:demo" in
// namespace default, renewed by a lock manager Session (15 s lease) until
// it stops, when it releases it.
//
// Usage (from the repository root):
//
//	devcluster --manager bin/manager [--assets bin/k8s/VERSION-linux-amd64]
//	           [--kubeconfig-out bin/dev/kubeconfig]
//	           [--metrics-bind-address 127.0.0.1:8080]
//	           [--health-probe-bind-address 127.0.0.1:8081]
package main
