package linearcheck

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind names an operation.
type Kind uint8

// The operations the model knows.
const (
	Acquire Kind = iota
	Renew
	Release
	Get
)

func (k Kind) String() string {
	switch k {
	case Acquire:
		return "Acquire"
	case Renew:
		return "Renew"
	case Release:
		return "Release"
	case Get:
		return "Get"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// Input is an operation's request.
type Input struct {
	Kind   Kind
	Key    string
	Holder string // Acquire, Renew, Release
	// Version is the version presented to Renew and Release.
	Version string
	// Delete is Release's delete flag.
	Delete bool
	// SetMeta says the request carried metadata (a non-nil map, possibly
	// empty); Meta is its encoding (EncodeMeta).
	SetMeta bool
	Meta    string
}

// Result is what an operation answered, as far as the contract tells
// answers apart.
type Result uint8

// The results. Unknown is an ambiguous outcome.
const (
	OK Result = iota
	Unknown
	LockHeld
	NotFound
	NotHolder
	VersionMismatch
	LeaseExpired
)

func (r Result) String() string {
	return [...]string{"ok", "unknown", "ErrLockHeld", "ErrNotFound", "ErrNotHolder", "ErrVersionMismatch", "ErrLeaseExpired"}[r]
}

// Output is an operation's response. For OK from Acquire, Renew and Get it
// holds the returned record; for LockHeld, Holder is the HeldError's
// holder.
type Output struct {
	Result  Result
	Holder  string
	Version string
	Token   uint64
	Held    bool
	Meta    string
	// Err is the error's text, for the visualization only.
	Err string
}

// State is one key's record as the model knows it. It is a comparable
// value: porcupine caches visited states and compares them with ==.
type State struct {
	// Exists is false before the first write and after a release with
	// delete.
	Exists bool
	// Holder is empty when the record is released.
	Holder string
	// Version is the record's version when VersionKnown; otherwise the
	// record has a version nobody has seen yet (see the package doc).
	Version      string
	VersionKnown bool
	// Token is the grant's token when TokenKnown; otherwise the least value
	// it can have.
	Token      uint64
	TokenKnown bool
	// NextToken is the least token the next grant may carry: one more than
	// the highest token granted so far, as far as the history shows.
	NextToken uint64
	// Meta is the record's metadata (EncodeMeta).
	Meta string
}

// EncodeMeta encodes metadata canonically: nil and empty maps encode
// alike, since reads do not tell them apart.
func EncodeMeta(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%q=%q;", k, m[k])
	}
	return b.String()
}

// Options select documented deviations of a backend from the strict
// model. Each one weakens the check, so each names the backend that needs
// it and why.
type Options struct {
	// FreeRecordsAppear lets a missing record become a free one (no
	// holder, token 0, a version nobody saw) at any moment. The Kubernetes
	// backend's Acquire of a missing key is two writes: it creates the
	// object free, then grants it with a guarded update; the free object is
	// visible in between (to Get, and to Renew and Release as ErrNotHolder
	// instead of ErrNotFound), and stays if the grant fails or goes to
	// another acquirer. The model cannot tie that first write to its
	// Acquire, which returns later with the outcome of the second.
	FreeRecordsAppear bool
}

// stepWith is step, with the deviations opts allows.
func stepWith(opts Options, s State, in Input, out Output) []State {
	if !opts.FreeRecordsAppear || s.Exists {
		return step(s, in, out)
	}
	free := State{Exists: true, TokenKnown: true, NextToken: s.NextToken}
	next := step(s, in, out)
	for _, n := range step(free, in, out) {
		if !slices.Contains(next, n) {
			next = append(next, n)
		}
	}
	return next
}

// step returns every state the record can be in after the operation, or
// none if it could not have answered out from state s.
func step(s State, in Input, out Output) []State {
	if in.Kind == Get {
		if readable(s, out) {
			return []State{reveal(s, out)}
		}
		return nil
	}
	var next State
	var decided Result
	switch in.Kind {
	case Acquire:
		next, decided = acquire(s, in)
	case Renew:
		next, decided = renew(s, in)
	case Release:
		next, decided = release(s, in)
	}
	switch out.Result {
	case Unknown:
		if decided == OK {
			return []State{s, next}
		}
		return []State{s}
	case OK:
		if decided != OK || in.Kind == Release {
			if decided == OK {
				return []State{next}
			}
			return nil
		}
		return granted(s, next, in, out)
	case LockHeld:
		// The contract lets the holder be empty when the backend saw the
		// lock held but found it free by the time it read who held it.
		if decided == LockHeld && (out.Holder == s.Holder || out.Holder == "") {
			return []State{s}
		}
		return nil
	default:
		if out.Result == decided {
			return []State{s}
		}
		return nil
	}
}

// acquire returns the state after Acquire takes effect, with the new
// version and, for a new grant, the token unknown; or the error it must
// answer.
func acquire(s State, in Input) (State, Result) {
	switch {
	case !s.Exists || s.Holder == "":
		return State{
			Exists: true, Holder: in.Holder,
			Token: s.NextToken, NextToken: s.NextToken + 1,
			Meta: in.Meta, // nil metadata encodes as none
		}, OK
	case s.Holder == in.Holder:
		return extended(s, in), OK
	default:
		return s, LockHeld
	}
}

// extended is s renewed by its holder: a new version, the same token, the
// metadata replaced only when the request carried some.
func extended(s State, in Input) State {
	s.Version, s.VersionKnown = "", false
	if in.SetMeta {
		s.Meta = in.Meta
	}
	return s
}

// guard is the check Renew and Release share, in the contract's order.
func guard(s State, in Input) Result {
	switch {
	case !s.Exists:
		return NotFound
	case s.Holder != in.Holder:
		return NotHolder
	case !s.VersionKnown || s.Version != in.Version:
		// An unseen version is new, so no version a caller can present
		// matches it.
		return VersionMismatch
	default:
		return OK
	}
}

func renew(s State, in Input) (State, Result) {
	if r := guard(s, in); r != OK {
		return s, r
	}
	return extended(s, in), OK
}

func release(s State, in Input) (State, Result) {
	if r := guard(s, in); r != OK {
		return s, r
	}
	if in.Delete {
		return State{NextToken: s.NextToken}, OK
	}
	s.Holder, s.Meta = "", ""
	s.Version, s.VersionKnown = "", false
	return s, OK
}

// granted checks the record an Acquire or Renew returned against next, the
// state its effect leads to from s with version (and for a new grant,
// token) unknown, and returns next with the returned values filled in.
func granted(s, next State, in Input, out Output) []State {
	if out.Holder != in.Holder || !out.Held || out.Meta != next.Meta {
		return nil
	}
	if s.Exists && s.VersionKnown && out.Version == s.Version {
		return nil // the version must change
	}
	if !tokenFits(next, out.Token) {
		return nil
	}
	next.Version, next.VersionKnown = out.Version, true
	return []State{withToken(next, out.Token)}
}

// tokenFits reports whether a record in state s can carry token t.
func tokenFits(s State, t uint64) bool {
	if s.TokenKnown {
		return t == s.Token
	}
	return t >= s.Token
}

// withToken fixes s's token to t (which fits).
func withToken(s State, t uint64) State {
	s.Token, s.TokenKnown = t, true
	s.NextToken = max(s.NextToken, t+1)
	return s
}

// readable reports whether Get could answer out from s.
func readable(s State, out Output) bool {
	switch out.Result {
	case Unknown:
		return true
	case NotFound:
		return !s.Exists
	case OK:
		return s.Exists &&
			out.Holder == s.Holder &&
			out.Held == (s.Holder != "") &&
			out.Meta == s.Meta &&
			(!s.VersionKnown || out.Version == s.Version) &&
			tokenFits(s, out.Token)
	default:
		return false
	}
}

// reveal fixes the version and token a successful Get showed.
func reveal(s State, out Output) State {
	if out.Result != OK {
		return s
	}
	s.Version, s.VersionKnown = out.Version, true
	return withToken(s, out.Token)
}

// Model is the porcupine model of a lock record, partitioned by key, with
// the deviations opts allows.
func Model(opts Options) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: partition,
		Init:      func() []any { return []any{State{}} },
		Step: func(state, input, output any) []any {
			next := stepWith(opts, state.(State), input.(Input), output.(Output))
			states := make([]any, len(next))
			for i, n := range next {
				states[i] = n
			}
			return states
		},
		Equal:             func(a, b any) bool { return a.(State) == b.(State) },
		Hash:              hash,
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
	}
	return nm.ToModel()
}

