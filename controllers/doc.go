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

// Package controllers holds the DistributedLock controller: it watches
// DistributedLock objects, sets their status (phase, expiry, conditions),
// requeues each held lock for the moment its lease expires, and reaps expired
// leases as each object's reapPolicy says (clear the holder, or delete).
//
// The RBAC the controller needs is declared once, in rbac.go, from which
// `make manifests` generates config/rbac/role.yaml.
//
// The envtest suite in this package also checks the API's validation: that
// the API server accepts the samples in config/samples and rejects objects
// that break the lock contract with the CRD's messages.
package controllers
