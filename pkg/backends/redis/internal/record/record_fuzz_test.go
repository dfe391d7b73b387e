package record

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
// exactly from the record encoding: EncodeMetadata writes the part of the
// record that the scripts store and return verbatim, and Lock (a Get's
// reply) and Grant (a renewal that kept the record's metadata) read it
// back. (The scripts themselves only copy the field, so the pure
// encode/decode pair is the whole round trip; running it against the
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
		given, encoded, err := EncodeMetadata(md)
		if err != nil {
			t.Fatalf("EncodeMetadata(%q): %v", md, err)
		}
		if want := map[bool]string{true: "0", false: "1"}[md == nil]; given != want {
			t.Fatalf("EncodeMetadata(%q) given = %q, want %q", md, given, want)
		}
		stored := Record{Token: 7, AcquiredAt: 1, RenewedAt: 1, ExpiresAt: 2000, LeaseMS: 1, Holder: "holder", Key: "key", Metadata: encoded}.Encode()
		r, err := Decode(stored)
		if err != nil {
			t.Fatalf("Decode of a record with metadata %q: %v", encoded, err)
		}
		l, err := r.Lock(1000)
		if err != nil {
			t.Fatalf("Lock of encoded %q: %v", encoded, err)
		}
		checkRoundTrip(t, "Lock", md, l.Metadata)
		l, err = r.Grant("key", "holder", nil)
		if err != nil {
			t.Fatalf("Grant of encoded %q: %v", encoded, err)
		}
		checkRoundTrip(t, "Grant", md, l.Metadata)
	})
}

func checkRoundTrip(t *testing.T, via string, sent, got map[string]string) {
	t.Helper()
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Fatalf("metadata round trip through %s (-want +got):\n%s", via, diff)
	}
	if (sent == nil) != (got == nil) {
		t.Fatalf("metadata round trip through %s: nil-ness changed: sent %#v, got %#v", via, sent, got)
	}
}
