package lockmanager

import (
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Bounds of the lock contract (defined in package backends). Values outside
// them are ErrInvalidArgument, never clamped.
const (
	MaxKeyBytes        = backends.MaxKeyBytes        // 256
	MaxHolderBytes     = backends.MaxHolderBytes     // 256
	MaxVersionBytes    = backends.MaxVersionBytes    // 256
	MinLeaseDuration   = backends.MinLeaseDuration   // 1 s
	MaxLeaseDuration   = backends.MaxLeaseDuration   // 24 h
	MaxMetadataEntries = backends.MaxMetadataEntries // 64
	// MaxMetadataBytes bounds the sum of the lengths of all metadata keys
	// and values.
	MaxMetadataBytes = backends.MaxMetadataBytes // 16 KiB
	DefaultPageSize  = backends.DefaultPageSize  // 100
	MaxPageSize      = backends.MaxPageSize      // 1000
)

// Bounds of the Manager's own options.
const (
	// MaxWait is the longest Wait short of WaitForever.
	MaxWait = 24 * time.Hour
	// WaitForever as AcquireOptions.Wait keeps waiting until the lock is
	// granted or the context ends.
	WaitForever = time.Duration(1<<63 - 1)
	// MinRefreshPeriod is the shortest RefreshPeriod and PollPeriod.
	MinRefreshPeriod = 10 * time.Millisecond
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
	// (the default) fails at once with ErrLockHeld; at most 24 h, or
	// WaitForever to wait until granted or the context ends.
	Wait time.Duration
	// RefreshPeriod is a Session's renewal period. Zero means
	// LeaseDuration / 3; otherwise at least 10 ms and less than
	// LeaseDuration.
	RefreshPeriod time.Duration
	// PollPeriod is how often a waiter tries again while it hears no change
	// notification (jittered by ±50%). Every backend notifies, so it is a
	// safety net for lost notifications, not the hand-off path. Zero means
	// the refresh period (LeaseDuration / 3 by default); otherwise 10 ms to
	// 24 h.
	PollPeriod time.Duration
	// Metadata is stored with the grant and replaces whatever the record
	// had. At most 64 entries and 16 KiB of keys and values in all; keys
	// are non-empty UTF-8 without control characters, values any UTF-8
	// without NUL. On a re-acquire by the current holder, nil keeps the
	// current metadata.
	Metadata map[string]string
	// HolderPod is the Kubernetes Pod the holder runs in. On the
	// Kubernetes backend a grant is bound to it when it is in the lock's
	// namespace, and the controller frees the lock as soon as the Pod is
	// gone instead of when the lease runs out; other backends ignore it.
	// Hold fills it from the environment when it is nil (see PodFromEnv).
	HolderPod *PodRef
}

// PodRef names the Kubernetes Pod a holder runs in.
type PodRef = backends.PodRef

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

// validate returns nil if o is within the contract's bounds, else an
// ErrInvalidArgument naming the first field (in declaration order) that
// is not.
func (o *AcquireOptions) validate() error {
	if err := backends.ValidateName("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := backends.ValidateName("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	if err := backends.ValidateLease("LeaseDuration", o.LeaseDuration); err != nil {
		return err
	}
	if o.Wait != WaitForever && (o.Wait < 0 || o.Wait > MaxWait) {
		return backends.InvalidArgument("Wait", "must be between 0 and %s, or WaitForever, got %s", MaxWait, o.Wait)
	}
	if o.RefreshPeriod != 0 && (o.RefreshPeriod < MinRefreshPeriod || o.RefreshPeriod >= o.LeaseDuration) {
		return backends.InvalidArgument("RefreshPeriod",
			"must be 0 (LeaseDuration/3) or at least %s and less than LeaseDuration (%s), got %s",
			MinRefreshPeriod, o.LeaseDuration, o.RefreshPeriod)
	}
	if o.PollPeriod != 0 && (o.PollPeriod < MinRefreshPeriod || o.PollPeriod > MaxWait) {
		return backends.InvalidArgument("PollPeriod",
			"must be 0 (the refresh period) or between %s and %s, got %s", MinRefreshPeriod, MaxWait, o.PollPeriod)
	}
	if err := backends.ValidateMetadata(o.Metadata); err != nil {
		return err
	}
	return backends.ValidatePod(o.HolderPod, "HolderPod.Namespace", "HolderPod.Name", "HolderPod.UID")
}

// validate checks a renewal's options as AcquireOptions.validate does.
func (o *RenewOptions) validate() error {
	if err := backends.ValidateName("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := backends.ValidateName("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	if err := backends.ValidateName("Version", o.Version, MaxVersionBytes); err != nil {
		return err
	}
	if err := backends.ValidateLease("LeaseDuration", o.LeaseDuration); err != nil {
		return err
	}
	return backends.ValidateMetadata(o.Metadata)
}

// validate checks a release's options as AcquireOptions.validate does.
func (o *ReleaseOptions) validate() error {
	if err := backends.ValidateName("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := backends.ValidateName("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	return backends.ValidateName("Version", o.Version, MaxVersionBytes)
}

// validate checks a listing's options as AcquireOptions.validate does.
func (o *ListOptions) validate() error {
	if o.Prefix != "" {
		if err := backends.ValidateName("Prefix", o.Prefix, MaxKeyBytes); err != nil {
			return err
		}
	}
	return backends.ValidatePage(o.PageSize, o.PageToken)
}

// pollPeriod returns the effective poll period of valid options.
func (o *AcquireOptions) pollPeriod() time.Duration {
	if o.PollPeriod != 0 {
		return o.PollPeriod
	}
	return o.refreshPeriod()
}

// refreshPeriod returns the effective refresh period of valid options.
func (o *AcquireOptions) refreshPeriod() time.Duration {
	if o.RefreshPeriod != 0 {
		return o.RefreshPeriod
	}
	return max(o.LeaseDuration/3, MinRefreshPeriod)
}

// ValidateKey reports whether key is a valid lock key, with an
// ErrInvalidArgument naming the rule it breaks.
func ValidateKey(key string) error { return backends.ValidateName("Key", key, MaxKeyBytes) }
