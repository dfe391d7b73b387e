package linearcheck

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The builders below write histories compactly: each operation is a client,
// a call and a return time, and what was asked and answered.

func acq(key, holder string) Input { return Input{Kind: Acquire, Key: key, Holder: holder} }

func acqMeta(key, holder, meta string) Input {
	in := acq(key, holder)
	in.SetMeta, in.Meta = true, EncodeMeta(map[string]string{"m": meta})
	return in
}

func ren(key, holder, version string) Input {
	return Input{Kind: Renew, Key: key, Holder: holder, Version: version}
}

func rel(key, holder, version string, del bool) Input {
	return Input{Kind: Release, Key: key, Holder: holder, Version: version, Delete: del}
}

func get(key string) Input { return Input{Kind: Get, Key: key} }

// lock is an OK answer carrying a held record.
func lock(holder, version string, token uint64) Output {
	return Output{Result: OK, Holder: holder, Version: version, Token: token, Held: true}
}

func lockMeta(holder, version string, token uint64, meta string) Output {
	out := lock(holder, version, token)
	out.Meta = EncodeMeta(map[string]string{"m": meta})
	return out
}

// released is Get's answer for a released record.
func released(version string, token uint64) Output {
	return Output{Result: OK, Version: version, Token: token}
}

var (
	ok      = Output{Result: OK}
	unknown = Output{Result: Unknown}
)

func fail(r Result) Output { return Output{Result: r} }

func heldBy(holder string) Output { return Output{Result: LockHeld, Holder: holder} }

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
}

// never is the return time of an ambiguous operation: after everything.
const never = 1000

func TestModelAcceptsLinearizableHistories(t *testing.T) {
	tests := []struct {
		name string
		ops  []porcupine.Operation
	}{
		{"grant, renew, re-acquire, release with delete, grant with a higher token", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 3)),
			op(0, 2, 3, ren("k", "a", "v1"), lock("a", "v2", 3)),
			op(0, 4, 5, acq("k", "a"), lock("a", "v3", 3)),
			op(0, 6, 7, rel("k", "a", "v3", true), ok),
			op(1, 8, 9, get("k"), fail(NotFound)),
			op(1, 10, 11, acq("k", "b"), lock("b", "v1", 9)),
		}},
		{"concurrent acquirers: one wins, the other is told who holds it", []porcupine.Operation{
			op(0, 0, 10, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 1, 9, acq("k", "b"), heldBy("a")),
			op(2, 2, 8, acq("k", "c"), Output{Result: LockHeld}), // holder left before the read
		}},
		{"the later call can take effect first", []porcupine.Operation{
			op(0, 0, 10, acq("k", "a"), heldBy("b")),
			op(1, 1, 5, acq("k", "b"), lock("b", "v1", 1)),
		}},
		{"release keeping the record: a new version, the token kept, metadata cleared", []porcupine.Operation{
			op(0, 0, 1, acqMeta("k", "a", "x"), lockMeta("a", "v1", 4, "x")),
			op(0, 2, 3, rel("k", "a", "v1", false), ok),
			op(1, 4, 5, get("k"), released("v2", 4)),
			op(1, 6, 7, rel("k", "a", "v2", false), fail(NotHolder)),
			op(1, 8, 9, ren("k", "a", "v1"), fail(NotHolder)),
			op(2, 10, 11, acq("k", "b"), lock("b", "v3", 5)),
		}},
		{"metadata: nil keeps it, a map replaces it", []porcupine.Operation{
			op(0, 0, 1, acqMeta("k", "a", "x"), lockMeta("a", "v1", 1, "x")),
			op(0, 2, 3, acq("k", "a"), lockMeta("a", "v2", 1, "x")),
			op(0, 4, 5, acqMeta("k", "a", "y"), lockMeta("a", "v3", 1, "y")),
		}},
		{"errors in the contract's order", []porcupine.Operation{
			op(0, 0, 1, ren("k", "a", "v0"), fail(NotFound)),
			op(0, 2, 3, rel("k", "a", "v0", true), fail(NotFound)),
			op(0, 4, 5, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 6, 7, ren("k", "b", "v1"), fail(NotHolder)),
			op(0, 8, 9, ren("k", "a", "v0"), fail(VersionMismatch)),
			op(0, 10, 11, rel("k", "a", "v0", false), fail(VersionMismatch)),
		}},
		{"an ambiguous grant that took effect, seen by a read", []porcupine.Operation{
			op(0, 0, never, acq("k", "a"), unknown),
			op(1, 5, 6, get("k"), lock("a", "v7", 2)),
			op(0, 7, 8, ren("k", "a", "v7"), lock("a", "v8", 2)),
		}},
		{"an ambiguous grant that did not take effect", []porcupine.Operation{
			op(0, 0, never, acq("k", "a"), unknown),
			op(1, 5, 6, get("k"), fail(NotFound)),
			op(1, 7, 8, acq("k", "b"), lock("b", "v1", 1)),
		}},
		{"an ambiguous grant that took effect after its caller saw the error and after a read", []porcupine.Operation{
			op(0, 0, never, acq("k", "a"), unknown),
			op(1, 5, 6, get("k"), fail(NotFound)),
			op(1, 7, 8, acq("k", "a"), lock("a", "v2", 6)),
		}},
		{"an ambiguous renewal that took effect: the old version no longer matches", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, never, ren("k", "a", "v1"), unknown),
			op(0, 3, 4, ren("k", "a", "v1"), fail(VersionMismatch)),
			op(1, 5, 6, get("k"), lock("a", "v2", 1)),
			op(0, 7, 8, rel("k", "a", "v2", true), ok),
		}},
		{"an ambiguous grant's token is checked against the bound when it is seen", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 5)),
			op(0, 2, 3, rel("k", "a", "v1", true), ok),
			op(1, 4, never, acq("k", "b"), unknown),
			op(2, 6, 7, get("k"), lock("b", "v9", 6)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := Check(tt.ops, 10*time.Second, Options{}); v.Result != porcupine.Ok {
				t.Fatalf("Check = %s, want Ok", v.Result)
			}
		})
	}
}

