package history

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Clock is the one clock every record of a history is read from: the time
// since its creation on Go's monotonic clock.
type Clock struct{ start time.Time }

// NewClock starts a clock at zero.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Now returns the time since the clock started.
func (c *Clock) Now() time.Duration { return time.Since(c.start) }

// Interval is one grant as one client believed it: from Start until End.
type Interval struct {
	Key    string
	Client string
	Token  uint64
	Start  time.Duration
	// End is when the client stopped believing it held the lease;
	// Unended (MaxInt64) if it never did, which overlaps everything after.
	End time.Duration
}

// Unended is the End of an interval that was never ended.
const Unended = time.Duration(math.MaxInt64)

// Write is one guarded write that a Register accepted or rejected. Seq is
// the order in which the register handled it.
type Write struct {
	Key      string
	Client   string
	Token    uint64
	At       time.Duration
	Seq      int
	Accepted bool
}

// Recorder collects believed intervals from many goroutines.
type Recorder struct {
	clock *Clock
	mu    sync.Mutex
	holds []*Hold
}

// NewRecorder returns a recorder reading clock.
func NewRecorder(clock *Clock) *Recorder { return &Recorder{clock: clock} }

// Hold is an interval being recorded.
type Hold struct {
	r  *Recorder
	iv Interval
}

// Begin records that client now believes it holds key with token.
func (r *Recorder) Begin(key, client string, token uint64) *Hold {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &Hold{r: r, iv: Interval{Key: key, Client: client, Token: token, Start: r.clock.Now(), End: Unended}}
	r.holds = append(r.holds, h)
	return h
}

// End records that the client no longer believes it holds the lease. It
// may be called more than once (by the worker and by a context.AfterFunc);
// the earliest call is the end.
func (h *Hold) End() {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if now := h.r.clock.Now(); now < h.iv.End {
		h.iv.End = now
	}
}

// Intervals returns a copy of every interval recorded so far.
func (r *Recorder) Intervals() []Interval {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Interval, len(r.holds))
	for i, h := range r.holds {
		out[i] = h.iv
	}
	return out
}

// Register is a protected resource: one value per key that accepts a
// write only if its fencing token is at least the highest it has accepted
// for that key (equal tokens are the same grant writing again).
type Register struct {
	clock  *Clock
	mu     sync.Mutex
	max    map[string]uint64
	writes []Write
}

// NewRegister returns an empty register reading clock.
func NewRegister(clock *Clock) *Register {
	return &Register{clock: clock, max: map[string]uint64{}}
}

// Write attempts a write to key by client with token and reports whether
// the register accepted it.
func (r *Register) Write(key, client string, token uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := token >= r.max[key]
	if ok {
		r.max[key] = token
	}
	r.writes = append(r.writes, Write{Key: key, Client: client, Token: token, At: r.clock.Now(), Seq: len(r.writes), Accepted: ok})
	return ok
}

// WriteUnfenced records a write to key by client that the resource
// accepts whatever its token: a resource guarded by a lock library that
// hands out no fencing token cannot refuse anyone. token is then the
// grant's place in the order of grants (see chaos), so that Check still
// counts the writes a fenced resource would have refused.
func (r *Register) WriteUnfenced(key, client string, token uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.max[key] = max(r.max[key], token)
	r.writes = append(r.writes, Write{Key: key, Client: client, Token: token, At: r.clock.Now(), Seq: len(r.writes), Accepted: true})
}

// Observe records a write to key by client with token whose outcome a
// real protected resource decided (accepted or refused), for a test whose
// writes go to a database, a Redis key or a Kubernetes object rather than
// to the register. The caller serialises the writes to one resource with
// their Observe calls, so that the order of the records is the order in
// which the resource decided, and Check can replay it.
func (r *Register) Observe(key, client string, token uint64, accepted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if accepted {
		r.max[key] = max(r.max[key], token)
	}
	r.writes = append(r.writes, Write{Key: key, Client: client, Token: token, At: r.clock.Now(), Seq: len(r.writes), Accepted: accepted})
}

// Writes returns a copy of every write attempted so far.
func (r *Register) Writes() []Write {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.writes)
}

// Kind names a violated property.
type Kind string

// The properties Check verifies.
const (
	Overlap        Kind = "overlap"
	TokenOrder     Kind = "token-order"
	StaleWriteSeen Kind = "stale-write-accepted"
)

// Violation is one breach of a property.
type Violation struct {
	Kind   Kind
	Key    string
	Detail string
}

func (v Violation) String() string { return fmt.Sprintf("%s on %q: %s", v.Kind, v.Key, v.Detail) }

// Check returns every violation in the history, sorted by key then kind;
// none means the history is safe.
func Check(intervals []Interval, writes []Write) []Violation {
	out := checkWrites(writes)
	byKey := map[string][]Interval{}
	for _, iv := range intervals {
		byKey[iv.Key] = append(byKey[iv.Key], iv)
	}
	for key, ivs := range byKey {
		out = append(out, checkKey(key, ivs)...)
	}
	slices.SortStableFunc(out, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

func checkKey(key string, ivs []Interval) []Violation {
	var out []Violation
	slices.SortStableFunc(ivs, func(a, b Interval) int { return cmp.Compare(a.Start, b.Start) })
	// Overlap: sweep in start order, remembering the interval that ends
	// last so far; any later start before that end overlaps it.
	for i, last := 1, 0; i < len(ivs); i++ {
		if ivs[i].Start < ivs[last].End {
			out = append(out, Violation{Kind: Overlap, Key: key, Detail: fmt.Sprintf("%s and %s", describe(ivs[last]), describe(ivs[i]))})
		}
		if ivs[i].End > ivs[last].End {
			last = i
		}
	}
	for i := 1; i < len(ivs); i++ {
		prev, cur := ivs[i-1], ivs[i]
		if cur.Token > prev.Token || (cur.Token == prev.Token && cur.Client == prev.Client) {
			continue
		}
		if cur.Start < prev.End && cur.Token != prev.Token {
			// Believed at once (already an overlap): which of the two was
			// granted first is not the order in which their Holds
			// returned, so only a token shared by two clients says
			// something here.
			continue
		}
		out = append(out, Violation{Kind: TokenOrder, Key: key, Detail: fmt.Sprintf("%s was granted after %s", describe(cur), describe(prev))})
	}
	return out
}

func checkWrites(writes []Write) []Violation {
	var out []Violation
	ws := slices.Clone(writes)
	slices.SortStableFunc(ws, func(a, b Write) int { return cmp.Compare(a.Seq, b.Seq) })
	max := map[string]uint64{}
	for _, w := range ws {
		if !w.Accepted {
			continue
		}
		if w.Token < max[w.Key] {
			detail := fmt.Sprintf("%s's write with token %d at %s was accepted after token %d", w.Client, w.Token, w.At, max[w.Key])
			out = append(out, Violation{Kind: StaleWriteSeen, Key: w.Key, Detail: detail})
			continue
		}
		max[w.Key] = w.Token
	}
	return out
}

func describe(iv Interval) string {
	end := "never ended"
	if iv.End != Unended {
		end = iv.End.String()
	}
	return fmt.Sprintf("%s (token %d, %s to %s)", iv.Client, iv.Token, iv.Start, end)
}
