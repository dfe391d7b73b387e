package backends

import (
	"maps"
	"time"
)

// Lock is a lock record as a backend reports it.
type Lock struct {
	// Key is the lock's name, exactly as the caller gave it.
	Key string
	// Holder is the identity the lease was last granted to; empty once the
	// lock is released.
	Holder string
	// Version changes on every successful acquire and renew. Renew and
	// release must present the version they last received.
	Version string
	// FencingToken is strictly greater than every earlier grant's token for
	// this key, including grants before a delete. Renewals keep it.
	FencingToken uint64
	// Held is true while the record is granted and its lease has not
	// expired, judged by the backend's clock at the time of the call.
	Held bool
	// AcquiredAt is when the current (or last) lease was granted.
	AcquiredAt time.Time
	// RenewedAt is when the lease was last granted or renewed.
	RenewedAt time.Time
	// ExpiresAt is RenewedAt + LeaseDuration.
	ExpiresAt time.Time
	// LeaseDuration is the lease duration of the last grant or renewal.
	LeaseDuration time.Duration
	// Metadata is the holder's metadata, replaced on every grant.
	Metadata map[string]string
}

// Clone returns a deep copy of l.
func (l Lock) Clone() Lock {
	l.Metadata = maps.Clone(l.Metadata)
	return l
}
