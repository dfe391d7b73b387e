package sqlite

import (
	"context"
	"sync"
)

// Change notifications within one process. SQLite has no way to tell
// another connection that a row changed, so a Backend signals the waiters
// of its own process directly; waiters in other processes poll.

type subKey struct {
	scope   any // the *sql.DB, or the file's absolute path
	ns, key string
}

var (
	subsMu sync.Mutex
	subs   = map[subKey]map[chan struct{}]struct{}{}
)

func subscribe(ctx context.Context, scope any, ns, key string) <-chan struct{} {
	k := subKey{scope, ns, key}
	ch := make(chan struct{}, 1)
	subsMu.Lock()
	if subs[k] == nil {
		subs[k] = map[chan struct{}]struct{}{}
	}
	subs[k][ch] = struct{}{}
	subsMu.Unlock()
	context.AfterFunc(ctx, func() {
		subsMu.Lock()
		delete(subs[k], ch)
		if len(subs[k]) == 0 {
			delete(subs, k)
		}
		subsMu.Unlock()
		close(ch)
	})
	return ch
}

// notify signals every waiter on key without blocking; signals coalesce.
func notify(scope any, ns, key string) {
	subsMu.Lock()
	defer subsMu.Unlock()
	for ch := range subs[subKey{scope, ns, key}] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