// A checker that cannot fail is a defect: each of these histories breaks
// the contract in one way, and the model must reject it.
func TestModelRejectsViolations(t *testing.T) {
	tests := []struct {
		name string
		ops  []porcupine.Operation
	}{
		{"two grants to different holders, no release between", []porcupine.Operation{
			op(0, 0, 10, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 5, 15, acq("k", "b"), lock("b", "v2", 2)),
		}},
		{"two grants to different holders, one after the other", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 2, 3, acq("k", "b"), lock("b", "v2", 2)),
		}},
		{"a token that does not increase across a delete", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 5)),
			op(0, 2, 3, rel("k", "a", "v1", true), ok),
			op(1, 4, 5, acq("k", "b"), lock("b", "v2", 5)),
		}},
		{"a token lower than an ambiguous grant's that a read saw", []porcupine.Operation{
			op(0, 0, never, acq("k", "a"), unknown),
			op(1, 1, 2, get("k"), lock("a", "v1", 7)),
			op(1, 3, 4, rel("k", "a", "v1", false), ok),
			op(2, 5, 6, acq("k", "b"), lock("b", "v2", 6)),
		}},
		{"a re-acquire by the holder that changes the token", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, 3, acq("k", "a"), lock("a", "v2", 2)),
		}},
		{"a renewal that keeps the version", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, 3, ren("k", "a", "v1"), lock("a", "v1", 1)),
		}},
		{"a renewal succeeding with a stale version", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, 3, ren("k", "a", "v1"), lock("a", "v2", 1)),
			op(0, 4, 5, ren("k", "a", "v1"), lock("a", "v3", 1)),
		}},
		{"a renewal by the released holder succeeding", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, 3, rel("k", "a", "v1", false), ok),
			op(0, 4, 5, ren("k", "a", "v1"), lock("a", "v2", 1)),
		}},
		{"a renewal after an ambiguous renewal succeeding with the old version", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, never, ren("k", "a", "v1"), unknown),
			op(1, 3, 4, get("k"), lock("a", "v2", 1)),
			op(0, 5, 6, ren("k", "a", "v1"), lock("a", "v3", 1)),
		}},
		{"a read showing the holder after its release returned", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, 3, rel("k", "a", "v1", true), ok),
			op(1, 4, 5, get("k"), lock("a", "v1", 1)),
		}},
		{"a read of a held record with Held false", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 2, 3, get("k"), Output{Result: OK, Holder: "a", Version: "v1", Token: 1}),
		}},
		{"the previous holder's metadata inherited by a new grant", []porcupine.Operation{
			op(0, 0, 1, acqMeta("k", "a", "x"), lockMeta("a", "v1", 1, "x")),
			op(0, 2, 3, rel("k", "a", "v1", false), ok),
			op(1, 4, 5, acq("k", "b"), lockMeta("b", "v3", 2, "x")),
		}},
		{"an error out of the contract's order (version checked before holder)", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 2, 3, ren("k", "b", "v0"), fail(VersionMismatch)),
		}},
		{"ErrLockHeld naming a holder other than the current one", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 2, 3, acq("k", "b"), heldBy("c")),
		}},
		{"ErrLockHeld on a free key", []porcupine.Operation{
			op(1, 0, 1, acq("k", "b"), heldBy("a")),
		}},
		{"ErrLeaseExpired, which long leases never give", []porcupine.Operation{
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(0, 2, 3, ren("k", "a", "v1"), fail(LeaseExpired)),
		}},
		{"an ambiguous grant explains only its own holder", []porcupine.Operation{
			op(0, 0, never, acq("k", "a"), unknown),
			op(1, 1, 2, get("k"), lock("c", "v1", 1)),
		}},
		{"a violation on one key is found among operations on another", []porcupine.Operation{
			op(0, 0, 1, acq("other", "a"), lock("a", "v1", 1)),
			op(0, 0, 1, acq("k", "a"), lock("a", "v1", 1)),
			op(1, 2, 3, acq("other", "a"), lock("a", "v2", 1)),
			op(1, 2, 3, acq("k", "b"), lock("b", "v2", 2)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := Check(tt.ops, 10*time.Second, Options{}); v.Result != porcupine.Illegal {
				t.Fatalf("Check = %s, want Illegal", v.Result)
			}
		})
	}
}

