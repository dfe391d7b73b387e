package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ChangeCheckPeriod is how often a Backend opened on a database file asks
// SQLite whether any other connection, in this process or another, has
// committed since it last asked, while a waiter of this Backend subscribes.
// The question is PRAGMA data_version on one connection of its own: SQLite
// answers it from the WAL index in shared memory, reading no table, so a
// waiting process costs a few microseconds per check. Only when the answer
// changes does the Backend read the awaited keys' rows and signal the
// waiters of those that were released, deleted or taken over. A waiter in
// another process therefore learns of a release within about this period,
// instead of at its next poll (a third of the lease by default).
const ChangeCheckPeriod = 10 * time.Millisecond

// watch is a Backend's watcher of commits by other connections. It runs
// while the Backend has subscribers and ends with the last of them, or
// with Close.
type watch struct {
	// rounds counts the watcher's finished checks (tests wait on it to
	// know that a commit has been looked at).
	rounds atomic.Int64

	mu     sync.Mutex
	keys   map[string]int      // subscribed keys and how many subscribe
	last   map[string]keyState // what the watcher last saw of each key
	cancel context.CancelFunc  // stops the running watcher; nil when none
	done   chan struct{}       // closed when the running watcher returned
	closed bool
}

// keyState is what decides whether a change of a key's row is worth a
// waiter's try.
type keyState struct {
	exists bool
	holder string
	token  int64
}

// worthATry reports whether going from a to b released, deleted or took
// over the lock.
func worthATry(a, b keyState) bool {
	return (a.exists && !b.exists) || (a.holder != "" && b.holder == "") ||
		(a.holder != "" && b.holder != "" && a.token != b.token)
}

// addKey registers a subscriber of key, reading the key's row first so
// that any later commit that frees it is seen as a change, and starts the
// watcher if needed.
func (b *Backend) addKey(ctx context.Context, key string) {
	if _, file := b.scope.(fileScope); !file {
		return // a :memory: database or a caller's *sql.DB: this process only
	}
	base, baseErr := b.readState(ctx, b.db, key)
	w := &b.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.keys == nil {
		w.keys, w.last = map[string]int{}, map[string]keyState{}
	}
	w.keys[key]++
	if _, seen := w.last[key]; !seen && baseErr == nil {
		w.last[key] = base
	}
	if w.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		prev := w.done
		w.cancel, w.done = cancel, make(chan struct{})
		go func(done chan struct{}) {
			if prev != nil {
				<-prev // one watcher at a time; Close waits for the newest
			}
			b.watchCommits(ctx, done)
		}(w.done)
	}
}

// dropKey unregisters a subscriber of key and stops the watcher after the
// last one.
func (b *Backend) dropKey(key string) {
	if _, file := b.scope.(fileScope); !file {
		return
	}
	w := &b.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keys[key]--; w.keys[key] <= 0 {
		delete(w.keys, key)
		delete(w.last, key)
	}
	if len(w.keys) == 0 && w.cancel != nil {
		w.cancel()
		w.cancel = nil // the old watcher ends by itself; a new one may start
	}
}

// stopWatch ends the watcher for good (Close) and waits for it.
func (b *Backend) stopWatch() {
	w := &b.watch
	w.mu.Lock()
	w.closed = true
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// watchCommits checks PRAGMA data_version every ChangeCheckPeriod on a
// connection of its own and, when it moved, signals the waiters whose key
// was released, deleted or taken over. Errors (a busy or closing database)
// only skip a check: waiters still poll, so a missed change costs a poll
// period, never correctness.
func (b *Backend) watchCommits(ctx context.Context, done chan struct{}) {
	defer close(done)
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	ticker := time.NewTicker(ChangeCheckPeriod)
	defer ticker.Stop()
	var version int64
	first := true
	for {
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			if ctx.Err() != nil || errors.Is(err, sql.ErrConnDone) {
				return
			}
		} else if first || v != version {
			version, first = v, false
			b.checkKeys(ctx, conn)
		}
		b.watch.rounds.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// checkKeys reads the subscribed keys' rows and signals those worth a try.
func (b *Backend) checkKeys(ctx context.Context, conn *sql.Conn) {
	w := &b.watch
	w.mu.Lock()
	keys := make([]string, 0, len(w.keys))
	for k := range w.keys {
		keys = append(keys, k)
	}
	w.mu.Unlock()
	for _, key := range keys {
		s, err := b.readState(ctx, conn, key)
		if err != nil {
			continue
		}
		w.mu.Lock()
		prev, seen := w.last[key]
		if _, still := w.keys[key]; still {
			w.last[key] = s
		}
		w.mu.Unlock()
		if seen && worthATry(prev, s) {
			notify(b.scope, b.ns, key)
		}
	}
}

// queryer is a *sql.DB or a *sql.Conn.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readState reads what worthATry compares of key's row.
func (b *Backend) readState(ctx context.Context, q queryer, key string) (keyState, error) {
	var s keyState
	var deleted bool
	err := q.QueryRowContext(ctx, `SELECT holder, fencing_token, deleted FROM leasehold_locks WHERE namespace = ?1 AND key = ?2`,
		b.ns, key).Scan(&s.holder, &s.token, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return keyState{}, nil
	case err != nil:
		return keyState{}, err
	}
	s.exists = !deleted
	return s, nil
}
