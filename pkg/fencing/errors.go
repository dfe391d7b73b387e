package fencing

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/leasehold/leasehold/pkg/backends"
)

// ErrStaleToken reports a write refused because its fencing token is lower
// than the highest token the resource has seen for the lock. Test for it
// with errors.Is; errors.As with a [*StaleTokenError] gives the details.
var ErrStaleToken = errors.New("stale fencing token")

// ErrInvalidArgument reports a lock name or token outside the bounds below;
// it is the lock contract's sentinel, so errors.Is matches
// lockmanager.ErrInvalidArgument too.
var ErrInvalidArgument = backends.ErrInvalidArgument

// MaxToken is the largest token the resources here accept. The contract's
// tokens are unsigned 64-bit numbers but stay below 2^63 (Kubernetes, JSON
// and SQL's BIGINT store them as signed 64-bit integers), so every helper
// stores them as int64.
const MaxToken = math.MaxInt64

// MaxLockBytes bounds a lock name, as the contract bounds keys.
const MaxLockBytes = 256

// StaleTokenError is the error of a refused write: the lock, the token the
// write carried and the highest token seen for the lock.
type StaleTokenError struct {
	Lock    string
	Token   uint64
	Highest uint64
}

func (e *StaleTokenError) Error() string {
	return fmt.Sprintf("stale fencing token for lock %q: the write carries token %d, lower than %d, the highest seen",
		e.Lock, e.Token, e.Highest)
}

// Is makes errors.Is(err, ErrStaleToken) true.
func (e *StaleTokenError) Is(target error) bool { return target == ErrStaleToken }

// CheckToken returns an ErrInvalidArgument naming field when token is 0
// (never granted) or above MaxToken.
func CheckToken(field string, token uint64) error {
	if token == 0 {
		return backends.InvalidArgument(field, "must be at least 1 (0 is never granted), got 0")
	}
	if token > MaxToken {
		return backends.InvalidArgument(field, "must be at most %d, got %d", uint64(MaxToken), token)
	}
	return nil
}

// CheckLock returns an ErrInvalidArgument naming field when lock is empty
// or longer than MaxLockBytes.
func CheckLock(field, lock string) error {
	if lock == "" {
		return backends.InvalidArgument(field, "must not be empty, got %q", lock)
	}
	if len(lock) > MaxLockBytes {
		return backends.InvalidArgument(field, "must be at most %d bytes, got %d", MaxLockBytes, len(lock))
	}
	return nil
}

// ParseToken parses a token written in decimal (an environment variable, a
// header, an annotation), checking it as CheckToken does; field names the
// source in the error.
func ParseToken(field, s string) (uint64, error) {
	t, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, backends.InvalidArgument(field, "must be a decimal fencing token, got %q", s)
	}
	if err := CheckToken(field, t); err != nil {
		return 0, err
	}
	return t, nil
}
