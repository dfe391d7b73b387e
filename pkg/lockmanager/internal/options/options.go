package options

import (
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Bounds of the lock contract (lockmanager re-exports and documents them).
const (
	MaxKeyBytes        = 256
	MaxHolderBytes     = 256
	MaxVersionBytes    = 256
	MinLeaseDuration   = time.Second
	MaxLeaseDuration   = 24 * time.Hour
	MaxWait            = 24 * time.Hour
	WaitForever        = time.Duration(1<<63 - 1)
	MinRefreshPeriod   = 10 * time.Millisecond
	MaxMetadataEntries = 64
	MaxMetadataBytes   = 16 << 10
	DefaultPageSize    = 100
	MaxPageSize        = 1000
)

// Acquire has lockmanager.AcquireOptions' fields.
type Acquire struct {
	Key           string
	Holder        string
	LeaseDuration time.Duration
	Wait          time.Duration
	RefreshPeriod time.Duration
	PollPeriod    time.Duration
	Metadata      map[string]string
	HolderPod     *backends.PodRef
}

// Renew has lockmanager.RenewOptions' fields.
type Renew struct {
	Key           string
	Holder        string
	Version       string
	LeaseDuration time.Duration
	Metadata      map[string]string
}

// Release has lockmanager.ReleaseOptions' fields.
type Release struct {
	Key     string
	Holder  string
	Version string
	Delete  bool
}

// List has lockmanager.ListOptions' fields.
type List struct {
	Prefix    string
	PageSize  int
	PageToken string
}

// Validate returns nil if o is within the contract's bounds, else an
// ErrInvalidArgument naming the first field (in declaration order) that
// is not.
func (o *Acquire) Validate() error {
	if err := Name("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := Name("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	if err := Lease("LeaseDuration", o.LeaseDuration); err != nil {
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
	if err := Metadata(o.Metadata); err != nil {
		return err
	}
	return Pod(o.HolderPod, "HolderPod.Namespace", "HolderPod.Name", "HolderPod.UID")
}

// dns1123Label and dns1123Subdomain are Kubernetes' rules for namespace
// and Pod names.
var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// MaxPodUIDBytes bounds a Pod UID (the API's limit for holderPod.uid).
const MaxPodUIDBytes = 128

// Pod checks a Pod reference: a namespace that is a DNS-1123 label of at
// most 63 characters, a name that is a DNS-1123 subdomain of at most 253,
// and a UID of 1 to 128 bytes without control characters. nil is valid.
// Errors name the field (nsField, nameField or uidField) at fault.
func Pod(p *backends.PodRef, nsField, nameField, uidField string) error {
	if p == nil {
		return nil
	}
	if len(p.Namespace) > 63 || !dns1123Label.MatchString(p.Namespace) {
		return backends.InvalidArgument(nsField, "must be a DNS-1123 label of at most 63 characters, got %q", p.Namespace)
	}
	if len(p.Name) > 253 || !dns1123Subdomain.MatchString(p.Name) {
		return backends.InvalidArgument(nameField, "must be a DNS-1123 subdomain of at most 253 characters, got %q", p.Name)
	}
	return Name(uidField, p.UID, MaxPodUIDBytes)
}

// Validate checks a renewal's options as Acquire.Validate does.
func (o *Renew) Validate() error {
	if err := Name("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := Name("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	if err := Name("Version", o.Version, MaxVersionBytes); err != nil {
		return err
	}
	if err := Lease("LeaseDuration", o.LeaseDuration); err != nil {
		return err
	}
	return Metadata(o.Metadata)
}

// Validate checks a release's options as Acquire.Validate does.
func (o *Release) Validate() error {
	if err := Name("Key", o.Key, MaxKeyBytes); err != nil {
		return err
	}
	if err := Name("Holder", o.Holder, MaxHolderBytes); err != nil {
		return err
	}
	return Name("Version", o.Version, MaxVersionBytes)
}

// Validate checks a listing's options as Acquire.Validate does.
func (o *List) Validate() error {
	if o.Prefix != "" {
		if err := Name("Prefix", o.Prefix, MaxKeyBytes); err != nil {
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

// Name checks the rule shared by keys, holders and versions: 1 to
// maxBytes bytes of UTF-8 without control characters.
func Name(field, s string, maxBytes int) error {
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

// Lease checks a lease duration: MinLeaseDuration to MaxLeaseDuration, in
// whole milliseconds (what every backend stores).
func Lease(field string, d time.Duration) error {
	if d < MinLeaseDuration || d > MaxLeaseDuration {
		return backends.InvalidArgument(field, "must be between %s and %s, got %s", MinLeaseDuration, MaxLeaseDuration, d)
	}
	if d%time.Millisecond != 0 {
		return backends.InvalidArgument(field, "must be a whole number of milliseconds, got %s", d)
	}
	return nil
}

// Metadata checks a metadata map: at most MaxMetadataEntries entries and
// MaxMetadataBytes of keys and values in all; keys non-empty UTF-8
// without control characters, values UTF-8 without NUL. nil is valid.
func Metadata(md map[string]string) error {
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
