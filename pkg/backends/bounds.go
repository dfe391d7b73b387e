package backends

import (
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds of the lock contract: what every backend stores, and what a
// request outside them gets (ErrInvalidArgument, never a clamp). This is
// their one definition; lockmanager re-exports them, and the
// DistributedLock API's schema markers are checked against them by a test.
const (
	MaxKeyBytes        = 256             // a key, in bytes of UTF-8
	MaxHolderBytes     = 256             // a holder identity, likewise
	MaxVersionBytes    = 256             // a version, likewise
	MinLeaseDuration   = time.Second     // the shortest lease
	MaxLeaseDuration   = 24 * time.Hour  // the longest lease
	MaxMetadataEntries = 64              // metadata entries of one record
	MaxMetadataBytes   = 16 << 10        // metadata keys and values, summed
	DefaultPageSize    = 100             // List's page size when 0 is asked
	MaxPageSize        = 1000            // List's largest page
	maxPageTokenBytes  = 4 * MaxKeyBytes // longer is no token List returned
)

// ValidateName checks the rule shared by keys, holders and versions: 1 to
// maxBytes bytes of UTF-8 without control characters. The error names
// field.
func ValidateName(field, s string, maxBytes int) error {
	switch {
	case s == "":
		return InvalidArgument(field, "must not be empty")
	case len(s) > maxBytes:
		return InvalidArgument(field, "must be at most %d bytes, got %d", maxBytes, len(s))
	case !utf8.ValidString(s):
		return InvalidArgument(field, "must be valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return InvalidArgument(field, "must not contain control characters (found %U at byte %d)", r, i)
		}
	}
	return nil
}

// ValidateLease checks a lease duration: MinLeaseDuration to
// MaxLeaseDuration, in whole milliseconds (what every backend stores).
func ValidateLease(field string, d time.Duration) error {
	if d < MinLeaseDuration || d > MaxLeaseDuration {
		return InvalidArgument(field, "must be between %s and %s, got %s", MinLeaseDuration, MaxLeaseDuration, d)
	}
	if d%time.Millisecond != 0 {
		return InvalidArgument(field, "must be a whole number of milliseconds, got %s", d)
	}
	return nil
}

// ValidateMetadata checks a metadata map: at most MaxMetadataEntries
// entries and MaxMetadataBytes of keys and values in all; keys non-empty
// UTF-8 without control characters, values UTF-8 without NUL. nil is
// valid.
func ValidateMetadata(md map[string]string) error {
	if len(md) > MaxMetadataEntries {
		return InvalidArgument("Metadata", "must have at most %d entries, got %d", MaxMetadataEntries, len(md))
	}
	total := 0
	for k, v := range md {
		total += len(k) + len(v)
		if k == "" {
			return InvalidArgument("Metadata", "keys must not be empty")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return InvalidArgument("Metadata", "keys and values must be valid UTF-8 (key %q)", k)
		}
		for _, r := range k {
			if unicode.IsControl(r) {
				return InvalidArgument("Metadata", "keys must not contain control characters (key %q)", k)
			}
		}
		for i := 0; i < len(v); i++ {
			if v[i] == 0 {
				return InvalidArgument("Metadata", "values must not contain NUL bytes (key %q)", k)
			}
		}
	}
	if total > MaxMetadataBytes {
		return InvalidArgument("Metadata", "keys and values must total at most %d bytes, got %d", MaxMetadataBytes, total)
	}
	return nil
}

// ValidatePage checks a listing's page size and token.
func ValidatePage(pageSize int, pageToken string) error {
	if pageSize < 0 || pageSize > MaxPageSize {
		return InvalidArgument("PageSize", "must be 0 (meaning %d) or 1 to %d, got %d", DefaultPageSize, MaxPageSize, pageSize)
	}
	if len(pageToken) > maxPageTokenBytes {
		return InvalidArgument("PageToken", "is not a token returned by List")
	}
	return nil
}

// dns1123Label and dns1123Subdomain are Kubernetes' rules for namespace
// and Pod names.
var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// MaxPodUIDBytes bounds a Pod UID (the API's limit for holderPod.uid).
const MaxPodUIDBytes = 128

// ValidatePod checks a Pod reference: a namespace that is a DNS-1123 label
// of at most 63 characters, a name that is a DNS-1123 subdomain of at most
// 253, and a UID of 1 to MaxPodUIDBytes bytes without control characters.
// nil is valid. Errors name the field (nsField, nameField or uidField) at
// fault.
func ValidatePod(p *PodRef, nsField, nameField, uidField string) error {
	if p == nil {
		return nil
	}
	if len(p.Namespace) > 63 || !dns1123Label.MatchString(p.Namespace) {
		return InvalidArgument(nsField, "must be a DNS-1123 label of at most 63 characters, got %q", p.Namespace)
	}
	if len(p.Name) > 253 || !dns1123Subdomain.MatchString(p.Name) {
		return InvalidArgument(nameField, "must be a DNS-1123 subdomain of at most 253 characters, got %q", p.Name)
	}
	return ValidateName(uidField, p.UID, MaxPodUIDBytes)
}
