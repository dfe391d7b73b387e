package sqlrecord

import (
	"context"
	"errors"
	"testing"

	"github.com/leasehold/leasehold/pkg/backends"
)

func TestStoreError(t *testing.T) {
	driverErr := errors.New("connection reset")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		err      error
		want     error
		wantNot  error
		wantText string
	}{
		{"DriverFailure", context.Background(), driverErr, backends.ErrUnavailable, nil, `getting "k": lock backend unavailable: connection reset`},
		// The caller's own cancellation is not a backend failure, whatever
		// the driver made of it.
		{"CallerCancelled", cancelled, driverErr, context.Canceled, backends.ErrUnavailable, `getting "k": context canceled`},
		{"DriverReportsCancel", context.Background(), context.Canceled, context.Canceled, backends.ErrUnavailable, `getting "k": context canceled`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := StoreError(tc.ctx, "getting", "k", tc.err)
			if !errors.Is(err, tc.want) {
				t.Errorf("StoreError = %v, want %v", err, tc.want)
			}
			if tc.wantNot != nil && errors.Is(err, tc.wantNot) {
				t.Errorf("StoreError = %v, must not match %v", err, tc.wantNot)
			}
			if tc.wantText != "" && err.Error() != tc.wantText {
				t.Errorf("StoreError says %q, want %q", err, tc.wantText)
			}
		})
	}
}
