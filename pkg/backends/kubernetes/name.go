package kubernetes

import "github.com/leasehold/leasehold/pkg/backends/kubernetes/internal/objectname"

// ObjectName returns the name of the DistributedLock object that holds key.
//
// A plain key, one that is itself a valid object name (a DNS-1123 label: 1
// to 63 lowercase ASCII letters, digits and '-', starting and ending with a
// letter or digit) and does not end in '-' and 16 hex digits, is its own
// name: a lock a person writes by hand as "db-migration" with key
// "db-migration" is the lock clients use for that key, and the API server
// refuses any other name for it. Every other key gets a derived name: a
// readable, sanitised prefix of the key (lowercase ASCII letters and
// digits; every other run of bytes becomes one '-'), then '-', then the
// first 16 hex digits of the SHA-256 of the exact key bytes, a valid
// DNS-1123 label of at most 57 bytes. Derived names always end in '-' and
// 16 hex digits and plain keys never do, so the mapping is injective up to
// SHA-256 collisions, and keys that sanitise alike ("a/b", "a-b", "A/B")
// get distinct names. The API server checks that an object of a derived
// name has that shape; the controller checks the digits, and marks an
// object under any other name Invalid with the name to use.
func ObjectName(key string) string { return objectname.Of(key) }
