package linearcheck

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of checking one history.
type Verdict struct {
	// Result is porcupine's: Ok, Illegal, or Unknown when the check ran
	// out of time (which proves nothing either way).
	Result porcupine.CheckResult
	// Info describes the longest partial linearizations, for Visualize.
	Info porcupine.LinearizationInfo
	// Took is how long the check ran.
	Took time.Duration

	opts Options
}

// Check checks ops for linearizability against Model(opts), giving up
// after timeout (0: no limit).
func Check(ops []porcupine.Operation, timeout time.Duration, opts Options) Verdict {
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(Model(opts), ops, timeout)
	return Verdict{Result: res, Info: info, Took: time.Since(start), opts: opts}
}

// Visualize writes porcupine's interactive HTML view of the check to a new
// file in dir, named after name, and returns its path. The view shows, per
// key, the longest linearizable prefix and the operation that could not be
// placed after it.
func (v Verdict) Visualize(dir, name string) (string, error) {
	f, err := os.CreateTemp(dir, filepath.Base(name)+"-*.html")
	if err != nil {
		return "", err
	}
	if err := porcupine.Visualize(Model(v.opts), v.Info, f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return f.Name(), f.Close()
}

// Format writes ops one per line in call order (client, call and return
// in microseconds since the recorder started, the operation and its
// answer), for reading a failed history beside its visualization.
func Format(ops []porcupine.Operation) string {
	sorted := slices.Clone(ops)
	slices.SortStableFunc(sorted, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	var b strings.Builder
	for _, op := range sorted {
		fmt.Fprintf(&b, "%s\n", formatOp(op))
	}
	return b.String()
}

// Explain describes where ops, a history Check found Illegal, gets stuck:
// for each key with no complete linearization, the end of the longest
// partial linearization porcupine found, the states the record can be in
// after it, and the operations not placed that were called before the
// first of them returned (one of them cannot be placed, whatever the
// order).
func (v Verdict) Explain(ops []porcupine.Operation) string {
	var b strings.Builder
	parts := partition(ops)
	for p, partials := range v.Info.PartialLinearizations() {
		if p >= len(parts) || len(partials) == 0 {
			continue
		}
		part := parts[p]
		longest := slices.MaxFunc(partials, func(a, b []int) int { return cmp.Compare(len(a), len(b)) })
		if len(longest) == len(part) {
			continue
		}
		states := []State{{}}
		for _, id := range longest {
			var next []State
			for _, s := range states {
				for _, n := range stepWith(v.opts, s, part[id].Input.(Input), part[id].Output.(Output)) {
					if !slices.Contains(next, n) {
						next = append(next, n)
					}
				}
			}
			states = next
		}
		fmt.Fprintf(&b, "key %q: %d of %d operations linearized; the last ones:\n", part[0].Input.(Input).Key, len(longest), len(part))
		for _, id := range longest[max(0, len(longest)-8):] {
			fmt.Fprintf(&b, "  %s\n", formatOp(part[id]))
		}
		b.WriteString("then the record is one of:\n")
		for _, s := range states {
			fmt.Fprintf(&b, "  %s\n", describeState(s))
		}
		placed := map[int]bool{}
		for _, id := range longest {
			placed[id] = true
		}
		var rest []porcupine.Operation
		deadline := int64(math.MaxInt64)
		for id, op := range part {
			if !placed[id] {
				rest = append(rest, op)
				deadline = min(deadline, op.Return)
			}
		}
		slices.SortStableFunc(rest, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		b.WriteString("and none of these, called before the first of them returned, can come next:\n")
		for _, op := range rest {
			if op.Call <= deadline {
				fmt.Fprintf(&b, "  %s\n", formatOp(op))
			}
		}
	}
	return b.String()
}

func formatOp(op porcupine.Operation) string {
	return fmt.Sprintf("client %d [%d, %d] %s", op.ClientId, op.Call/1e3, op.Return/1e3, describeOperation(op.Input, op.Output))
}