// FreeRecordsAppear admits the Kubernetes backend's free object, made by
// the first of an Acquire's two writes, and nothing more: the object does
// not vanish again without a delete, and the strict model rejects it.
func TestFreeRecordsAppear(t *testing.T) {
	seenFree := []porcupine.Operation{
		op(0, 0, 10, acq("k", "a"), heldBy("b")),
		op(1, 1, 2, get("k"), released("v1", 0)),
		op(2, 3, 4, ren("k", "c", "v1"), fail(NotHolder)),
		op(1, 5, 9, acq("k", "b"), lock("b", "v2", 2)),
	}
	vanished := []porcupine.Operation{
		op(1, 1, 2, get("k"), released("v1", 0)),
		op(1, 3, 4, get("k"), fail(NotFound)),
	}
	tests := []struct {
		name string
		ops  []porcupine.Operation
		opts Options
		want porcupine.CheckResult
	}{
		{"a free record seen during an acquire, allowed", seenFree, Options{FreeRecordsAppear: true}, porcupine.Ok},
		{"a free record seen during an acquire, strict", seenFree, Options{}, porcupine.Illegal},
		{"a free record that vanishes without a delete", vanished, Options{FreeRecordsAppear: true}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := Check(tt.ops, 10*time.Second, tt.opts); v.Result != tt.want {
				t.Fatalf("Check = %s, want %s", v.Result, tt.want)
			}
		})
	}
}
