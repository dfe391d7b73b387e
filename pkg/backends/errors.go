package backends

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The closed set of errors every operation may return, tested with
// errors.Is. Backends wrap them with the key (and, for store failures, the
// cause) using %w.
var (
	// ErrInvalidArgument reports an option outside the contract's bounds. The
	// message names the field and the rule it broke.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrLockHeld reports that another holder has an unexpired lease. Use
	// errors.As with *HeldError to learn who holds it and until when.
	ErrLockHeld = errors.New("lock held by another holder")
	// ErrNotFound reports that no record exists for the key.
	ErrNotFound = errors.New("lock not found")
	// ErrNotHolder reports that the record is held by, or was last granted
	// to, a different holder, or is released.
	ErrNotHolder = errors.New("not the lock holder")
	// ErrVersionMismatch reports that the caller's version is not the
	// record's current version: somebody (possibly the caller, in an
	// ambiguous earlier call) changed the record since.
	ErrVersionMismatch = errors.New("lock version mismatch")
	// ErrLeaseExpired reports that the caller's lease has expired. The
	// caller must acquire again and will get a new fencing token.
	ErrLeaseExpired = errors.New("lease expired")
	// ErrClosed reports a call on a closed backend or manager.
	ErrClosed = errors.New("lock backend closed")
	// ErrUnavailable wraps failures of the store itself. The operation may
	// or may not have taken effect; it is safe to retry.
	ErrUnavailable = errors.New("lock backend unavailable")
	// ErrPermissionDenied reports that the store refused the caller's
	// credentials, or refused the operation to them. The operation did not
	// take effect, and retrying does not help until someone grants the
	// permission, so waits and sessions do not retry it. The message names
	// what was refused.
	ErrPermissionDenied = errors.New("permission denied")
)

// HeldError is the error for a lock held by someone else. It matches
// ErrLockHeld with errors.Is.
type HeldError struct {
	// Key is the lock's key.
	Key string
	// Holder is the current holder's identity; empty when the backend could
	// not tell (the holder released between the refusal and the read).
	Holder string
	// ExpiresAt is when the current lease ends unless renewed, by the
	// backend's clock (see each backend's documentation); zero when Holder
	// is empty.
	ExpiresAt time.Time
}

// Error implements error.
func (e *HeldError) Error() string {
	if e.Holder == "" {
		// A backend may see the lock held yet find it free by the time it
		// reads who held it; it then reports an unknown holder.
		return fmt.Sprintf("lock %q held by another holder", e.Key)
	}
	return fmt.Sprintf("lock %q held by %q until %s", e.Key, e.Holder, e.ExpiresAt.UTC().Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrLockHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrLockHeld }

// Held returns a *HeldError for key.
func Held(key, holder string, expiresAt time.Time) error {
	return &HeldError{Key: key, Holder: holder, ExpiresAt: expiresAt}
}

// KeyError wraps one of the sentinel errors with the key it concerns.
func KeyError(op, key string, sentinel error) error {
	return fmt.Errorf("%s %q: %w", op, key, sentinel)
}

// CheckContext returns nil while ctx is live, and once it has ended,
// ctx's error wrapped with op and key: a call whose context ended before it
// started names its key like every other error, and still matches
// context.Canceled or context.DeadlineExceeded with errors.Is.
func CheckContext(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	return nil
}

// CheckCall is the check every backend method makes before it sends
// anything: ErrClosed wrapped with op and key once the backend is closed,
// else CheckContext.
func CheckCall(ctx context.Context, closed bool, op, key string) error {
	if closed {
		return KeyError(op, key, ErrClosed)
	}
	return CheckContext(ctx, op, key)
}

// Unavailable wraps a store failure so that it matches ErrUnavailable and
// still carries the cause. Context errors are kept as they are: a caller's
// own cancellation is not a backend failure.
func Unavailable(op, key string, cause error) error {
	if errors.Is(cause, ErrUnavailable) {
		return cause
	}
	if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("%s %q: %w", op, key, cause)
	}
	return fmt.Errorf("%s %q: %w: %w", op, key, ErrUnavailable, cause)
}

// PermissionDenied wraps the store's refusal of op on key so that it
// matches ErrPermissionDenied and still carries the store's own message.
func PermissionDenied(op, key string, cause error) error {
	return fmt.Errorf("%s %q: %w: %w", op, key, ErrPermissionDenied, cause)
}

// InvalidArgument returns an ErrInvalidArgument naming field and rule.
func InvalidArgument(field, rule string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidArgument, field, fmt.Sprintf(rule, args...))
}
