package leaderelection

import (
	"context"
	"maps"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// DefaultLeaseDuration is the lease used when Config.LeaseDuration is zero:
// the same as client-go's and controller-runtime's default.
const DefaultLeaseDuration = 15 * time.Second

// Config describes one candidate in one election.
type Config struct {
	// Manager is the lock service the election runs on (any backend).
	// +required
	Manager *lockmanager.Manager
	// Key names the election: every candidate of one election uses the same
	// key (and the same backend namespace).
	// +required
	Key string
	// Identity names this candidate. It must be unique among the
	// candidates (pod name, host name plus process ID): two candidates with
	// one identity would both believe they lead.
	// +required
	Identity string
	// LeaseDuration is how long leadership lasts without a renewal (1 s to
	// 24 h, whole milliseconds). A candidate whose leader stopped renewing
	// takes over once the store says the lease expired. Zero means
	// DefaultLeaseDuration.
	LeaseDuration time.Duration
	// RetryPeriod is how often the leader renews and how often a waiting
	// candidate retries (when the backend sends no change notification) and
	// reads who leads. Zero means LeaseDuration / 3. RetryPeriod +
	// SafetyMargin must be less than LeaseDuration.
	RetryPeriod time.Duration
	// SafetyMargin is how long before the lease's end, counted on this
	// process's clock from when it sent the last confirmed renewal, the
	// leader gives leadership up as possibly lost. Zero means
	// LeaseDuration / 10.
	SafetyMargin time.Duration
	// Metadata is stored with each grant (for example the leader's address),
	// within the lock contract's bounds.
	Metadata map[string]string
	// Callbacks are what the candidate does when leadership changes.
	Callbacks Callbacks
}

// Callbacks are called from Run, one at a time and in order: OnNewLeader
// (any number of times), then OnStartedLeading once, then OnStoppedLeading
// once after OnStartedLeading has returned.
type Callbacks struct {
	// OnStartedLeading runs, on its own goroutine, when this candidate
	// becomes the leader. ctx is cancelled the moment leadership may be
	// lost (the store refused a renewal, or no renewal could be confirmed
	// before the safety deadline) or Run's context ends; it carries the
	// lease (see Lease) whose fencing token should go with every write the
	// leader makes. OnStartedLeading must return soon after ctx is
	// cancelled: Run keeps the lease, and keeps renewing it, until it
	// has, so that no other candidate leads while this one's work still
	// runs. Returning before ctx is cancelled does not give up leadership
	// (as in client-go); cancel Run's context to step down.
	// +required
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading runs after OnStartedLeading has returned and the
	// lease was released or lost. It is not called if this candidate never
	// led (unlike client-go, which calls it even then).
	// +optional
	OnStoppedLeading func()
	// OnNewLeader runs, on Run's goroutine, each time a leader other than
	// the last one reported is observed, this candidate included (just
	// before OnStartedLeading). Waiting candidates read the record every
	// RetryPeriod. It must return quickly: while it runs, this candidate
	// does not start leading (its lease, if granted, is still renewed).
	// +optional
	OnNewLeader func(identity string)
}

// validate checks what Run needs before its first call to the store; the
// lock manager checks the key, identity, durations and metadata against the
// lock contract on the first attempt.
func (c *Config) validate() error {
	if c.Manager == nil {
		return backends.InvalidArgument("Manager", "must not be nil")
	}
	if c.Callbacks.OnStartedLeading == nil {
		return backends.InvalidArgument("Callbacks.OnStartedLeading", "must not be nil")
	}
	if c.LeaseDuration < 0 || c.RetryPeriod < 0 || c.SafetyMargin < 0 {
		return backends.InvalidArgument("LeaseDuration, RetryPeriod, SafetyMargin", "must not be negative")
	}
	return nil
}

// acquireOptions returns the lock options of one attempt (Wait 0).
func (c *Config) acquireOptions() lockmanager.AcquireOptions {
	lease := c.LeaseDuration
	if lease == 0 {
		lease = DefaultLeaseDuration
	}
	return lockmanager.AcquireOptions{
		Key:           c.Key,
		Holder:        c.Identity,
		LeaseDuration: lease,
		RefreshPeriod: c.RetryPeriod,
		Metadata:      maps.Clone(c.Metadata),
	}
}

// retryPeriod is the effective retry period of valid options.
func retryPeriod(o lockmanager.AcquireOptions) time.Duration {
	if o.RefreshPeriod != 0 {
		return o.RefreshPeriod
	}
	return max(o.LeaseDuration/3, lockmanager.MinRefreshPeriod)
}

// sessionOptions returns the heartbeat options.
func (c *Config) sessionOptions() []lockmanager.SessionOption {
	if c.SafetyMargin == 0 {
		return nil
	}
	return []lockmanager.SessionOption{lockmanager.WithSafetyMargin(c.SafetyMargin)}
}
