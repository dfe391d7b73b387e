package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
)

const (
	// confirmTimeout bounds the wait for Redis to confirm a SUBSCRIBE.
	confirmTimeout = 5 * time.Second
	// reconnectBackoff spaces attempts to re-establish a broken
	// subscription; waiters poll meanwhile.
	reconnectBackoff = 250 * time.Millisecond
)

// hub is a Backend's one subscription to its namespace's release channel,
// shared by all of its waiters and fanned out to them by key. The release
// script publishes the key on the channel. One channel per namespace
// (rather than one per key) means one SUBSCRIBE per Backend however many
// keys are awaited; Cluster broadcasts plain PUBLISH to every node, so the
// subscription may live on any of them.
//
// The subscription exists while somebody waits: the first Subscribe opens
// it, the last subscriber's context ending closes it, so an idle Backend
// holds no connection and no goroutine for it.
type hub struct {
	client  goredis.UniversalClient
	channel string

	mu     sync.Mutex
	closed bool
	subs   map[string]map[chan struct{}]struct{}
	count  int
	active *subscription // nil while nobody waits
}

// subscription is one PubSub connection and the goroutine reading it.
type subscription struct {
	ps   *goredis.PubSub
	stop chan struct{} // closed to end the loop
	done chan struct{} // closed when the loop has returned
}

func newHub(client goredis.UniversalClient, channel string) *hub {
	return &hub{client: client, channel: channel, subs: map[string]map[chan struct{}]struct{}{}}
}

// Subscribe implements backends.Notifier. It returns once Redis has
// confirmed the subscription, so a release published after it returns is
// never missed while the connection holds. After a broken connection is
// re-established every subscriber gets a signal, since releases in between
// were lost.
func (b *Backend) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	const op = "subscribing"
	if err := b.check(ctx, op, key); err != nil {
		return nil, err
	}
	return b.hub.subscribe(ctx, key)
}

func (h *hub) subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, backends.KeyError("subscribing", key, backends.ErrClosed)
	}
	if h.active == nil {
		s, err := h.open(ctx)
		if err != nil {
			return nil, storeError(ctx, "subscribing", key, err)
		}
		h.active = s
	}
	ch := make(chan struct{}, 1)
	if h.subs[key] == nil {
		h.subs[key] = map[chan struct{}]struct{}{}
	}
	h.subs[key][ch] = struct{}{}
	h.count++
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs[key], ch)
		if len(h.subs[key]) == 0 {
			delete(h.subs, key)
		}
		h.count--
		var ending *subscription
		if h.count == 0 && h.active != nil {
			ending, h.active = h.active, nil
			ending.end()
		}
		h.mu.Unlock()
		close(ch)
	})
	return ch, nil
}

// open subscribes on a new connection and waits for the confirmation.
func (h *hub) open(ctx context.Context) (*subscription, error) {
	ps := h.client.Subscribe(ctx, h.channel)
	timeout := confirmTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	msg, err := ps.ReceiveTimeout(ctx, timeout)
	if err == nil {
		if sub, ok := msg.(*goredis.Subscription); !ok || sub.Kind != "subscribe" {
			err = fmt.Errorf("unexpected reply %v to SUBSCRIBE", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	s := &subscription{ps: ps, stop: make(chan struct{}), done: make(chan struct{})}
	go h.loop(s)
	return s, nil
}

// end stops the loop without waiting for it; the caller holds h.mu.
func (s *subscription) end() {
	close(s.stop)
	_ = s.ps.Close() // unblocks the pending Receive
}

func (h *hub) loop(s *subscription) {
	defer close(s.done)
	for {
		msg, err := s.ps.Receive(context.Background())
		select {
		case <-s.stop:
			return
		default:
		}
		if err != nil {
			if errors.Is(err, goredis.ErrClosed) {
				return
			}
			// go-redis reconnects and resubscribes on the next Receive.
			// Releases may have been lost meanwhile: wake everyone.
			h.signal("", true)
			select {
			case <-s.stop:
				return
			case <-time.After(reconnectBackoff):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Message:
			h.signal(m.Payload, false)
		case *goredis.Subscription:
			if m.Kind == "subscribe" { // resubscribed after a reconnect
				h.signal("", true)
			}
		}
	}
}

// signal wakes the subscribers of key, or all of them, without blocking:
// a pending signal already says "check again".
func (h *hub) signal(key string, all bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wake := func(set map[chan struct{}]struct{}) {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if all {
		for _, set := range h.subs {
			wake(set)
		}
		return
	}
	wake(h.subs[key])
}

// close ends the subscription and waits for its goroutine. Subscribers'
// channels still close when their contexts end.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	s := h.active
	h.active = nil
	if s != nil {
		s.end()
	}
	h.mu.Unlock()
	if s != nil {
		<-s.done
	}
}
