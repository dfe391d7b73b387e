package record

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The encoding is persisted (the scripts store it in the record): this
// pins it byte for byte, so that a change which records written by
// earlier versions would not survive fails here.
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

// The record's bytes are pinned too: the scripts write them with
// struct.pack('>i8i8i8i8i8i8I4I4'), and this is what that writes.
func TestRecordEncodingIsStable(t *testing.T) {
	r := Record{Token: 0x0102030405060708, Change: 2, AcquiredAt: 3, RenewedAt: 4, ExpiresAt: 5, LeaseMS: 6,
		Holder: "ho", Key: "k{}", Metadata: `{"a":"b"}`}
	want := "L" +
		"\x01\x02\x03\x04\x05\x06\x07\x08" + "\x00\x00\x00\x00\x00\x00\x00\x02" +
		"\x00\x00\x00\x00\x00\x00\x00\x03" + "\x00\x00\x00\x00\x00\x00\x00\x04" +
		"\x00\x00\x00\x00\x00\x00\x00\x05" + "\x00\x00\x00\x00\x00\x00\x00\x06" +
		"\x00\x00\x00\x02" + "\x00\x00\x00\x03" + "ho" + "k{}" + `{"a":"b"}`
	if got := r.Encode(); got != want {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
	got, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Fatalf("Decode (-want +got):\n%s", diff)
	}
	if v := got.Version(); v != "72623859790382856.2" {
		t.Fatalf("Version = %q", v)
	}
}

func TestDecodeRejectsDamagedRecords(t *testing.T) {
	good := Record{Token: 1, Holder: "h", Key: "k"}.Encode()
	for name, s := range map[string]string{
		"empty":             "",
		"short header":      good[:HeaderLen-1],
		"other format":      "X" + good[1:],
		"holder cut off":    good[:HeaderLen],
		"key cut off":       good[:len(good)-1],
		"the earlier hash?": "1753.0",
	} {
		if _, err := Decode(s); err == nil {
			t.Errorf("Decode(%s %q) succeeded, want an error", name, s)
		}
	}
}

// SplitVersion hands the scripts a version's numbers only in the form
// Version writes; anything else becomes "" "" and matches no record
// (ErrVersionMismatch), rather than a number Lua would read differently.
func TestSplitVersion(t *testing.T) {
	for _, tc := range []struct{ v, token, change string }{
		{"1764000000000000.0", "1764000000000000", "0"},
		{"7.12", "7", "12"},
		{"0.0", "0", "0"},
		{"07.1", "", ""},
		{"7.01", "", ""},
		{"7", "", ""},
		{"7.", "", ""},
		{".1", "", ""},
		{"7.1.1", "", ""},
		{"-7.1", "", ""},
		{"+7.1", "", ""},
		{"0x7.1", "", ""},
		{"7e3.1", "", ""},
		{"12345678901234567.1", "", ""},
		{"", "", ""},
		{"v1", "", ""},
	} {
		token, change := SplitVersion(tc.v)
		if token != tc.token || change != tc.change {
			t.Errorf("SplitVersion(%q) = %q, %q; want %q, %q", tc.v, token, change, tc.token, tc.change)
		}
	}
}
