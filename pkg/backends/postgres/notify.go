package postgres

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of the listening connection.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// listener holds one LISTEN connection for a Backend and fans its
// notifications out to the subscribers of the Backend's namespace.
type listener struct {
	cfg     *pgx.ConnConfig
	channel string
	ns      string
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newListener(cfg *pgx.ConnConfig, channel, ns string) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		ctx:     ctx,
		cfg:     cfg,
		channel: channel,
		ns:      ns,
		cancel:  cancel,
		done:    make(chan struct{}),
		subs:    map[string]map[chan struct{}]struct{}{},
	}
}

// start starts the listening goroutine once.
func (l *listener) start() {
	l.once.Do(func() { go l.run(l.ctx) })
}

// stop ends the listening goroutine, if it started, and waits for it.
func (l *listener) stop() {
	l.cancel()
	l.once.Do(func() { close(l.done) }) // never started: nothing to wait for
	<-l.done
}

func (l *listener) subscribe(ctx context.Context, key string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	if l.subs[key] == nil {
		l.subs[key] = map[chan struct{}]struct{}{}
	}
	l.subs[key][ch] = struct{}{}
	l.mu.Unlock()
	context.AfterFunc(ctx, func() {
		l.mu.Lock()
		delete(l.subs[key], ch)
		if len(l.subs[key]) == 0 {
			delete(l.subs, key)
		}
		l.mu.Unlock()
		close(ch)
	})
	return ch
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a signal is already pending; signals coalesce
	}
}

func (l *listener) signalKey(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs[key] {
		signal(ch)
	}
}

// signalAll wakes every subscriber, after a gap in which notifications may
// have been lost.
func (l *listener) signalAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, chans := range l.subs {
		for ch := range chans {
			signal(ch)
		}
	}
}

// run listens until ctx ends, reconnecting with jittered exponential
// backoff whenever the connection fails.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := minBackoff
	for {
		if l.listen(ctx) {
			backoff = minBackoff // it worked for a while: start over
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen connects, listens and dispatches until the connection fails or ctx
// ends. It reports whether it got as far as listening.
func (l *listener) listen(ctx context.Context) bool {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return false
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return false
	}
	// Anything sent before LISTEN took effect is lost: wake everyone to
	// look again.
	l.signalAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		var target [2]string // namespace, key
		if json.Unmarshal([]byte(n.Payload), &target) != nil || target[0] != l.ns {
			continue
		}
		l.signalKey(target[1])
	}
}
