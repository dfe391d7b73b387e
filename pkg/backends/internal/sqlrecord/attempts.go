package sqlrecord

import (
	"errors"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// MaxAttempts bounds how often one operation re-runs its statement when the
// failure-path read finds that the record changed in between (a release
// landing between a refused acquire and the read that explains it). Each
// re-run means another caller completed a grant and a release meanwhile, so
// the store as a whole made progress.
const MaxAttempts = 10

// AcquireExhausted is Acquire's answer once every one of MaxAttempts tries
// was refused because the lock was held, but each time it was released again
// before the read could say by whom. ErrLockHeld is the truth at every
// attempt; the holder is unknown, so the HeldError has no holder and no
// expiry.
func AcquireExhausted(key string) error {
	return backends.Held(key, "", time.Time{})
}

// Exhausted is Renew's and Release's answer once every one of MaxAttempts
// tries found the record changed again between the statement and the read:
// a retryable ErrUnavailable.
func Exhausted(op, key string) error {
	return backends.Unavailable(op, key, errors.New("record kept changing under contention"))
}
