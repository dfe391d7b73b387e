package sqlrecord

import (
	"context"
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

// Guarded is the loop every guarded statement (acquire, renew, release)
// runs on both SQL backends. It runs the statement; when the statement
// matched no row (noRows, the driver's error for that), it reads the
// record and asks refusal which contract error the record explains. A nil
// answer means the record changed between the statement and the read (a
// release or an expiry in between), and the statement runs again, at most
// MaxAttempts times in all; after that, exhausted is the answer. Any other
// failure of the statement or the read is turned into the contract's by
// StoreError.
func Guarded[T any](ctx context.Context, op, key string, noRows error,
	statement func() (T, error),
	read func(context.Context, string) (Current, error),
	refusal func(Current) error,
	exhausted func() error,
) (T, error) {
	var zero T
	for range MaxAttempts {
		v, err := statement()
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, noRows) {
			return zero, StoreError(ctx, op, key, err)
		}
		c, err := read(ctx, key)
		if err != nil {
			return zero, StoreError(ctx, op, key, err)
		}
		if err := refusal(c); err != nil {
			return zero, err
		}
	}
	return zero, exhausted()
}

// Reader is a backend's failure-path read of key's record.
type Reader func(ctx context.Context, key string) (Current, error)

// Acquire runs a backend's acquire statement under Guarded: it encodes
// req.Metadata (refusing metadata it cannot encode as ErrInvalidArgument),
// passes it to statement, and explains a refused grant by AcquireError.
func Acquire(ctx context.Context, req *backends.AcquireRequest, noRows error, read Reader,
	statement func(metadata any) (backends.Lock, error)) (backends.Lock, error) {
	md, err := EncodeMetadata(req.Metadata)
	if err != nil {
		return backends.Lock{}, backends.InvalidArgument("Metadata", "%v", err)
	}
	return Guarded(ctx, "acquiring", req.Key, noRows, func() (backends.Lock, error) { return statement(md) }, read,
		func(c Current) error { return c.AcquireError(req.Key, req.Holder) },
		func() error { return AcquireExhausted(req.Key) })
}

// Renew runs a backend's renew statement under Guarded, as Acquire does,
// and explains a refused renewal by RenewError.
func Renew(ctx context.Context, req *backends.RenewRequest, noRows error, read Reader,
	statement func(metadata any) (backends.Lock, error)) (backends.Lock, error) {
	const op = "renewing"
	md, err := EncodeMetadata(req.Metadata)
	if err != nil {
		return backends.Lock{}, backends.InvalidArgument("Metadata", "%v", err)
	}
	return Guarded(ctx, op, req.Key, noRows, func() (backends.Lock, error) { return statement(md) }, read,
		func(c Current) error { return c.RenewError(op, req.Key, req.Holder, req.Version) },
		func() error { return Exhausted(op, req.Key) })
}

// Release runs a backend's release statement under Guarded and explains a
// refused release by GuardError.
func Release(ctx context.Context, req *backends.ReleaseRequest, noRows error, read Reader, statement func() error) error {
	const op = "releasing"
	_, err := Guarded(ctx, op, req.Key, noRows, func() (struct{}, error) { return struct{}{}, statement() }, read,
		func(c Current) error { return c.GuardError(op, req.Key, req.Holder, req.Version) },
		func() error { return Exhausted(op, req.Key) })
	return err
}
