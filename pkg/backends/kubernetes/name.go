package kubernetes

import "github.com/leasehold/leasehold/pkg/backends/kubernetes/internal/objectname"

// ObjectName returns the name of the DistributedLock object that holds key.
//
// The mapping is deterministic and, up to SHA-256 collisions, injective:
// the name is a readable, sanitised prefix of the key (lowercase ASCII
// letters and digits; every other run of bytes becomes one '-'), then '-',
// then the first 16 hex digits of the SHA-256 of the exact key bytes. The
// hash is always appended, so keys that sanitise alike ("a/b", "a-b",
// "A/B") still get distinct names. Every result is a valid DNS-1123
// subdomain (and label) of at most 57 bytes, for any input string.
func ObjectName(key string) string { return objectname.Of(key) }
