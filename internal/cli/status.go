package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

const (
	// statusDelay keeps the status line away when the lock is granted at
	// once, so that it does not flash on the terminal.
	statusDelay = 300 * time.Millisecond
	// statusPeriod is how often the status line reads the record.
	statusPeriod = time.Second
)

// startStatus shows, on a terminal, one status line that says who holds key
// and until when, refreshed every second while the caller waits for the
// lock. The returned function stops it and clears the line. Scripts (stderr
// not a terminal), --quiet and --wait 0 get no status line.
func (o *options) startStatus(ctx context.Context, m *lockmanager.Manager, key, holder string, wait time.Duration) (stop func()) {
	if !o.env.StderrIsTerminal || o.quiet || wait == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		shown := false
		timer := time.NewTimer(statusDelay)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				if shown {
					fmt.Fprint(o.env.Stderr, "\r\x1b[K")
				}
				return
			case <-timer.C:
			}
			if line := statusLine(ctx, m, key, holder); line != "" {
				// \r and erase-to-end-of-line rewrite the one line in place.
				fmt.Fprint(o.env.Stderr, "\r"+o.prefix()+line+"\x1b[K")
				shown = true
			}
			timer.Reset(statusPeriod)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// statusLine describes the lock key as a waiter sees it, or returns "" when
// there is nothing useful to say (the read failed because the wait ended).
func statusLine(ctx context.Context, m *lockmanager.Manager, key, holder string) string {
	l, err := m.Get(ctx, key)
	switch {
	case ctx.Err() != nil:
		return ""
	case err != nil:
		return fmt.Sprintf("waiting for %q (%v)", key, oneLine(err.Error()))
	case !l.Held || l.Holder == holder:
		return fmt.Sprintf("waiting for %q: free, acquiring", key)
	}
	return fmt.Sprintf("waiting for %q: held by %q until %s (in %s, fencing token %d)",
		key, l.Holder, l.ExpiresAt.Local().Format(time.TimeOnly),
		time.Until(l.ExpiresAt).Round(time.Second), l.FencingToken)
}
