package sqlrecord

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		md   map[string]string
		want any
	}{
		// SQL NULL, not the JSON null a nil map would encode to.
		{"Nil", nil, nil},
		{"Empty", map[string]string{}, "{}"},
		{"Entries", map[string]string{"b": "2", "a": "1"}, `{"a":"1","b":"2"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeMetadata(tc.md)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("EncodeMetadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMetadata(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     []byte
		want    map[string]string
		wantErr bool
	}{
		{"Null", nil, nil, false},
		{"Empty", []byte("{}"), map[string]string{}, false},
		{"Entries", []byte(`{"a":"1","b":"2"}`), map[string]string{"a": "1", "b": "2"}, false},
		{"NotJSON", []byte("{"), nil, true},
		{"EmptyText", []byte(""), nil, true},
		{"NotStrings", []byte(`{"a":1}`), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeMetadata(tc.raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodeMetadata(%q) error = %v, want error %v", tc.raw, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeMetadata(%q) (-want +got):\n%s", tc.raw, diff)
			}
		})
	}
}

// Whatever EncodeMetadata writes, DecodeMetadata reads back.
func TestMetadataRoundTrip(t *testing.T) {
	for _, md := range []map[string]string{nil, {}, {"k": "v", "é": "\x00"}} {
		enc, err := EncodeMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if enc != nil {
			raw = []byte(enc.(string))
		}
		got, err := DecodeMetadata(raw)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(md, got); diff != "" {
			t.Errorf("round trip of %v (-want +got):\n%s", md, diff)
		}
	}
}
