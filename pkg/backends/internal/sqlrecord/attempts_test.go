package sqlrecord

import (
	"context"
	"errors"
	"testing"

	"github.com/leasehold/leasehold/pkg/backends"
)

var errNoRow = errors.New("no row")

// guarded runs Guarded with a statement that matches no row for the first
// misses calls, and a read that says the record changed (retry) for the
// first retries reads and refuses with ErrNotHolder after that.
func guarded(ctx context.Context, misses, retries int, readErr error) (statements, reads int, v string, err error) {
	v, err = Guarded(ctx, "renewing", "k", errNoRow,
		func() (string, error) {
			statements++
			if statements <= misses {
				return "", errNoRow
			}
			return "done", nil
		},
		func(context.Context, string) (Current, error) {
			reads++
			return Current{Exists: true, Holder: "other"}, readErr
		},
		func(Current) error {
			if reads <= retries {
				return nil
			}
			return backends.KeyError("renewing", "k", backends.ErrNotHolder)
		},
		func() error { return Exhausted("renewing", "k") })
	return statements, reads, v, err
}

func TestGuarded(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name                      string
		ctx                       context.Context
		misses, retries           int
		readErr                   error
		wantStatements, wantReads int
		want                      string
		wantErr                   error
	}{
		{name: "first statement matches", misses: 0, wantStatements: 1, want: "done"},
		{name: "record changed once, then matched", misses: 1, retries: 1, wantStatements: 2, wantReads: 1, want: "done"},
		{name: "refusal named by the read", misses: 5, retries: 2, wantStatements: 3, wantReads: 3, wantErr: backends.ErrNotHolder},
		{name: "changing every time", misses: MaxAttempts, retries: MaxAttempts, wantStatements: MaxAttempts, wantReads: MaxAttempts, wantErr: backends.ErrUnavailable},
		{name: "read fails", misses: 1, readErr: errors.New("connection reset"), wantStatements: 1, wantReads: 1, wantErr: backends.ErrUnavailable},
		{name: "read fails after the caller gave up", ctx: ended, misses: 1, readErr: errors.New("connection reset"), wantStatements: 1, wantReads: 1, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			statements, reads, v, err := guarded(ctx, tc.misses, tc.retries, tc.readErr)
			if statements != tc.wantStatements || reads != tc.wantReads {
				t.Errorf("statements, reads = %d, %d; want %d, %d", statements, reads, tc.wantStatements, tc.wantReads)
			}
			if v != tc.want {
				t.Errorf("value = %q, want %q", v, tc.want)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestGuardedStatementErrorIsNotRetried(t *testing.T) {
	statements := 0
	_, err := Guarded(context.Background(), "acquiring", "k", errNoRow,
		func() (int, error) { statements++; return 0, errors.New("disk I/O error") },
		func(context.Context, string) (Current, error) {
			t.Fatal("read after a failed statement")
			return Current{}, nil
		},
		func(Current) error { return nil },
		func() error { return AcquireExhausted("k") })
	if statements != 1 || !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("statements = %d, err = %v; want 1 and ErrUnavailable", statements, err)
	}
}
