package workload

import (
	"context"
	"fmt"
)

// Resource is a real protected resource that a scenario's clients write
// to with their fencing tokens, through the helper that guards it
// (fencesql in a database, fenceredis on a Redis key, the admission policy
// of config/fencing on a Kubernetes object), instead of the in-memory
// history.Register. The resource decides which writes it accepts; the
// workload records each decision in the history, and the checker finds any
// stale write it accepted.
type Resource interface {
	// Name says what the resource is and which helper guards it, for the
	// report ("PostgreSQL row (fencesql)").
	Name() string
	// Write writes value as key's protected data, carrying token.
	// accepted is false, with a nil error, when the resource refused the
	// write as stale (its token is below one it has seen); any other
	// failure is an error.
	Write(ctx context.Context, key, value string, token uint64) (accepted bool, err error)
	// Close releases the resource's connections.
	Close() error
}

// resourceWrite writes to res for client name and records the outcome in
// the history. The caller holds w.resMu, so that writes reach the resource
// one at a time and the history records them in the order it decided.
func (w *Workload) resourceWrite(ctx context.Context, key, name string, token uint64) (accepted bool, err error) {
	accepted, err = w.res.Write(ctx, key, fmt.Sprintf("%s with token %d", name, token), token)
	if err != nil {
		return false, fmt.Errorf("%s: write to %s with token %d: %w", name, w.res.Name(), token, err)
	}
	w.observe(key, name, token, accepted)
	return accepted, nil
}

// observe records a write's outcome that a real resource decided.
func (w *Workload) observe(key, name string, token uint64, accepted bool) {
	w.reg.Observe(key, name, token, accepted)
	w.writes.Add(1)
	if !accepted {
		w.rejected.Add(1)
	}
}
