package lease

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	const d = 10 * time.Second
	rule := Rule{SkewAllowance: time.Second}
	for _, tc := range []struct {
		name string
		o    Observed
		now  time.Time
		want Verdict
	}{
		{"just renewed, seen at once", Observed{t0, d, t0}, t0,
			Verdict{ExpiresAt: t0.Add(d), Remaining: d}},
		{"seen unchanged for a whole lease: expired at the boundary", Observed{t0, d, t0}, t0.Add(d),
			Verdict{ExpiresAt: t0.Add(d), Expired: true}},
		{"a nanosecond before the boundary", Observed{t0, d, t0}, t0.Add(d - 1),
			Verdict{ExpiresAt: t0.Add(d), Remaining: 1}},
		{"seen late: renewTime + lease + allowance decides", Observed{t0, d, t0.Add(5 * time.Second)}, t0.Add(d + time.Second),
			Verdict{ExpiresAt: t0.Add(d), Expired: true}},
		{"seen late, within the allowance", Observed{t0, d, t0.Add(5 * time.Second)}, t0.Add(d),
			Verdict{ExpiresAt: t0.Add(d), Remaining: time.Second}},
		{"a holder clock ahead cannot outlast the observation", Observed{t0.Add(time.Hour), d, t0}, t0.Add(d),
			Verdict{ExpiresAt: t0.Add(time.Hour + d), Expired: true}},
		{"not observed: renewTime alone", Observed{t0, d, time.Time{}}, t0.Add(d),
			Verdict{ExpiresAt: t0.Add(d), Remaining: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, rule.Judge(tc.o, tc.now)); diff != "" {
				t.Errorf("Judge (-want +got):\n%s", diff)
			}
		})
	}
	if v := (Rule{SkewAllowance: -time.Hour}).Judge(Observed{t0, d, time.Time{}}, t0.Add(d)); !v.Expired {
		t.Errorf("a negative allowance counts as zero: %+v, want expired at renewTime + lease", v)
	}
}

func TestDurationSetAndExpiry(t *testing.T) {
	renewed := metav1.NewMicroTime(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	obj := &locksv1alpha1.DistributedLock{Spec: locksv1alpha1.DistributedLockSpec{RenewTime: &renewed}}
	Set(obj, 1500*time.Millisecond)
	if *obj.Spec.LeaseDurationSeconds != 2 || obj.Annotations[MillisAnnotation] != "1500" {
		t.Fatalf("Set(1.5s): %d s, annotation %q; want 2 s rounded up and 1500", *obj.Spec.LeaseDurationSeconds, obj.Annotations[MillisAnnotation])
	}
	if got := Duration(obj); got != 1500*time.Millisecond {
		t.Errorf("Duration = %s, want 1.5s", got)
	}
	if got := ExpiresAt(obj); !got.Equal(renewed.Add(1500 * time.Millisecond)) {
		t.Errorf("ExpiresAt = %s, want renewTime + 1.5s", got)
	}
	obj.Annotations[MillisAnnotation] = "500" // edited apart from the spec
	if got := Duration(obj); got != 2*time.Second {
		t.Errorf("Duration with an annotation that does not round up to the spec = %s, want the spec's 2s", got)
	}
	Set(obj, 3*time.Second)
	if _, ok := obj.Annotations[MillisAnnotation]; ok || Duration(obj) != 3*time.Second {
		t.Errorf("Set(3s) kept the annotation or read %s", Duration(obj))
	}
}

func TestIdentityVersion(t *testing.T) {
	obj := &locksv1alpha1.DistributedLock{ObjectMeta: metav1.ObjectMeta{UID: "6f1c", Generation: 7, ResourceVersion: "99"}}
	if got := IdentityOf(obj).Version(); got != "7.6f1c" {
		t.Errorf("Version = %q, want generation.UID", got)
	}
	obj.ResourceVersion = "100" // a status or label write
	if got := IdentityOf(obj).Version(); got != "7.6f1c" {
		t.Errorf("Version after a resourceVersion-only change = %q, want it unchanged", got)
	}
}
