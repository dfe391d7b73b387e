package sqlrecord

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/backends"
)

var expiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestAcquireError(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Current
		want *backends.HeldError // nil: try again
	}{
		{"NoRecord", Current{}, nil},
		{"Tombstone", Current{Exists: false, Holder: "", Version: "v"}, nil},
		{"Released", Current{Exists: true, Holder: "", Version: "v"}, nil},
		{"OtherHolderExpired", Current{Exists: true, Holder: "b", Version: "v", Expires: expiry}, nil},
		{"SameHolderLive", Current{Exists: true, Holder: "a", Version: "v", Expires: expiry, Live: true}, nil},
		{"OtherHolderLive", Current{Exists: true, Holder: "b", Version: "v", Expires: expiry, Live: true},
			&backends.HeldError{Key: "k", Holder: "b", ExpiresAt: expiry}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.AcquireError("k", "a")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("AcquireError = %v, want nil (try again)", err)
				}
				return
			}
			var held *backends.HeldError
			if !errors.Is(err, backends.ErrLockHeld) || !errors.As(err, &held) {
				t.Fatalf("AcquireError = %v, want a HeldError matching ErrLockHeld", err)
			}
			if diff := cmp.Diff(tc.want, held); diff != "" {
				t.Errorf("HeldError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGuardAndRenewError(t *testing.T) {
	live := Current{Exists: true, Holder: "a", Version: "v1", Expires: expiry, Live: true}
	expired := live
	expired.Live = false
	for _, tc := range []struct {
		name                 string
		c                    Current
		wantGuard, wantRenew error // nil: passes, try again
	}{
		{"NotFound", Current{}, backends.ErrNotFound, backends.ErrNotFound},
		{"TombstoneIsNotFound", Current{Holder: "a", Version: "v1", Live: true}, backends.ErrNotFound, backends.ErrNotFound},
		{"NotHolder", Current{Exists: true, Holder: "b", Version: "v1", Live: true}, backends.ErrNotHolder, backends.ErrNotHolder},
		{"ReleasedIsNotHolder", Current{Exists: true, Version: "v1"}, backends.ErrNotHolder, backends.ErrNotHolder},
		{"VersionMismatch", Current{Exists: true, Holder: "a", Version: "v2", Live: true}, backends.ErrVersionMismatch, backends.ErrVersionMismatch},
		// Holder and version outrank expiry: a stale caller learns that first.
		{"VersionMismatchExpired", Current{Exists: true, Holder: "a", Version: "v2"}, backends.ErrVersionMismatch, backends.ErrVersionMismatch},
		// Release may free an expired lease; renew may not.
		{"Expired", expired, nil, backends.ErrLeaseExpired},
		{"Live", live, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err, want error) {
				t.Helper()
				if want == nil {
					if err != nil {
						t.Errorf("%s = %v, want nil", what, err)
					}
					return
				}
				if !errors.Is(err, want) {
					t.Errorf("%s = %v, want %v", what, err, want)
				}
				if got, wantMsg := err.Error(), `renewing "k": `+want.Error(); got != wantMsg {
					t.Errorf("%s says %q, want %q", what, got, wantMsg)
				}
			}
			check("GuardError", tc.c.GuardError("renewing", "k", "a", "v1"), tc.wantGuard)
			check("RenewError", tc.c.RenewError("renewing", "k", "a", "v1"), tc.wantRenew)
		})
	}
}

func TestExhausted(t *testing.T) {
	err := AcquireExhausted("k")
	var held *backends.HeldError
	if !errors.Is(err, backends.ErrLockHeld) || !errors.As(err, &held) {
		t.Fatalf("AcquireExhausted = %v, want a HeldError matching ErrLockHeld", err)
	}
	if diff := cmp.Diff(&backends.HeldError{Key: "k"}, held); diff != "" {
		t.Errorf("HeldError with an unknown holder (-want +got):\n%s", diff)
	}
	if err := Exhausted("renewing", "k"); !errors.Is(err, backends.ErrUnavailable) {
		t.Errorf("Exhausted = %v, want ErrUnavailable", err)
	}
}
