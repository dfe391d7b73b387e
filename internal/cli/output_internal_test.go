package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// TestViewOfHidesStaleAndZeroTimes: a record without a holder prints the
// same on every backend whatever traces of the last lease the backend kept
// (SQLite keeps a future expiry, a reaped Kubernetes object has none), and
// a time the backend does not know is left out rather than printed as
// 0001-01-01.
func TestViewOfHidesStaleAndZeroTimes(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	released := LockView{Key: "k", Version: "v2", FencingToken: 7}
	cases := []struct {
		name string
		lock lockmanager.Lock
		want LockView
	}{
		{"released, last lease's times kept (SQLite)", lockmanager.Lock{
			Key: "k", Version: "v2", FencingToken: 7, AcquiredAt: now, RenewedAt: now,
			ExpiresAt: now.Add(30 * time.Second), LeaseDuration: 30 * time.Second,
		}, released},
		{"reaped, no times (Kubernetes)", lockmanager.Lock{Key: "k", Version: "v2", FencingToken: 7}, released},
		{"held, acquire time unknown", lockmanager.Lock{
			Key: "k", Holder: "h", Version: "v1", FencingToken: 7, Held: true,
			RenewedAt: now, ExpiresAt: now.Add(time.Minute), LeaseDuration: time.Minute,
		}, LockView{Key: "k", Holder: "h", Version: "v1", FencingToken: 7, Held: true,
			RenewedAt: now, ExpiresAt: now.Add(time.Minute), LeaseDuration: "1m0s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, viewOf(tc.lock)); diff != "" {
				t.Errorf("viewOf (-want +got):\n%s", diff)
			}
			for _, format := range []string{formatJSON, formatYAML, formatTable} {
				var buf bytes.Buffer
				if err := printLocks(&buf, format, []lockmanager.Lock{tc.lock}, false, nil); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(buf.String(), "0001-01-01") || strings.Contains(buf.String(), "1970-01-01") {
					t.Errorf("-o %s prints a zero time:\n%s", format, buf.String())
				}
				if tc.lock.Holder == "" && strings.Contains(buf.String(), "2026-") {
					t.Errorf("-o %s prints the times of a lease that is over:\n%s", format, buf.String())
				}
			}
		})
	}
}
