package record

import "testing"

// The encoding is persisted (the scripts store it as the record's m
// field): this pins it byte for byte, so that a change which records
// written by earlier versions would not survive fails here.
func TestEncodeMetadataIsStable(t *testing.T) {
	for _, tc := range []struct {
		md            map[string]string
		given, stored string
	}{
		{nil, "0", ""},
		{map[string]string{}, "1", "{}"},
		{map[string]string{"owner": "team-a", "b": "<&>", "a": "x\u2028y", "é": "\"q\"\n"},
			"1", `{"a":"x\u2028y","b":"\u003c\u0026\u003e","owner":"team-a","é":"\"q\"\n"}`},
	} {
		given, stored, err := EncodeMetadata(tc.md)
		if err != nil || given != tc.given || stored != tc.stored {
			t.Errorf("EncodeMetadata(%q) = %q, %q, %v; want %q, %q, nil", tc.md, given, stored, err, tc.given, tc.stored)
		}
	}
}
