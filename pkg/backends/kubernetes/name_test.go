package kubernetes_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

func TestObjectName(t *testing.T) {
	for _, tc := range []struct {
		key, wantPrefix string
	}{
		{"scheduler:background:lease", "scheduler-background-lease-"},
		{"UPPER.lower-MiXeD_09", "upper-lower-mixed-09-"},
		{"-leading-dash", "leading-dash-"},
		{"trailing.", "trailing-"},
		{"ünïcødé/键/🔒", "n-c-d-"},
		{"键", "lock-"},
		{"../../etc/passwd", "etc-passwd-"},
		{strings.Repeat("k", 256), strings.Repeat("k", 40) + "-"},
		{strings.Repeat("ab-", 30), strings.Repeat("ab-", 13) + "a-"}, // cut at 40 bytes
	} {
		got := kubernetes.ObjectName(tc.key)
		if !strings.HasPrefix(got, tc.wantPrefix) || len(got) != len(tc.wantPrefix)+16 {
			t.Errorf("ObjectName(%q) = %q, want %q followed by 16 hex digits", tc.key, got, tc.wantPrefix)
		}
		checkName(t, tc.key, got)
	}
}

// Keys that sanitise alike still map to distinct names.
func TestObjectNameDistinguishesKeysThatSanitiseAlike(t *testing.T) {
	seen := map[string]string{}
	for _, key := range []string{"a/b", "a-b", "a_b", "A/B", "a.b", "a:b", "a--b", "a b", "Job", "job", "JOB"} {
		name := kubernetes.ObjectName(key)
		if other, dup := seen[name]; dup {
			t.Fatalf("keys %q and %q both map to %q", other, key, name)
		}
		seen[name] = key
	}
}

func checkName(t *testing.T, key, name string) {
	t.Helper()
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		t.Fatalf("ObjectName(%q) = %q is not a DNS subdomain: %v", key, name, errs)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		t.Fatalf("ObjectName(%q) = %q is not a DNS label: %v", key, name, errs)
	}
	if again := kubernetes.ObjectName(key); again != name {
		t.Fatalf("ObjectName(%q) is not deterministic: %q then %q", key, name, again)
	}
}
