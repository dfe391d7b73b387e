package lockmanager

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// subscriptionLinger is how long a key's subscription outlives its last
// waiter. A steady stream of waiting Acquires on a contended key (a worker
// that releases and comes back within seconds) then subscribes once, not
// once per call; a key nobody waits for any more costs one idle
// subscription for this long, then nothing.
const subscriptionLinger = 5 * time.Second

// resubscribeBackoff is how long the waiters of a key poll after a failed
// Subscribe before one of them tries again, so that a store refusing
// subscriptions is not asked once per try.
const resubscribeBackoff = time.Second

// waiters is a Manager's registry of the goroutines waiting in Acquire,
// by key. Each key has at most one backend subscription, shared by its
// waiters, and a FIFO queue: a notification wakes the waiter at its head
// only, and a waiter that arrives while others of this Manager queue for
// the key joins the tail without trying first.
type waiters struct {
	notifier backends.Notifier // nil: no subscriptions, waiters poll
	// refuses says the notifier is a backends.WatchRefuser: a waiter's
	// try under a live subscription may be refused without a round trip,
	// so woken waiters spread their tries over a window that grows with
	// the competition (see wakeWindow).
	refuses bool
	ctx     context.Context // ends every subscription on Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the subscription goroutines
	linger  time.Duration  // subscriptionLinger; shorter in tests

	mu     sync.Mutex
	closed bool
	keys   map[string]*keyWaiters
	// rtt is a moving average of the round trip of this Manager's
	// answered writes (grants and releases); 0 until the first.
	rtt time.Duration
}

// subState is where a key's subscription stands.
type subState int

const (
	subNone    subState = iota
	subPending          // a Subscribe call is under way
	subLive             // Subscribe returned; signals reach the queue
)

type keyWaiters struct {
	key   string
	queue []*waiter // arrival order; queue[0] gets the next signal

	sub       subState
	gen       int                // counts subscriptions, so a stale goroutine leaves state alone
	ready     chan struct{}      // closed when the pending Subscribe returned
	cancel    context.CancelFunc // ends the subscription; nil when subNone
	retryAt   time.Time          // no Subscribe before this, after a failure
	idleSince time.Time          // when the queue last became empty
	// yield is set while this Manager's release of the key has not been
	// heard back on the subscription: a waiting Acquire then waits for
	// that notification before trying, when the other Managers' waiters
	// hear of the release too, instead of barging ahead of them.
	yield bool
	// heard is when the subscription last delivered a notification: a
	// waiter that joins right after it tries at a random instant within
	// wakeSpread of it, as a woken one does.
	heard     time.Time
	linger    *time.Timer // armed while the queue is empty and a subscription exists
	lingering bool
	// holders are the holders of the key's last grants this Manager
	// learned of (from refusals, and its own grants, marked mine), oldest
	// first, at most recentHolders: how many others compete for the key.
	holders []grantSeen
}

// grantSeen is one grant in keyWaiters.holders.
type grantSeen struct {
	holder string
	mine   bool
}

// recentHolders bounds keyWaiters.holders.
const recentHolders = 32

// waiter is one goroutine in Acquire. wake holds at most one signal:
// signals coalesce into "try again".
type waiter struct{ wake chan struct{} }

func newWaiters(n backends.Notifier) *waiters {
	ctx, cancel := context.WithCancel(context.Background())
	_, refuses := n.(backends.WatchRefuser)
	return &waiters{notifier: n, refuses: refuses, ctx: ctx, cancel: cancel, linger: subscriptionLinger,
		keys: map[string]*keyWaiters{}}
}

// answered folds the round trip d of one answered write into ws.rtt.
func (ws *waiters) answered(d time.Duration) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.rtt == 0 {
		ws.rtt = d
	} else {
		ws.rtt += (d - ws.rtt) / 8
	}
}

// granted notes a grant of kw's key: to holder, by this Manager (mine) or
// by another one (learned from a refusal).
func (ws *waiters) granted(kw *keyWaiters, holder string, mine bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if n := len(kw.holders); n > 0 && kw.holders[n-1].holder == holder {
		return // the same grant heard again, or the same holder again
	}
	if len(kw.holders) == recentHolders {
		kw.holders = slices.Delete(kw.holders, 0, 1)
	}
	kw.holders = append(kw.holders, grantSeen{holder: holder, mine: mine})
}

