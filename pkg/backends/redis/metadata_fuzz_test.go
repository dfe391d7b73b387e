package redis

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// validMetadata is the lock manager's metadata rule (keys non-empty UTF-8
// without control characters, values UTF-8 without NUL): the maps a
// backend is ever given. The size bounds do not matter to encoding.
func validMetadata(md map[string]string) bool {
	for k, v := range md {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) ||
			strings.IndexFunc(k, unicode.IsControl) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}

// FuzzMetadataRoundTrip: whatever metadata passes validation comes back
// exactly from the record encoding: encodeMetadata writes the hash field
// that the scripts store and return verbatim, and decode reads it from the
// script's reply. (The scripts themselves only copy the field, so the
// pure encode/decode pair is the whole round trip; running it against the
// server per input would only slow the fuzzer.) nil stays nil ("keep" to
// a renewal), and an empty map stays empty.
func FuzzMetadataRoundTrip(f *testing.F) {
	f.Add("owner=team-a\nrun=42", false)
	f.Add("", true)
	f.Add("", false)
	f.Add("k:with#separators=v\nwith\ttab", false)
	f.Add("json=\"{}\"\\u0000<>&\u2028", false)
	f.Add("emoji😀=値\nnl=a\nb", false)
	f.Fuzz(func(t *testing.T, lines string, isNil bool) {
		var md map[string]string
		if !isNil {
			md = map[string]string{}
			for _, line := range strings.Split(lines, "\n") {
				k, v, _ := strings.Cut(line, "=")
				md[k] = v
			}
			if !validMetadata(md) {
				return
			}
		}
		given, encoded, err := encodeMetadata(md)
		if err != nil {
			t.Fatalf("encodeMetadata(%q): %v", md, err)
		}
		if want := map[bool]string{true: "0", false: "1"}[md == nil]; given != want {
			t.Fatalf("encodeMetadata(%q) given = %q, want %q", md, given, want)
		}
		reply := []string{"ok", "1000", "key", "holder", "v1", "7", "1", "1", "2000", "1000", encoded}
		l, err := decode("getting", "key", reply)
		if err != nil {
			t.Fatalf("decode of encoded %q: %v", encoded, err)
		}
		if diff := cmp.Diff(md, l.Metadata); diff != "" {
			t.Fatalf("metadata round trip (-want +got):\n%s", diff)
		}
		if (md == nil) != (l.Metadata == nil) {
			t.Fatalf("metadata round trip: nil-ness changed: sent %#v, got %#v", md, l.Metadata)
		}
	})
}
