package lockmanager_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Every call checks its options before the backend sees them: one broken
// field per call is refused with ErrInvalidArgument naming that field,
// and the same options with the field fixed are accepted. (The rules
// themselves are fuzzed by FuzzAcquireOptions.)
func TestOptionsAreValidated(t *testing.T) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	ctx := context.Background()
	acquire := lockmanager.AcquireOptions{Key: "jobs/nightly", Holder: "worker-1", LeaseDuration: time.Minute}
	for _, tc := range []struct {
		call, field string
		// do makes the call, with the field broken or not.
		do func(broken bool) error
	}{
		{"Acquire", "LeaseDuration", func(broken bool) error {
			o := acquire
			if broken {
				o.LeaseDuration = time.Second + time.Microsecond
			}
			_, err := m.Acquire(ctx, o)
			return err
		}},
		{"Hold", "RefreshPeriod", func(broken bool) error {
			o := acquire
			o.Key = "jobs/held"
			if broken {
				o.RefreshPeriod = o.LeaseDuration
			}
			s, err := lockmanager.Hold(ctx, m, o)
			if err == nil {
				err = s.Release(ctx)
			}
			return err
		}},
		{"Renew", "Metadata", func(broken bool) error {
			l, err := m.Acquire(ctx, acquire)
			if err != nil {
				return err
			}
			o := lockmanager.RenewOptions{Key: l.Key, Holder: l.Holder, Version: l.Version, LeaseDuration: time.Minute}
			if broken {
				o.Metadata = map[string]string{"k": "nul\x00"}
			}
			_, err = m.Renew(ctx, o)
			return err
		}},
		{"Release", "Version", func(broken bool) error {
			l, err := m.Acquire(ctx, acquire)
			if err != nil {
				return err
			}
			o := lockmanager.ReleaseOptions{Key: l.Key, Holder: l.Holder, Version: l.Version}
			if broken {
				o.Version = ""
			}
			return m.Release(ctx, o)
		}},
		{"List", "PageSize", func(broken bool) error {
			o := lockmanager.ListOptions{Prefix: "jobs/"}
			if broken {
				o.PageSize = lockmanager.MaxPageSize + 1
			}
			_, err := m.List(ctx, o)
			return err
		}},
		{"ValidateKey", "Key", func(broken bool) error {
			if broken {
				return lockmanager.ValidateKey("jobs\n")
			}
			return lockmanager.ValidateKey("jobs")
		}},
	} {
		if err := tc.do(false); err != nil {
			t.Errorf("%s with valid options = %v, want success", tc.call, err)
		}
		err := tc.do(true)
		if !errors.Is(err, lockmanager.ErrInvalidArgument) {
			t.Errorf("%s with invalid %s = %v, want ErrInvalidArgument", tc.call, tc.field, err)
			continue
		}
		if want := lockmanager.ErrInvalidArgument.Error() + ": " + tc.field + ": "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s with invalid %s = %q, want it to start with %q", tc.call, tc.field, err, want)
		}
	}
}