// hash hashes every field of a State, so that equal states hash alike.
func hash(state any) uint64 {
	s := state.(State)
	h := fnv.New64a()
	var flags [3]byte
	for i, f := range []bool{s.Exists, s.VersionKnown, s.TokenKnown} {
		if f {
			flags[i] = 1
		}
	}
	_, _ = h.Write(flags[:])
	_, _ = h.Write(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, s.Token), s.NextToken))
	for _, str := range []string{s.Holder, s.Version, s.Meta} {
		_, _ = h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(str))))
		_, _ = h.Write([]byte(str))
	}
	return h.Sum64()
}

func partition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	parts := make([][]porcupine.Operation, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		parts = append(parts, byKey[k])
	}
	return parts
}

func describeOperation(input, output any) string {
	in, out := input.(Input), output.(Output)
	var b strings.Builder
	fmt.Fprintf(&b, "%s(%q", in.Kind, in.Key)
	if in.Kind != Get {
		fmt.Fprintf(&b, ", %q", in.Holder)
	}
	if in.Kind == Renew || in.Kind == Release {
		fmt.Fprintf(&b, ", v=%s", in.Version)
	}
	if in.Kind == Release && in.Delete {
		b.WriteString(", delete")
	}
	if in.SetMeta {
		fmt.Fprintf(&b, ", meta={%s}", in.Meta)
	}
	b.WriteString(") -> ")
	switch {
	case out.Result == OK && in.Kind != Release:
		fmt.Fprintf(&b, "{holder=%q v=%s token=%d held=%t meta={%s}}", out.Holder, out.Version, out.Token, out.Held, out.Meta)
	case out.Result == LockHeld:
		fmt.Fprintf(&b, "ErrLockHeld(%q)", out.Holder)
	case out.Result == Unknown:
		fmt.Fprintf(&b, "unknown (%s)", out.Err)
	default:
		b.WriteString(out.Result.String())
	}
	return b.String()
}

func describeState(state any) string {
	s := state.(State)
	if !s.Exists {
		return fmt.Sprintf("absent, next token >= %d", s.NextToken)
	}
	version := s.Version
	if !s.VersionKnown {
		version = "?"
	}
	token := fmt.Sprint(s.Token)
	if !s.TokenKnown {
		token = fmt.Sprintf(">=%d", s.Token)
	}
	holder := fmt.Sprintf("%q", s.Holder)
	if s.Holder == "" {
		holder = "released"
	}
	return fmt.Sprintf("%s v=%s token=%s meta={%s}", holder, version, token, s.Meta)
}
