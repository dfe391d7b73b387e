package sqlrecord

import (
	"context"
	"fmt"

	"github.com/leasehold/leasehold/pkg/backends"
)

// StoreError turns a driver error into the contract's: the caller's own
// cancellation stays a context error, anything else is ErrUnavailable.
func StoreError(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %q: %w", op, key, ctxErr)
	}
	return backends.Unavailable(op, key, err)
}
