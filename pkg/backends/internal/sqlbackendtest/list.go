package sqlbackendtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/backends"
)

// ListKeys lists every key under prefix, one page at a time.
func ListKeys(t *testing.T, b backends.Backend, prefix string) []string {
	t.Helper()
	var keys []string
	token := ""
	for {
		page, err := b.List(context.Background(), &backends.ListRequest{Prefix: prefix, Limit: 2, PageToken: token})
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		for _, l := range page.Locks {
			keys = append(keys, l.Key)
		}
		if page.NextPageToken == "" {
			return keys
		}
		token = page.NextPageToken
	}
}

// ListPrefixAtRuneBoundaries checks that prefixes whose range ends at a
// rune boundary (a multi-byte rune, the last code point, the edge of the
// surrogates) select exactly their keys, in byte order. b must be an empty
// namespace.
func ListPrefixAtRuneBoundaries(t *testing.T, b backends.Backend) {
	t.Helper()
	keys := []string{"a", "a\U0010FFFF", "a\U0010FFFFz", "b", "é", "éa", "ê", "\ud7ff", "\ud7ffx", "\ue000", "z\x7f", "z\x7fq", "z\u0080"}
	for _, k := range keys {
		if _, err := b.Acquire(context.Background(), &backends.AcquireRequest{Key: k, Holder: "h", LeaseDuration: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	for prefix, want := range map[string][]string{
		"a\U0010FFFF": {"a\U0010FFFF", "a\U0010FFFFz"},
		"a":           {"a", "a\U0010FFFF", "a\U0010FFFFz"},
		"é":           {"é", "éa"},
		"\ud7ff":      {"\ud7ff", "\ud7ffx"},
		"z\x7f":       {"z\x7f", "z\x7fq"},
		"":            {"a", "a\U0010FFFF", "a\U0010FFFFz", "b", "z\x7f", "z\x7fq", "z\u0080", "é", "éa", "ê", "\ud7ff", "\ud7ffx", "\ue000"},
	} {
		if diff := cmp.Diff(want, ListKeys(t, b, prefix)); diff != "" {
			t.Errorf("prefix %q (-want +got):\n%s", prefix, diff)
		}
	}
}
