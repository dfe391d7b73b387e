package sqlbackendtest

import (
	"context"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Step is one uncontended operation whose statements a backend's test
// counts.
type Step struct {
	Name string
	Do   func() error
}

// StatementSteps returns the uncontended operations that must each send
// exactly one statement, in order, on key "k" of b: a new grant, a
// same-holder re-acquire, a renewal, a release, a grant of the released key,
// a release with delete and a grant of the deleted key. last points at the
// record the latest step returned, for steps a caller appends.
func StatementSteps(ctx context.Context, b backends.Backend) (steps []Step, last *backends.Lock) {
	var l backends.Lock
	return []Step{
		{"AcquireNew", func() (err error) {
			l, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute})
			return err
		}},
		{"Reacquire", func() (err error) {
			l, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute})
			return err
		}},
		{"Renew", func() (err error) {
			l, err = b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: time.Minute})
			return err
		}},
		{"Release", func() error {
			return b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version})
		}},
		{"AcquireReleased", func() (err error) {
			l, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Minute})
			return err
		}},
		{"ReleaseDelete", func() error {
			return b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "b", Version: l.Version, Delete: true})
		}},
		{"AcquireDeleted", func() (err error) {
			l, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "c", LeaseDuration: time.Minute})
			return err
		}},
	}, &l
}
