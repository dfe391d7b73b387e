package lockmanager

import (
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Bounds of the lock contract. Values outside them are ErrInvalidArgument,
// never clamped.
const (
	MaxKeyBytes        = 256
	MaxHolderBytes     = 256
	MaxVersionBytes    = 256
	MinLeaseDuration   = time.Second
	MaxLeaseDuration   = 24 * time.Hour
	MaxWait            = 24 * time.Hour
	MinRefreshPeriod   = 10 * time.Millisecond
	MaxMetadataEntries = 64
	// MaxMetadataBytes bounds the sum of the lengths of all metadata keys
	// and values.
	MaxMetadataBytes = 16 << 10
	DefaultPageSize  = 100
	MaxPageSize      = 1000
)

// AcquireOptions asks for a lease.
type AcquireOptions struct {
	// Key names the lock: 1 to 256 bytes of UTF-8 without control
	// characters. Any such key works on every backend.
	Key string
	// Holder identifies who asks: 1 to 256 bytes of UTF-8 without control
	// characters. Use something unique per process (host name plus process
	// ID, pod name).
	Holder string
	// LeaseDuration is how long the grant lasts unless renewed: 1 s to 24 h,
	// in whole milliseconds.
	LeaseDuration time.Duration
	// Wait is how long to keep trying while another holder has the lock: 0
	// (the default) fails at once with ErrLockHeld; at most 24 h.
	Wait time.Duration
	// RefreshPeriod is the poll period while waiting (when the backend sends
	// no change notification) and a Session's renewal period. Zero means
	// LeaseDuration / 3; otherwise at least 10 ms and less than
	// LeaseDuration.
	RefreshPeriod time.Duration
	// Metadata is stored with the grant and replaces whatever the record
	// had. At most 64 entries and 16 KiB of keys and values in all; keys
	// are non-empty UTF-8 without control characters, values any UTF-8
	// without NUL. On a re-acquire by the current holder, nil keeps the
	// current metadata.
	Metadata map[string]string
}

// RenewOptions asks to extend a lease.
type RenewOptions struct {
	Key    string
	Holder string
	// Version is the version of the last successful acquire or renew.
	Version string
	// LeaseDuration is the new lease, counted from now (1 s to 24 h).
	LeaseDuration time.Duration
	// Metadata, when not nil, replaces the record's metadata (same bounds
	// as AcquireOptions.Metadata).
	Metadata map[string]string
}

// ReleaseOptions asks to give a lease up.
type ReleaseOptions struct {
	Key     string
	Holder  string
	Version string
	// Delete removes the record; otherwise it stays, free. Fencing tokens
	// keep increasing either way.
	Delete bool
}

// ListOptions selects a page of records.
type ListOptions struct {
	// Prefix selects keys starting with it (at most 256 bytes).
	Prefix string
	// PageSize is 0 (meaning 100) or 1 to 1000.
	PageSize int
	// PageToken is the previous page's NextPageToken.
	PageToken string
}

func (o *AcquireOptions) validate() error {
	if err := validateName("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := validateName("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	if err := validateLease("LeaseDuration", o.LeaseDuration); err != nil {
		return err
	}
	if o.Wait < 0 || o.Wait > MaxWait {
		return backends.InvalidArgument("Wait", "must be between 0 and %s, got %s", MaxWait, o.Wait)
	}
	if o.RefreshPeriod != 0 && (o.RefreshPeriod < MinRefreshPeriod || o.RefreshPeriod >= o.LeaseDuration) {
		return backends.InvalidArgument("RefreshPeriod", "must be 0 (LeaseDuration/3) or at least %s and less than LeaseDuration (%s), got %s", MinRefreshPeriod, o.LeaseDuration, o.RefreshPeriod)
	}
	return validateMetadata(o.Metadata)
}

// refreshPeriod returns the effective refresh period of valid options.
func (o *AcquireOptions) refreshPeriod() time.Duration {
	if o.RefreshPeriod != 0 {
		return o.RefreshPeriod
	}
	return max(o.LeaseDuration/3, MinRefreshPeriod)
}

func (o *RenewOptions) validate() error {
	if err := validateName("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := validateName("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	if err := validateName("Version", o.Version, MaxVersionBytes); err != nil {
		return err
	}
	if err := validateLease("LeaseDuration", o.LeaseDuration); err != nil {
		return err
	}
	return validateMetadata(o.Metadata)
}

func (o *ReleaseOptions) validate() error {
	if err := validateName("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := validateName("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	return validateName("Version", o.Version, MaxVersionBytes)
}

func (o *ListOptions) validate() error {
	if o.Prefix != "" {
		if err := validateName("Prefix", o.Prefix, MaxKeyBytes); err != nil {
			return err
		}
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		return backends.InvalidArgument("PageSize", "must be 0 (meaning %d) or 1 to %d, got %d", DefaultPageSize, MaxPageSize, o.PageSize)
	}
	if len(o.PageToken) > 4*MaxKeyBytes {
		return backends.InvalidArgument("PageToken", "is not a token returned by List")
	}
	return nil
}

// ValidateKey reports whether key is a valid lock key, with an
// ErrInvalidArgument naming the rule it breaks.
func ValidateKey(key string) error { return validateName("Key", key, MaxKeyBytes) }

// validateName checks the rule shared by keys, holders and versions: 1 to
// maxBytes bytes of UTF-8 without control characters.
func validateName(field, s string, maxBytes int) error {
	switch {
	case s == "":
		return backends.InvalidArgument(field, "must not be empty")
	case len(s) > maxBytes:
		return backends.InvalidArgument(field, "must be at most %d bytes, got %d", maxBytes, len(s))
	case !utf8.ValidString(s):
		return backends.InvalidArgument(field, "must be valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return backends.InvalidArgument(field, "must not contain control characters (found %U at byte %d)", r, i)
		}
	}
	return nil
}

func validateLease(field string, d time.Duration) error {
	if d < MinLeaseDuration || d > MaxLeaseDuration {
		return backends.InvalidArgument(field, "must be between %s and %s, got %s", MinLeaseDuration, MaxLeaseDuration, d)
	}
	if d%time.Millisecond != 0 {
		return backends.InvalidArgument(field, "must be a whole number of milliseconds, got %s", d)
	}
	return nil
}

func validateMetadata(md map[string]string) error {
	if len(md) > MaxMetadataEntries {
		return backends.InvalidArgument("Metadata", "must have at most %d entries, got %d", MaxMetadataEntries, len(md))
	}
	total := 0
	for k, v := range md {
		total += len(k) + len(v)
		if k == "" {
			return backends.InvalidArgument("Metadata", "keys must not be empty")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return backends.InvalidArgument("Metadata", "keys and values must be valid UTF-8 (key %q)", k)
		}
		for _, r := range k {
			if unicode.IsControl(r) {
				return backends.InvalidArgument("Metadata", "keys must not contain control characters (key %q)", k)
			}
		}
		for i := 0; i < len(v); i++ {
			if v[i] == 0 {
				return backends.InvalidArgument("Metadata", "values must not contain NUL bytes (key %q)", k)
			}
		}
	}
	if total > MaxMetadataBytes {
		return backends.InvalidArgument("Metadata", "keys and values must total at most %d bytes, got %d", MaxMetadataBytes, total)
	}
	return nil
}
