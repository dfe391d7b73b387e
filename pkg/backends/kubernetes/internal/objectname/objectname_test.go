package objectname

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

// Names are persisted: these pin the mapping byte for byte, so that a
// change that would orphan existing lock objects fails here.
func TestOfIsStable(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"", "lock-e3b0c44298fc1c14"},
		{"db-migration", "db-migration"},
		{"nightly-report-2026", "nightly-report-2026"},
		{"a-0123456789abcdef", "a-0123456789abcdef-e02618daad8d529f"},
		{"-a", "a-c274891790345c56"},
		{"scheduler:background:lease", "scheduler-background-lease-dead5053e9913a43"},
		{"a/b", "a-b-c14cddc033f64b9d"},
		{"A/B", "a-b-998d3ed8983acf39"},
		{"键", "lock-721b00cbfa23cc25"},
		{strings.Repeat("ab-", 30), "ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-ab-a-ddd85945da1cb9b7"},
	} {
		if got := Of(tc.key); got != tc.want {
			t.Errorf("Of(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// dnsLabel is RFC 1123's label, as Kubernetes validates object names
// (IsDNS1123Label, at most 63 bytes; a label is also a valid subdomain).
// Written out here rather than imported from apimachinery, which would
// pull its dependencies into the fuzz build.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// sanitise is the readable part's rule from kubernetes.ObjectName's doc,
// applied to the whole key: lowercase ASCII letters and digits kept, every
// other run of bytes one '-', none leading or trailing.
func sanitise(key string) string {
	var b strings.Builder
	for _, c := range []byte(key) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// derivedSuffix is how every derived name ends.
var derivedSuffix = regexp.MustCompile(`-[0-9a-f]{16}$`)

// checkName fails unless name is what the documented mapping allows for
// key: the key itself when it is a DNS label that does not end like a
// derived name; otherwise a DNS label of at most 57 bytes, made of a
// readable part (a prefix of the sanitised key, or "lock" when that is
// empty), '-', and the first 16 hex digits of the key's SHA-256.
func checkName(t *testing.T, key, name string) {
	t.Helper()
	if len(key) <= 63 && dnsLabel.MatchString(key) && !derivedSuffix.MatchString(key) {
		if name != key {
			t.Fatalf("Of(%q) = %q, want the key itself (a DNS label)", key, name)
		}
		return
	}
	if len(name) > 57 || !dnsLabel.MatchString(name) {
		t.Fatalf("Of(%q) = %q: not a DNS-1123 label of at most 57 bytes", key, name)
	}
	sum := sha256.Sum256([]byte(key))
	readable, ok := strings.CutSuffix(name, "-"+hex.EncodeToString(sum[:])[:16])
	if !ok {
		t.Fatalf("Of(%q) = %q: does not end in '-' and the key's hash", key, name)
	}
	if s := sanitise(key); s == "" {
		if readable != "lock" {
			t.Fatalf("Of(%q) = %q: readable part %q, want \"lock\" for a key without letters or digits", key, name, readable)
		}
	} else if !strings.HasPrefix(s, readable) || readable == "" {
		t.Fatalf("Of(%q) = %q: readable part %q is not a prefix of the sanitised key %q", key, name, readable, s)
	}
	if again := Of(key); again != name {
		t.Fatalf("Of(%q) is not deterministic: %q then %q", key, name, again)
	}
}

// FuzzObjectName: every key maps to a valid object name of the documented
// shape, and no two keys map to one name: the fuzzer pairs arbitrary keys
// (including ones that sanitise alike) and each key with a one-byte
// extension of itself.
func FuzzObjectName(f *testing.F) {
	for _, seed := range [][2]string{
		{"", "-"},
		{"a", "A"},
		{"a/b", "a-b"},
		{"..", "."},
		{"ü", "键"},
		{strings.Repeat("-a", 200), strings.Repeat("a-", 200)},
		{"scheduler:background:lease", "scheduler/background/lease"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, key, other string) {
		name := Of(key)
		checkName(t, key, name)
		otherName := Of(other)
		checkName(t, other, otherName)
		if key != other && name == otherName {
			t.Fatalf("keys %q and %q map to the same name %q", key, other, name)
		}
		if longer := key + "x"; Of(longer) == name {
			t.Fatalf("keys %q and %q map to the same name %q", key, longer, name)
		}
	})
}
