package kubernetes

import (
	"strconv"
	"sync"
	"time"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

// observation is what this client last saw of one key: the object at one
// resourceVersion, and when (on this client's clock, with its monotonic
// reading) it first saw that lock state (see LeaseVersion).
type observation struct {
	obj    *locksv1alpha1.DistributedLock
	seenAt time.Time
}

// matches reports whether version names o's lock state.
func (o observation) matches(version string) bool {
	return LeaseVersion(o.obj) == version
}

// LeaseVersion is the Version of the record obj holds: its lock state's
// identity, "GENERATION.UID" (see lease.Identity).
func LeaseVersion(obj *locksv1alpha1.DistributedLock) string {
	return lease.IdentityOf(obj).Version()
}

// observations is the client-side table that serves two purposes:
//
//   - the expiry rule's first sightings (see package lease): when this
//     client first saw each key's current lock state;
//   - the write fast path: an Update must carry the whole spec, so renew,
//     release and acquire build the next object from the last one this
//     client wrote or read, provided its resourceVersion is the one the
//     caller presents (for acquire: the one the object still has, which the
//     guarded update itself checks).
//
// It is bounded: entries exist only for keys this client looked at, are
// dropped when the object is deleted, and at most max are kept (an
// arbitrary one is evicted beyond that). Forgetting is always safe: the
// next operation on the key reads the object again, and a later first
// sighting only delays this client's judgement of expiry.
type observations struct {
	mu      sync.Mutex
	max     int
	entries map[string]observation // by key
}

func newObservations(max int) *observations {
	return &observations{max: max, entries: map[string]observation{}}
}

// get returns the last object seen for key, and when its resourceVersion
// was first seen. The object is shared: callers must not modify it.
func (o *observations) get(key string) (observation, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.entries[key]
	return e, ok
}

// observe records obj, seen at now. The same lock state (lease.Identity)
// keeps its first sighting, even when a status write moved its
// resourceVersion on. An older resourceVersion than the one recorded (a
// watch event arriving after this client's own write) is not recorded, so
// that the table never moves backwards. It returns the entry now in force
// for obj.
func (o *observations) observe(obj *locksv1alpha1.DistributedLock, now time.Time) observation {
	// The next guarded update is built from this copy. Without
	// managedFields it is about half the size, and the API server keeps
	// the object's managedFields when an update leaves them out.
	obj.ManagedFields = nil
	key := obj.Spec.Key
	o.mu.Lock()
	defer o.mu.Unlock()
	if e, ok := o.entries[key]; ok {
		switch {
		case e.obj.ResourceVersion == obj.ResourceVersion:
			return e
		case older(obj.ResourceVersion, e.obj.ResourceVersion):
			return observation{obj: obj, seenAt: now}
		case sameSpec(e.obj, obj):
			e.obj = obj
			o.entries[key] = e
			return e
		}
	} else if len(o.entries) >= o.max {
		for k := range o.entries {
			delete(o.entries, k)
			break
		}
	}
	e := observation{obj: obj, seenAt: now}
	o.entries[key] = e
	return e
}

// sameSpec reports whether a and b are the same incarnation of the object
// with the same spec.
func sameSpec(a, b *locksv1alpha1.DistributedLock) bool {
	return a.UID != "" && a.Generation != 0 && lease.IdentityOf(a) == lease.IdentityOf(b)
}

// forget drops key's entry unless it records a newer resourceVersion than
// rv (the resourceVersion that was deleted or found absent; "" drops it
// unconditionally).
func (o *observations) forget(key, rv string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e, ok := o.entries[key]; ok && (rv == "" || !older(rv, e.obj.ResourceVersion)) {
		delete(o.entries, key)
	}
}

// older reports whether resourceVersion a is known to be older than b.
// resourceVersions are compared as numbers only where both parse (true of
// every etcd-backed API server); otherwise nothing is known.
func older(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}
