package lockmanager

import (
	"context"
	"errors"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
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

// Description names the store a Manager works on: the backend's kind and
// namespace (see backends.Description).
type Description = backends.Description

// LeaseObserver is an Observer that is also told about waits, renewals and
// lost sessions. A Manager calls these methods when the Observer given to
// WithObserver implements them (lockmetrics.Observer does). Each call
// names the Manager's store (backends.Describe of its backend), never a
// key. Like Observer's, the methods must be safe for concurrent use and
// quick.
type LeaseObserver interface {
	Observer
	// ObserveWaitStart reports that an Acquire (or Hold) began waiting:
	// its first try found the lock held or the store unavailable, or
	// other callers of this Manager were already waiting for the key.
	ObserveWaitStart(store Description)
	// ObserveWaitEnd reports that a call reported to ObserveWaitStart
	// stopped waiting, how (Outcome of its error: "ok" when granted), and
	// how long it waited.
	ObserveWaitEnd(store Description, outcome string, waited time.Duration)
	// ObserveRenewal reports a Session's successful renewal and the time
	// that was left on the lease when its reply arrived, as the holder
	// counts it: the previous grant's send time plus the lease duration,
	// minus now. Negative when the reply came after the lease ran out.
	ObserveRenewal(store Description, remaining time.Duration)
	// ObserveSessionLost reports a Session that lost its lease, and why
	// (LossCause of its Err). It is called after ObserveSessionEnd.
	ObserveSessionLost(store Description, cause string)
}

// LossCause classifies why a Session lost its lease, for metrics; "" if
// err does not say it was lost (a release, the parent context ending, the
// Manager closed):
//   - "not_renewed": no renewal was confirmed before the holder-side safe
//     deadline (the store was slow or unreachable);
//   - "expired": the store answered that the lease had already expired;
//   - "taken_over": another holder, or someone else's release, replaced
//     the grant;
//   - "deleted": the record was deleted.
func LossCause(err error) string {
	switch {
	case errors.Is(err, ErrReleased): // may wrap the parent context's cause
		return ""
	case errors.Is(err, ErrLost):
		switch {
		case errors.Is(err, ErrNotFound):
			return "deleted"
		case errors.Is(err, ErrLeaseExpired):
			return "expired"
		default: // ErrNotHolder, ErrLockHeld, ErrVersionMismatch
			return "taken_over"
		}
	case errors.Is(err, ErrLeaseExpired):
		return "not_renewed"
	default:
		return ""
	}
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
func (nopObserver) ObserveWaitStart(Description)                      {}
func (nopObserver) ObserveWaitEnd(Description, string, time.Duration) {}
func (nopObserver) ObserveRenewal(Description, time.Duration)         {}
func (nopObserver) ObserveSessionLost(Description, string)            {}