// wakeWindow is how long after a notification a waiter of kw may wait
// before it tries: it tries at a random instant within the window (see
// wakeSpread).
//
// Where the backend refuses watched tries without a round trip (a
// backends.WatchRefuser), a wider window saves writes: the first waiter
// to try, in whichever process, wins, and its grant reaches the other
// processes' watches before most of them try, so they are refused without
// writing. About one other try lands within a round trip of the winner's
// when the window is wakeTries round trips per competing process, the
// processes being counted as the other holders among the key's last
// grants, plus one. A key no other process has taken keeps wakeSpread,
// so a single process's hand-offs stay as fast as before. The window is at
// most maxWakeWindow.
func (ws *waiters) wakeWindow(kw *keyWaiters) time.Duration {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !ws.refuses || ws.rtt <= 0 {
		return wakeSpread
	}
	mine, others := map[string]bool{}, map[string]bool{}
	for _, g := range kw.holders {
		if g.mine {
			mine[g.holder] = true
		}
	}
	for _, g := range kw.holders {
		if !mine[g.holder] {
			others[g.holder] = true
		}
	}
	if len(others) == 0 {
		return wakeSpread
	}
	return min(max(time.Duration(wakeTries*(len(others)+1))*ws.rtt, wakeSpread), maxWakeWindow)
}

// join queues a waiter for key. tryNow is false when waiters of this
// Manager already queue for key behind a live subscription: the newcomer
// waits for its turn instead of barging ahead of them; and right after
// this Manager released the key, until the release is heard back (see
// keyWaiters.yield). Without a live subscription nobody is woken in turn,
// so it tries at once. heard is when the key's last notification arrived
// (zero if none).
func (ws *waiters) join(key string) (kw *keyWaiters, w *waiter, tryNow bool, heard time.Time) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	kw = ws.keys[key]
	if kw == nil {
		kw = &keyWaiters{key: key}
		ws.keys[key] = kw
	}
	w = &waiter{wake: make(chan struct{}, 1)}
	tryNow = (len(kw.queue) == 0 && !kw.yield) || kw.sub != subLive
	kw.queue = append(kw.queue, w)
	return kw, w, tryNow, kw.heard
}

// leave takes w out of the queue. A waiter that leaves without a grant
// passes a wake it could not use (owed, or still pending) to the new head,
// since the key may be free; a granted one drops it, since the key is not.
func (ws *waiters) leave(kw *keyWaiters, w *waiter, granted, owed bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if i := slices.Index(kw.queue, w); i >= 0 {
		kw.queue = slices.Delete(kw.queue, i, i+1)
	}
	select {
	case <-w.wake:
		owed = true
	default:
	}
	if owed && !granted && len(kw.queue) > 0 {
		signal(kw.queue[0].wake)
	}
	if len(kw.queue) > 0 {
		return
	}
	kw.idleSince = time.Now()
	if kw.sub == subNone {
		ws.drop(kw)
		return
	}
	if !kw.lingering && !ws.closed {
		kw.lingering = true
		if kw.linger == nil {
			kw.linger = time.AfterFunc(ws.linger, func() { ws.expire(kw) })
		} else {
			kw.linger.Reset(ws.linger)
		}
	}
}

// drop forgets kw if nothing refers to it; the caller holds ws.mu.
func (ws *waiters) drop(kw *keyWaiters) {
	if len(kw.queue) == 0 && kw.sub == subNone && !kw.lingering && ws.keys[kw.key] == kw {
		delete(ws.keys, kw.key)
	}
}

// expire ends kw's subscription once it has been idle for the whole
// linger period.
func (ws *waiters) expire(kw *keyWaiters) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !kw.lingering {
		return
	}
	if len(kw.queue) > 0 {
		kw.lingering = false // leave re-arms it when the queue empties
		return
	}
	if rest := ws.linger - time.Since(kw.idleSince); rest > 0 {
		kw.linger.Reset(rest)
		return
	}
	kw.lingering = false
	ws.unsubscribe(kw)
	ws.drop(kw)
}

// unsubscribe ends kw's subscription, if any; the caller holds ws.mu.
func (ws *waiters) unsubscribe(kw *keyWaiters) {
	if kw.cancel != nil {
		kw.cancel()
		kw.cancel = nil
	}
	if kw.sub == subPending {
		close(kw.ready)
	}
	kw.sub = subNone
	kw.gen++
}

