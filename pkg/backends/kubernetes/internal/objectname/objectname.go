package objectname

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
	// maxPlain is the longest plain key: a DNS-1123 label.
	maxPlain = 63
)

// IsPlain reports whether key is its own object name: a DNS-1123 label (1
// to 63 lowercase ASCII letters, digits and '-', starting and ending with a
// letter or digit) that does not end like a derived name ('-' and 16 hex
// digits). Derived names always end that way, so the two sets never meet.
func IsPlain(key string) bool {
	if len(key) == 0 || len(key) > maxPlain || key[0] == '-' || key[len(key)-1] == '-' {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return !HasDerivedSuffix(key)
}

// HasDerivedSuffix reports whether name ends like a derived name: '-' and
// 16 lowercase hex digits.
func HasDerivedSuffix(name string) bool {
	n := len(name) - hashHexChars - 1
	if n < 0 || name[n] != '-' {
		return false
	}
	for i := n + 1; i < len(name); i++ {
		if c := name[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Of returns the object name of key; kubernetes.ObjectName documents the
// mapping. Names are persisted (they are how a lock's object is found), so
// the output for a given key must never change.
// Of returns key's object name (see kubernetes.ObjectName).
func Of(key string) string {
	if IsPlain(key) {
		return key
	}
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
