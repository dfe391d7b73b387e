package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	// maxReadablePrefix bounds the readable part of an object name, so that
	// names stay short enough for kubectl columns and for label values
	// (63 bytes): prefix + "-" + hash is at most 40 + 1 + 16 = 57 bytes.
	maxReadablePrefix = 40
	// hashHexChars is how much of the key's SHA-256 a name carries: 64 bits,
	// so an accidental collision among a namespace's keys is vanishingly
	// unlikely, and one that happens is detected (spec.key is checked on
	// every read) rather than mixing two locks up.
	hashHexChars = 16
)

// ObjectName returns the name of the DistributedLock object that holds key.
//
// The mapping is deterministic and, up to SHA-256 collisions, injective:
// the name is a readable, sanitised prefix of the key (lowercase ASCII
// letters and digits; every other run of bytes becomes one '-'), then '-',
// then the first 16 hex digits of the SHA-256 of the exact key bytes. The
// hash is always appended, so keys that sanitise alike ("a/b", "a-b",
// "A/B") still get distinct names. Every result is a valid DNS-1123
// subdomain (and label) of at most 57 bytes, for any input string.
func ObjectName(key string) string {
	sum := sha256.Sum256([]byte(key))
	var b strings.Builder
	b.Grow(maxReadablePrefix + 1 + hashHexChars)
	dash := false // a '-' is pending: only emitted before the next alphanumeric
	for i := 0; i < len(key) && b.Len() < maxReadablePrefix; i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		default:
			dash = b.Len() > 0 // never a leading '-'
			continue
		}
		if dash {
			if b.Len()+2 > maxReadablePrefix {
				break
			}
			b.WriteByte('-')
			dash = false
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		// A key without any ASCII letter or digit: keep the name readable
		// as a lock rather than starting with the hash.
		b.WriteString("lock")
	}
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:])[:hashHexChars])
	return b.String()
}
