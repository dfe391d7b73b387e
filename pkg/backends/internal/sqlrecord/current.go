package sqlrecord

import (
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Current is what a backend's failure-path read found for a key after a
// guarded statement (acquire, renew, release) returned no row: enough to
// name the error that applies.
type Current struct {
	// Exists is false when there is no row or only a tombstone.
	Exists  bool
	Holder  string // "" when released
	Version string
	Expires time.Time
	// Live reports that the lease had not expired when it was read, judged
	// by the backend's own clock rule.
	Live bool
}

// AcquireError explains a refused acquire by holder: ErrLockHeld (a
// HeldError naming the current holder and expiry) when another holder's
// lease is live. It returns nil when the record no longer refuses holder
// (released, deleted or expired since the statement ran), and the caller
// tries again.
func (c Current) AcquireError(key, holder string) error {
	if c.Exists && c.Holder != "" && c.Holder != holder && c.Live {
		return backends.Held(key, c.Holder, c.Expires)
	}
	return nil
}

// GuardError names the first of the contract's checks for renew and release
// that c fails: ErrNotFound, then ErrNotHolder, then ErrVersionMismatch. It
// returns nil when all pass.
func (c Current) GuardError(op, key, holder, version string) error {
	switch {
	case !c.Exists:
		return backends.KeyError(op, key, backends.ErrNotFound)
	case c.Holder != holder:
		return backends.KeyError(op, key, backends.ErrNotHolder)
	case c.Version != version:
		return backends.KeyError(op, key, backends.ErrVersionMismatch)
	}
	return nil
}

// RenewError explains a refused renew: GuardError's checks, then
// ErrLeaseExpired. It returns nil when the record would now be renewed (it
// changed since the statement ran), and the caller tries again.
func (c Current) RenewError(op, key, holder, version string) error {
	if err := c.GuardError(op, key, holder, version); err != nil {
		return err
	}
	if !c.Live {
		return backends.KeyError(op, key, backends.ErrLeaseExpired)
	}
	return nil
}
