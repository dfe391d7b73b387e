// Package backendtest is the conformance suite that every Leasehold backend
// runs: one named subtest per rule of the lock contract (pkg/backends and
// docs/contract.md), driven through lockmanager.Manager exactly as users
// drive it and, for what direct callers of the contract see (context
// errors, Close), through the Backend itself; plus the heartbeat Session's
// behaviour under an unavailable backend, when it is given up mid-renewal,
// and (for backends that notify) when its lock is taken from it.
//
// A backend plugs in with a few lines in its own _test.go:
//
//	func TestConformance(t *testing.T) {
//		backendtest.RunConformanceTests(t, backendtest.Harness{
//			Open: func(t *testing.T, namespace string) backends.Backend {
//				return store.Backend(namespace)
//			},
//		})
//	}
//
// The suite uses real time (leases of one second, the contract's minimum)
// and runs the subtests that wait for expiry in parallel.
package backendtest