// releasing is called before the Manager sends a release of key, and
// the function it returns once the release is answered. While the key has
// a live subscription, a waiting Acquire that follows the release yields
// until the release's notification arrives (see keyWaiters.yield). The
// mark is set before the release is sent, so that a notification that
// arrives before the answer clears it; a failed release clears it too.
func (ws *waiters) releasing(key string) func(ok bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	kw := ws.keys[key]
	if kw == nil || kw.sub != subLive {
		return func(bool) {}
	}
	kw.yield = true
	return func(ok bool) {
		if !ok {
			ws.mu.Lock()
			kw.yield = false
			ws.mu.Unlock()
		}
	}
}

// unyield clears kw's yield mark: a waiter slept a whole poll period
// without hearing the release back, so the notification is not coming and
// later Acquires should not wait for it.
func (ws *waiters) unyield(kw *keyWaiters) {
	ws.mu.Lock()
	kw.yield = false
	ws.mu.Unlock()
}

// live reports whether kw's subscription is live: a release after this
// moment will signal the head of the queue.
func (ws *waiters) live(kw *keyWaiters) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return kw.sub == subLive
}

// isHead reports whether w is first in kw's queue.
func (ws *waiters) isHead(kw *keyWaiters, w *waiter) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(kw.queue) > 0 && kw.queue[0] == w
}

// subscribe makes sure kw has a subscription or one under way, and
// returns whether it is live and, while a Subscribe call is under way, a
// channel closed when it returns. Without a notifier, after Close, or
// within resubscribeBackoff of a failure, there is none: waiters poll.
func (ws *waiters) subscribe(kw *keyWaiters) (live bool, ready <-chan struct{}) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	switch {
	case kw.sub == subLive:
		return true, nil
	case kw.sub == subPending:
		return false, kw.ready
	case ws.notifier == nil || ws.closed || time.Now().Before(kw.retryAt):
		return false, nil
	}
	ctx, cancel := context.WithCancel(ws.ctx)
	kw.sub, kw.cancel, kw.ready = subPending, cancel, make(chan struct{})
	kw.gen++
	ws.wg.Add(1)
	go ws.run(ctx, kw, kw.gen, kw.ready)
	return false, kw.ready
}

// run subscribes, then hands each signal to the head of the queue until
// the subscription ends (linger expired, Close, or the backend ended it).
func (ws *waiters) run(ctx context.Context, kw *keyWaiters, gen int, ready chan struct{}) {
	defer ws.wg.Done()
	ch, err := ws.notifier.Subscribe(ctx, kw.key)
	ws.mu.Lock()
	if kw.gen != gen { // ended while subscribing
		ws.mu.Unlock()
		return
	}
	if err != nil {
		ws.unsubscribe(kw)
		kw.retryAt = time.Now().Add(resubscribeBackoff)
		ws.drop(kw)
		ws.mu.Unlock()
		return
	}
	kw.sub = subLive
	close(ready)
	ws.mu.Unlock()

	for range ch {
		ws.mu.Lock()
		kw.yield = false
		kw.heard = time.Now()
		if len(kw.queue) > 0 {
			signal(kw.queue[0].wake)
		}
		ws.mu.Unlock()
	}

	ws.mu.Lock()
	defer ws.mu.Unlock()
	if kw.gen == gen { // the backend ended it: the next waiter subscribes again
		ws.unsubscribe(kw)
		if kw.lingering {
			kw.lingering = false
			kw.linger.Stop()
		}
		ws.drop(kw)
	}
}

// closing returns a channel that is closed once close is called: every
// waiter selects on it, so that Close wakes them all at once.
func (ws *waiters) closing() <-chan struct{} { return ws.ctx.Done() }

// close wakes every waiter (see closing), ends every subscription and
// waits for their goroutines.
func (ws *waiters) close() {
	ws.mu.Lock()
	ws.closed = true
	for _, kw := range ws.keys {
		if kw.linger != nil {
			kw.linger.Stop()
		}
		kw.lingering = false
		ws.unsubscribe(kw)
		ws.drop(kw)
	}
	ws.mu.Unlock()
	ws.cancel()
	ws.wg.Wait()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a signal is pending already; signals coalesce
	}
}
