package sqlrecord

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// FuzzMetadataRoundTrip: whatever metadata the lock manager lets through
// (keys non-empty UTF-8 without control characters, values UTF-8 without
// NUL) comes back exactly from EncodeMetadata then DecodeMetadata, as the
// SQL backends store and read it; nil (SQL NULL, "keep" to a renewal)
// stays nil and an empty map stays empty.
func FuzzMetadataRoundTrip(f *testing.F) {
	f.Add("owner=team-a\nrun=42", false)
	f.Add("", true)
	f.Add("", false)
	f.Add("k:with#separators=v\nwith\ttab", false)
	f.Add("quote=\"'; DROP TABLE locks; --\\u0000<>&\u2028", false)
	f.Add("emoji😀=値", false)
	f.Fuzz(func(t *testing.T, lines string, isNil bool) {
		var md map[string]string
		if !isNil {
			md = map[string]string{}
			for _, line := range strings.Split(lines, "\n") {
				k, v, _ := strings.Cut(line, "=")
				if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) ||
					strings.IndexFunc(k, unicode.IsControl) >= 0 || strings.IndexByte(v, 0) >= 0 {
					return
				}
				md[k] = v
			}
		}
		param, err := EncodeMetadata(md)
		if err != nil {
			t.Fatalf("EncodeMetadata(%q): %v", md, err)
		}
		var raw []byte
		if param != nil {
			s, ok := param.(string)
			if !ok {
				t.Fatalf("EncodeMetadata(%q) = %T, want a string or nil", md, param)
			}
			raw = []byte(s)
		}
		got, err := DecodeMetadata(raw)
		if err != nil {
			t.Fatalf("DecodeMetadata(%q): %v", raw, err)
		}
		if diff := cmp.Diff(md, got); diff != "" {
			t.Fatalf("metadata round trip (-want +got):\n%s", diff)
		}
		if (md == nil) != (got == nil) {
			t.Fatalf("metadata round trip: nil-ness changed: sent %#v, got %#v", md, got)
		}
	})
}

// FuzzPrefixEnd: for a valid UTF-8 prefix, [prefix, end) holds exactly the
// valid UTF-8 keys that start with prefix (probed with a second fuzzed
// key), end is valid UTF-8, and there is no bound only for the empty
// prefix or one made only of U+10FFFF.
func FuzzPrefixEnd(f *testing.F) {
	f.Add("jobs/", "jobs/nightly")
	f.Add("", "anything")
	f.Add("a\x7f", "a\x7f\u0080")
	f.Add("\ud7ff", "\ud7ff\U0010FFFF")
	f.Add("a\U0010FFFF", "b")
	f.Add("\U0010FFFF", "\U0010FFFF\U0010FFFF")
	f.Add("é", "éz")
	f.Fuzz(func(t *testing.T, prefix, key string) {
		if !utf8.ValidString(prefix) || !utf8.ValidString(key) {
			return // keys and prefixes are validated UTF-8 before they get here
		}
		end, ok := PrefixEnd(prefix)
		if !ok {
			if strings.Trim(prefix, "\U0010FFFF") != "" {
				t.Fatalf("PrefixEnd(%q) found no bound", prefix)
			}
			return
		}
		if !utf8.ValidString(end) {
			t.Fatalf("PrefixEnd(%q) = %q, not valid UTF-8", prefix, end)
		}
		if end <= prefix {
			t.Fatalf("PrefixEnd(%q) = %q, not above the prefix", prefix, end)
		}
		inRange := key >= prefix && key < end
		if has := strings.HasPrefix(key, prefix); inRange != has {
			t.Fatalf("PrefixEnd(%q) = %q: key %q in range = %v, has prefix = %v", prefix, end, key, inRange, has)
		}
	})
}
