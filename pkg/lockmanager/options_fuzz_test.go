package lockmanager

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leasehold/leasehold/pkg/backends"
)

// fuzzMetadata builds a metadata map from fuzz input: one "key=value" per
// line, extra entries "xN" (to cross the entry limit), and pad bytes added
// to the first value (to cross the size limit). isNil gives a nil map.
func fuzzMetadata(lines string, extra uint8, pad uint16, isNil bool) map[string]string {
	if isNil {
		return nil
	}
	md := map[string]string{}
	first := ""
	for i, line := range strings.Split(lines, "\n") {
		if line == "" && i > 0 {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if i == 0 {
			first = k
		}
		md[k] = v
	}
	for i := range int(extra) {
		md["x"+strings.Repeat("y", i)] = ""
	}
	md[first] += strings.Repeat("p", int(pad))
	return md
}

// invalidFields is the contract's rule for AcquireOptions (docs/contract.md and
// lockmanager's doc comments), written independently of the code under
// test: the set of fields that break it.
func invalidFields(o AcquireOptions) map[string]bool {
	bad := map[string]bool{}
	name := func(s string) bool {
		if s == "" || len(s) > 256 || !utf8.ValidString(s) {
			return false
		}
		return strings.IndexFunc(s, unicode.IsControl) < 0
	}
	if !name(o.Key) {
		bad["Key"] = true
	}
	if !name(o.Holder) {
		bad["Holder"] = true
	}
	if o.LeaseDuration < time.Second || o.LeaseDuration > 24*time.Hour || o.LeaseDuration%time.Millisecond != 0 {
		bad["LeaseDuration"] = true
	}
	if o.Wait != WaitForever && (o.Wait < 0 || o.Wait > 24*time.Hour) {
		bad["Wait"] = true
	}
	if o.RefreshPeriod != 0 && (o.RefreshPeriod < 10*time.Millisecond || o.RefreshPeriod >= o.LeaseDuration) {
		bad["RefreshPeriod"] = true
	}
	total := 0
	for k, v := range o.Metadata {
		total += len(k) + len(v)
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) ||
			strings.IndexFunc(k, unicode.IsControl) >= 0 || strings.IndexByte(v, 0) >= 0 {
			bad["Metadata"] = true
		}
	}
	if len(o.Metadata) > 64 || total > 16<<10 {
		bad["Metadata"] = true
	}
	return bad
}

// FuzzAcquireOptions: validation never panics; options the contract allows
// are accepted; any other set fails with ErrInvalidArgument naming one of
// the fields that break the rules. (TestOptionsAreValidated checks that every
// call validates its options.)
func FuzzAcquireOptions(f *testing.F) {
	f.Add("jobs:nightly", "worker-1", int64(30_000), int64(0), int64(0), "owner=team-a", uint8(0), uint16(0), false)
	f.Add("k", "h", int64(1000), int64(24*3600*1000), int64(10), "", uint8(0), uint16(0), true)
	f.Add("", "h", int64(1000), int64(0), int64(0), "", uint8(0), uint16(0), true)
	f.Add("k\x00", "h", int64(1000), int64(0), int64(0), "", uint8(0), uint16(0), true)
	f.Add("k", "h\xff", int64(1000), int64(0), int64(0), "", uint8(0), uint16(0), true)
	f.Add("k", "h", int64(999), int64(0), int64(0), "", uint8(0), uint16(0), true)
	f.Add("k", "h", int64(1000), int64(-1), int64(0), "", uint8(0), uint16(0), true)
	f.Add("k", "h", int64(1000), int64(0), int64(1000), "", uint8(0), uint16(0), true)
	f.Add("k", "h", int64(1000), int64(0), int64(0), "=v", uint8(0), uint16(0), false)
	f.Add("k", "h", int64(1000), int64(0), int64(0), "a=b", uint8(64), uint16(0), false)
	f.Add("k", "h", int64(1000), int64(0), int64(0), "a=b", uint8(0), uint16(16<<10), false)
	f.Add("k", "h", int64(1000), int64(0), int64(0), "a=b\x00", uint8(0), uint16(0), false)
	f.Fuzz(func(t *testing.T, key, holder string, leaseUnits, waitMs, refreshMs int64, md string, extra uint8, pad uint16, nilMD bool) {
		o := AcquireOptions{
			Key:           key,
			Holder:        holder,
			Wait:          time.Duration(waitMs) * time.Millisecond,
			RefreshPeriod: time.Duration(refreshMs) * time.Millisecond,
			Metadata:      fuzzMetadata(md, extra, pad, nilMD),
		}
		// Leases are given in milliseconds, except that values ending in
		// 7 are microseconds, so that sub-millisecond leases are reached.
		if leaseUnits%10 == 7 {
			o.LeaseDuration = time.Duration(leaseUnits) * time.Microsecond
		} else {
			o.LeaseDuration = time.Duration(leaseUnits) * time.Millisecond
		}
		bad := invalidFields(o)
		err := o.validate()
		if len(bad) == 0 {
			if err != nil {
				t.Fatalf("validate(%+v) = %v, want nil", o, err)
			}
			return
		}
		if !errors.Is(err, backends.ErrInvalidArgument) {
			t.Fatalf("validate with invalid %v = %v, want ErrInvalidArgument", bad, err)
		}
		field, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), backends.ErrInvalidArgument.Error()+": "), ":")
		if !bad[field] {
			t.Fatalf("validate with invalid %v: error %q names %q", bad, err, field)
		}
	})
}
