package record

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// EncodeMetadata returns the script arguments for md: given is "1" with
// encoded its JSON, or "0" with "" for nil (a renewal that keeps the
// record's metadata). The scripts store encoded as the record's m field
// verbatim, so its format is persisted data.
func EncodeMetadata(md map[string]string) (given, encoded string, err error) {
	if md == nil {
		return "0", "", nil
	}
	// Keys and values are valid UTF-8 (the manager checks), so JSON
	// round-trips them byte for byte, separators and newlines included.
	raw, err := json.Marshal(md)
	if err != nil {
		return "", "", err
	}
	return "1", string(raw), nil
}

// Decode turns an "ok" reply {status, now, k, h, v, t, a, r, e, l, m} into
// a Lock with Held judged at the server's now.
func Decode(op, key string, reply []string) (backends.Lock, error) {
	if len(reply) != 11 {
		return backends.Lock{}, backends.Unavailable(op, key, fmt.Errorf("record reply has %d elements, want 11", len(reply)))
	}
	var nums [6]int64 // now, t, a, r, e, l
	for i, idx := range []int{1, 5, 6, 7, 8, 9} {
		n, err := strconv.ParseInt(reply[idx], 10, 64)
		if err != nil {
			return backends.Lock{}, backends.Unavailable(op, key, fmt.Errorf("corrupt record field %d: %q", idx, reply[idx]))
		}
		nums[i] = n
	}
	l := backends.Lock{
		Key:           reply[2],
		Holder:        reply[3],
		Version:       reply[4],
		FencingToken:  uint64(nums[1]),
		AcquiredAt:    time.UnixMicro(nums[2]),
		RenewedAt:     time.UnixMicro(nums[3]),
		ExpiresAt:     time.UnixMicro(nums[4]),
		LeaseDuration: time.Duration(nums[5]) * time.Millisecond,
	}
	l.Held = l.Holder != "" && nums[0] < nums[4]
	if reply[10] != "" {
		if err := json.Unmarshal([]byte(reply[10]), &l.Metadata); err != nil {
			return backends.Lock{}, backends.Unavailable(op, key, fmt.Errorf("corrupt metadata: %w", err))
		}
	}
	return l, nil
}

// DecodeGrant turns the "ok" reply of an acquire or renew, {status, now,
// v, t, a, m}, into the Lock granted to holder for lease with metadata md
// (nil when the caller gave none, and the reply's m is the record's). The
// script computed ExpiresAt as now + lease in µs, exactly as here.
func DecodeGrant(op, key, holder string, lease time.Duration, md map[string]string, reply []string) (backends.Lock, error) {
	if len(reply) != 6 {
		return backends.Lock{}, backends.Unavailable(op, key, fmt.Errorf("grant reply has %d elements, want 6", len(reply)))
	}
	var nums [3]int64 // now, t, a
	for i, idx := range [...]int{1, 3, 4} {
		n, err := strconv.ParseInt(reply[idx], 10, 64)
		if err != nil {
			return backends.Lock{}, backends.Unavailable(op, key, fmt.Errorf("corrupt record field %d: %q", idx, reply[idx]))
		}
		nums[i] = n
	}
	leaseMS := lease.Milliseconds()
	l := backends.Lock{
		Key:           key,
		Holder:        holder,
		Version:       reply[2],
		FencingToken:  uint64(nums[1]),
		AcquiredAt:    time.UnixMicro(nums[2]),
		RenewedAt:     time.UnixMicro(nums[0]),
		ExpiresAt:     time.UnixMicro(nums[0] + leaseMS*1000),
		LeaseDuration: time.Duration(leaseMS) * time.Millisecond,
	}
	l.Held = holder != "" && leaseMS > 0
	switch {
	case md != nil:
		l.Metadata = maps.Clone(md)
	case reply[5] != "":
		if err := json.Unmarshal([]byte(reply[5]), &l.Metadata); err != nil {
			return backends.Lock{}, backends.Unavailable(op, key, fmt.Errorf("corrupt metadata: %w", err))
		}
	}
	return l, nil
}
