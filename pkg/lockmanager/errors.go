package lockmanager

import (
	"errors"

	"github.com/leasehold/leasehold/pkg/backends"
)

// The contract's errors. They are the backends' sentinels, so errors.Is
// works on whatever a backend returns.
var (
	ErrInvalidArgument  = backends.ErrInvalidArgument
	ErrLockHeld         = backends.ErrLockHeld
	ErrNotFound         = backends.ErrNotFound
	ErrNotHolder        = backends.ErrNotHolder
	ErrVersionMismatch  = backends.ErrVersionMismatch
	ErrLeaseExpired     = backends.ErrLeaseExpired
	ErrClosed           = backends.ErrClosed
	ErrUnavailable      = backends.ErrUnavailable
	ErrPermissionDenied = backends.ErrPermissionDenied
)

// Reasons a Session ends, reported by Session.Err.
var (
	// ErrReleased: the session was released by its owner (Release, or the
	// parent context ending).
	ErrReleased = errors.New("session released")
	// ErrLost: the store says the lease is no longer this session's (taken
	// over after expiry, released or deleted by someone else). The error
	// also wraps the store's answer (ErrNotHolder, ErrNotFound, ...).
	ErrLost = errors.New("lease lost")
)

// HeldError describes a lock held by another holder: who, and until when.
type HeldError = backends.HeldError
