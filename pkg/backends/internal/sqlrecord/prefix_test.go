package sqlrecord

import "testing"

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		prefix, want string
		ok           bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"jobs/", "jobs0", true},
		{"a\x7f", "a\u0080", true}, // one byte to two
		{"é", "ê", true},
		{"\ud7ff", "\ue000", true}, // skips the surrogates
		{"a\U0010FFFF", "b", true}, // carries past the last rune
		{"\U0010FFFF\U0010FFFF", "", false},
	} {
		got, ok := PrefixEnd(tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("PrefixEnd(%q) = %q, %v; want %q, %v", tc.prefix, got, ok, tc.want, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		// The bound is above every extension of the prefix, and no string
		// below it and at or above the prefix lacks the prefix.
		for _, ext := range []string{"", "\x00", "z", "\U0010FFFF\U0010FFFF"} {
			if s := tc.prefix + ext; s >= got {
				t.Errorf("PrefixEnd(%q) = %q is not above %q", tc.prefix, got, s)
			}
		}
		if got <= tc.prefix {
			t.Errorf("PrefixEnd(%q) = %q is not above the prefix", tc.prefix, got)
		}
	}
}
