package record

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Format is the first byte of every record.
const Format = 'L'

// HeaderLen is the length of a record before its holder.
const HeaderLen = 1 + 6*8 + 2*4

// Reply statuses: the first byte of every script reply.
const (
	StatusOK           = 'O'
	StatusHeld         = 'H'
	StatusNotFound     = 'N'
	StatusNotHolder    = 'X'
	StatusMismatch     = 'M'
	StatusLeaseExpired = 'E'
)

// Record is a decoded record. Holder, Key and Metadata share the memory
// of the string they were decoded from.
type Record struct {
	Token, Change                    int64
	AcquiredAt, RenewedAt, ExpiresAt int64 // server µs since the Unix epoch
	LeaseMS                          int64
	Holder, Key, Metadata            string
}

// Encode returns r in the stored format (the scripts write it with
// struct.pack; Encode serves tests and tools that write records).
func (r Record) Encode() string {
	b := make([]byte, 0, HeaderLen+len(r.Holder)+len(r.Key)+len(r.Metadata))
	b = append(b, Format)
	for _, n := range [...]int64{r.Token, r.Change, r.AcquiredAt, r.RenewedAt, r.ExpiresAt, r.LeaseMS} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Holder)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Key)))
	b = append(b, r.Holder...)
	b = append(b, r.Key...)
	b = append(b, r.Metadata...)
	return string(b)
}

var errShort = errors.New("record is shorter than its header says")

// Decode reads a record in the stored format.
func Decode(s string) (Record, error) {
	if len(s) < HeaderLen {
		return Record{}, fmt.Errorf("record of %d bytes, want at least %d", len(s), HeaderLen)
	}
	if s[0] != Format {
		return Record{}, fmt.Errorf("record format byte %q, want %q", s[0], Format)
	}
	u64 := func(i int) int64 { return int64(binary.BigEndian.Uint64([]byte(s[1+8*i : 9+8*i]))) }
	r := Record{
		Token: u64(0), Change: u64(1),
		AcquiredAt: u64(2), RenewedAt: u64(3), ExpiresAt: u64(4), LeaseMS: u64(5),
	}
	hl := uint64(binary.BigEndian.Uint32([]byte(s[49:53])))
	kl := uint64(binary.BigEndian.Uint32([]byte(s[53:57])))
	if uint64(len(s)-HeaderLen) < hl+kl {
		return Record{}, errShort
	}
	h, k := HeaderLen+int(hl), HeaderLen+int(hl)+int(kl)
	r.Holder, r.Key, r.Metadata = s[HeaderLen:h], s[h:k], s[k:]
	return r, nil
}

// Version returns the record's version, "<token>.<change>".
func (r Record) Version() string {
	var buf [48]byte
	b := strconv.AppendInt(buf[:0], r.Token, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, r.Change, 10)
	return string(b)
}

// SplitVersion returns the token and change counter of a version in the
// form Version writes, as the decimal strings the scripts compare, or two
// empty strings (which match no record) for any other string.
func SplitVersion(v string) (token, change string) {
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			if canonical(v[:i]) && canonical(v[i+1:]) {
				return v[:i], v[i+1:]
			}
			break
		}
	}
	return "", ""
}

// canonical reports whether s is a decimal that Lua reads exactly and
// strconv writes the same way: digits without a leading zero, below 2^53.
func canonical(s string) bool {
	if s == "" || len(s) > 16 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Reply splits a script's reply that carries a record ("O" or "H": the
// status, the server's now in µs, the record).
func Reply(reply string) (now int64, r Record, err error) {
	if len(reply) < 9 {
		return 0, Record{}, fmt.Errorf("reply of %d bytes carries no record", len(reply))
	}
	now = int64(binary.BigEndian.Uint64([]byte(reply[1:9])))
	r, err = Decode(reply[9:])
	return now, r, err
}

// Lock returns the record as a Lock with Held judged at the server's now.
func (r Record) Lock(now int64) (backends.Lock, error) {
	l := r.lock(r.Key, r.Holder)
	l.Held = r.Holder != "" && now < r.ExpiresAt
	var err error
	l.Metadata, err = DecodeMetadata(r.Metadata)
	return l, err
}

// Grant returns the Lock a grant or renewal wrote, for the caller that
// asked: key and holder are the caller's (equal to the record's, without
// keeping the reply's memory), and md, when the caller gave metadata, is
// copied rather than decoded again.
func (r Record) Grant(key, holder string, md map[string]string) (backends.Lock, error) {
	l := r.lock(key, holder)
	l.Held = holder != "" && r.LeaseMS > 0
	if md != nil {
		l.Metadata = maps.Clone(md)
		return l, nil
	}
	var err error
	l.Metadata, err = DecodeMetadata(r.Metadata)
	return l, err
}

// lock is the record as a Lock under key and holder, without Held and
// Metadata.
func (r Record) lock(key, holder string) backends.Lock {
	return backends.Lock{
		Key:           key,
		Holder:        holder,
		Version:       r.Version(),
		FencingToken:  uint64(r.Token),
		AcquiredAt:    time.UnixMicro(r.AcquiredAt),
		RenewedAt:     time.UnixMicro(r.RenewedAt),
		ExpiresAt:     time.UnixMicro(r.ExpiresAt),
		LeaseDuration: time.Duration(r.LeaseMS) * time.Millisecond,
	}
}

// EncodeMetadata returns the script arguments for md: given is "1" with
// encoded its JSON, or "0" with "" for nil (a renewal that keeps the
// record's metadata). The scripts store encoded in the record verbatim,
// so its format is persisted data.
func EncodeMetadata(md map[string]string) (given, encoded string, err error) {
	if md == nil {
		return "0", "", nil
	}
	if len(md) == 0 {
		return "1", "{}", nil
	}
	// Keys and values are valid UTF-8 (the manager checks), so JSON
	// round-trips them byte for byte, separators and newlines included.
	raw, err := json.Marshal(md)
	if err != nil {
		return "", "", err
	}
	return "1", string(raw), nil
}

// DecodeMetadata reads what EncodeMetadata wrote: nil for "", an empty
// map for "{}".
func DecodeMetadata(s string) (map[string]string, error) {
	switch s {
	case "":
		return nil, nil
	case "{}":
		return map[string]string{}, nil
	}
	var md map[string]string
	if err := json.Unmarshal([]byte(s), &md); err != nil {
		return nil, fmt.Errorf("corrupt metadata: %w", err)
	}
	return md, nil
}
