// Package objectname maps lock keys to DistributedLock object names (see
// kubernetes.ObjectName, which is the public API and documents the
// mapping).
//
// It is its own package, importing only the standard library, so that its
// fuzz target builds in seconds: fuzzing the kubernetes package would
// instrument client-go and controller-runtime (minutes on a cold build
// cache) and start a control plane in every fuzz worker.
package objectname
