package history

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = time.Millisecond

func iv(key, client string, token uint64, start, end time.Duration) Interval {
	return Interval{Key: key, Client: client, Token: token, Start: start * ms, End: end * ms}
}

func accepted(seq int, key, client string, token uint64) Write {
	return Write{Seq: seq, Key: key, Client: client, Token: token, Accepted: true}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		intervals []Interval
		writes    []Write
		want      []Kind
	}{
		{name: "empty history"},
		{
			name:      "sequential grants with rising tokens",
			intervals: []Interval{iv("k", "a", 1, 0, 10), iv("k", "b", 2, 20, 30), iv("k", "a", 3, 40, 50)},
		},
		{
			name:      "touching intervals are fine",
			intervals: []Interval{iv("k", "a", 1, 0, 10), iv("k", "b", 2, 10, 20)},
		},
		{
			name:      "overlap detected",
			intervals: []Interval{iv("k", "a", 1, 0, 10), iv("k", "b", 2, 9, 20)},
			want:      []Kind{Overlap},
		},
		{
			name:      "overlap with an interval that started two grants earlier",
			intervals: []Interval{iv("k", "a", 1, 0, 100), iv("k", "b", 2, 10, 20), iv("k", "c", 3, 30, 40)},
			want:      []Kind{Overlap, Overlap},
		},
		{
			name:      "an interval that never ended overlaps every later one",
			intervals: []Interval{{Key: "k", Client: "a", Token: 1, Start: 0, End: Unended}, iv("k", "b", 2, 1000, 2000)},
			want:      []Kind{Overlap},
		},
		{
			name:      "input order does not matter",
			intervals: []Interval{iv("k", "b", 2, 20, 30), iv("k", "a", 1, 0, 10)},
		},
		{
			name:      "different keys may overlap",
			intervals: []Interval{iv("k1", "a", 1, 0, 10), iv("k2", "b", 1, 5, 15)},
		},
		{
			name:      "token lower than an earlier grant's",
			intervals: []Interval{iv("k", "a", 5, 0, 10), iv("k", "b", 4, 20, 30)},
			want:      []Kind{TokenOrder},
		},
		{
			name:      "same token for another client",
			intervals: []Interval{iv("k", "a", 5, 0, 10), iv("k", "b", 5, 20, 30)},
			want:      []Kind{TokenOrder},
		},
		{
			// A client whose clock runs ahead takes over a fresh grant and
			// its Hold returns a moment before the victim's: the overlap is
			// the violation, the order of two beliefs at once says nothing.
			name:      "overlapping grants in either order are one overlap",
			intervals: []Interval{iv("k", "a", 3902, 0, 10), iv("k", "b", 3901, 1, 11)},
			want:      []Kind{Overlap},
		},
		{
			name:      "overlapping grants with one token for two clients",
			intervals: []Interval{iv("k", "a", 7, 0, 10), iv("k", "b", 7, 1, 11)},
			want:      []Kind{Overlap, TokenOrder},
		},
		{
			name:      "same token for the same client is the grant continued",
			intervals: []Interval{iv("k", "a", 5, 0, 10), iv("k", "a", 5, 20, 30)},
		},
		{
			name:   "writes with rising and repeated tokens",
			writes: []Write{accepted(0, "k", "a", 1), accepted(1, "k", "a", 1), accepted(2, "k", "b", 2)},
		},
		{
			name:   "accepted stale write",
			writes: []Write{accepted(0, "k", "b", 2), accepted(1, "k", "a", 1)},
			want:   []Kind{StaleWriteSeen},
		},
		{
			name:   "rejected stale write is fine",
			writes: []Write{accepted(0, "k", "b", 2), {Seq: 1, Key: "k", Client: "a", Token: 1}},
		},
		{
			name:   "writes are judged in the register's order, not slice order",
			writes: []Write{accepted(1, "k", "b", 2), accepted(0, "k", "a", 1)},
		},
		{
			name:   "tokens are per key",
			writes: []Write{accepted(0, "k1", "b", 9), accepted(1, "k2", "a", 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Kind
			for _, v := range Check(tt.intervals, tt.writes) {
				got = append(got, v.Kind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check() kinds (-want +got):\n%s", diff)
			}
		})
	}
}

// The register is the protected resource: it rejects a token lower than
// the highest it accepted, per key, and accepts the same token again.
func TestRegister(t *testing.T) {
	r := NewRegister(NewClock())
	steps := []struct {
		key   string
		token uint64
		want  bool
	}{
		{"k", 2, true}, {"k", 2, true}, {"k", 1, false}, {"k", 3, true}, {"k", 2, false}, {"other", 1, true},
	}
	for i, s := range steps {
		if got := r.Write(s.key, "c", s.token); got != s.want {
			t.Fatalf("step %d: Write(%q, %d) = %v, want %v", i, s.key, s.token, got, s.want)
		}
	}
	if v := Check(nil, r.Writes()); len(v) != 0 {
		t.Fatalf("Check found %v in a register's own log", v)
	}
}

// An unfenced resource accepts every write, and Check counts the ones
// from a grant older than one already written as stale writes accepted.
func TestWriteUnfencedCountsStaleWrites(t *testing.T) {
	r := NewRegister(NewClock())
	r.WriteUnfenced("k", "a", 1)
	r.WriteUnfenced("k", "b", 2)
	r.WriteUnfenced("k", "a", 1) // a's grant ended: b already wrote
	r.WriteUnfenced("other", "a", 1)
	v := Check(nil, r.Writes())
	if len(v) != 1 || v[0].Kind != StaleWriteSeen || v[0].Key != "k" {
		t.Fatalf("Check = %v, want one stale write accepted on \"k\"", v)
	}
	for _, w := range r.Writes() {
		if !w.Accepted {
			t.Fatalf("an unfenced write was refused: %+v", w)
		}
	}
	// A fenced write after them is still judged against the highest token.
	if r.Write("k", "a", 1) {
		t.Fatal("Write accepted token 1 after token 2 was written unfenced")
	}
}

// Observe records the outcomes a real resource decided, in order, and
// Check finds a stale write that the resource accepted.
func TestObserveRecordsTheResourcesOutcome(t *testing.T) {
	r := NewRegister(NewClock())
	r.Observe("k", "a", 1, true)
	r.Observe("k", "b", 2, true)
	r.Observe("k", "a", 1, false) // refused by the resource: no violation
	if v := Check(nil, r.Writes()); len(v) != 0 {
		t.Fatalf("Check = %v after a refused late write, want no violation", v)
	}
	r.Observe("k", "a", 1, true) // accepted by a resource that did not fence
	v := Check(nil, r.Writes())
	if len(v) != 1 || v[0].Kind != StaleWriteSeen || v[0].Key != "k" {
		t.Fatalf("Check = %v, want one stale write accepted on \"k\"", v)
	}
	writes := r.Writes()
	outcomes := make([]bool, 0, len(writes))
	for i, w := range writes {
		if w.Seq != i {
			t.Fatalf("write %d has Seq %d", i, w.Seq)
		}
		outcomes = append(outcomes, w.Accepted)
	}
	if diff := cmp.Diff([]bool{true, true, false, true}, outcomes); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
}

// End keeps the earliest of several calls, and a context.AfterFunc on a
// cancelled context ends the interval at the cancel.
func TestHoldEndsAtTheEarliestEnd(t *testing.T) {
	clock := NewClock()
	r := NewRecorder(clock)
	h := r.Begin("k", "a", 7)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	context.AfterFunc(ctx, func() { h.End(); close(done) })
	before := clock.Now()
	cancel()
	<-done
	first := r.Intervals()[0].End
	if first < before || first == Unended {
		t.Fatalf("End = %s, want at least %s", first, before)
	}
	h.End() // a later call does not move the end
	got := r.Intervals()
	want := []Interval{{Key: "k", Client: "a", Token: 7, Start: got[0].Start, End: first}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Intervals() (-want +got):\n%s", diff)
	}
	if got[0].Start > got[0].End {
		t.Fatalf("Start %s after End %s", got[0].Start, got[0].End)
	}
}
