package lockmanager

import (
	"context"
	"errors"
	"time"
)

// Operation names a Manager operation in Observer callbacks and metrics.
type Operation string

// The operations a Manager reports.
const (
	OpAcquire Operation = "acquire"
	OpRenew   Operation = "renew"
	OpRelease Operation = "release"
	OpGet     Operation = "get"
	OpList    Operation = "list"
)

// Observer receives one call per completed Manager operation. It must be
// safe for concurrent use and quick: it runs on the caller's goroutine.
type Observer interface {
	// ObserveOperation reports op's outcome (Outcome(err)) and how long it
	// took, waiting included.
	ObserveOperation(op Operation, outcome string, elapsed time.Duration)
	// ObserveSessionEnd reports why a Session ended (Outcome of its Err).
	ObserveSessionEnd(outcome string)
}

// Outcome classifies an error into a short, bounded label for metrics:
// "ok", "invalid_argument", "held", "not_found", "not_holder",
// "version_mismatch", "expired", "closed", "unavailable", "canceled",
// "released", "lost" or "error".
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrReleased):
		return "released"
	case errors.Is(err, ErrLost):
		return "lost"
	case errors.Is(err, ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, ErrLockHeld):
		return "held"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrNotHolder):
		return "not_holder"
	case errors.Is(err, ErrVersionMismatch):
		return "version_mismatch"
	case errors.Is(err, ErrLeaseExpired):
		return "expired"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "error"
	}
}

type nopObserver struct{}

func (nopObserver) ObserveOperation(Operation, string, time.Duration) {}
func (nopObserver) ObserveSessionEnd(string)                          {}
