package kubernetes

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// rewatchBackoff is how long a subscription waits before watching again
// after the API server refused a watch, so that an outage does not turn
// into a tight loop. Waiters poll meanwhile.
const rewatchBackoff = time.Second

// Subscribe implements backends.Notifier with a watch on the namespace's
// DistributedLocks, narrowed by a field selector to key's object. The
// channel receives a signal when the object is deleted, released, or
// passes to another holder, and when its lease, as this client judges it,
// runs out. The watch is restarted whenever the server ends it, with one
// (possibly spurious) signal, as a change may have been missed meanwhile.
// The goroutine ends, and the channel is closed, when ctx ends or the
// Backend closes.
func (b *Backend) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	if err := b.check(ctx, "subscribing", key); err != nil {
		return nil, err
	}
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	// The first watch starts before Subscribe returns, so that a change
	// between Subscribe and the waiter's next try is not missed.
	s := &subscription{b: b, key: key, ch: ch}
	w, err := s.watch(ctx)
	if err != nil {
		cancel()
		return nil, b.failure("subscribing", key, err)
	}
	stop := context.AfterFunc(b.done, cancel)
	b.subs.Add(1)
	go func() {
		defer b.subs.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		s.run(ctx, w)
	}()
	return ch, nil
}

type subscription struct {
	b   *Backend
	key string
	ch  chan struct{}

	// holder is the holder last seen, to recognise a takeover; seen says
	// whether there was a last sighting at all.
	holder string
	seen   bool
	// expiry fires when the lease last seen runs out by this client's
	// judgement.
	expiry *time.Timer
	// synced says the current watch has delivered the object's state
	// (counted in Backend.synced).
	synced bool
}

// sync marks the current watch as having delivered the object's state,
// or (false) as ended.
func (s *subscription) sync(on bool) {
	if on != s.synced {
		s.synced = on
		if on {
			s.b.synced.add(s.key, 1)
		} else {
			s.b.synced.add(s.key, -1)
		}
	}
}

// RefusesFromWatch implements backends.WatchRefuser: a watch delivers
// every change of the object, grants included.
func (b *Backend) RefusesFromWatch() {}

// syncedKeys counts, per key, the subscriptions whose current watch has
// delivered the object's state: while one has, the observation table
// holds the key's state as the watch last reported it, and a change
// after it is on its way as an event.
type syncedKeys struct {
	mu sync.Mutex
	n  map[string]int
}

func (k *syncedKeys) add(key string, d int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == nil {
		k.n = map[string]int{}
	}
	if k.n[key] += d; k.n[key] <= 0 {
		delete(k.n, key)
	}
}

func (k *syncedKeys) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[key] > 0
}

func (s *subscription) signal() {
	select {
	case s.ch <- struct{}{}:
	default: // a signal is pending already; signals coalesce
	}
}

func (s *subscription) watch(ctx context.Context) (watch.Interface, error) {
	return s.b.c.Watch(ctx, &locksv1alpha1.DistributedLockList{},
		client.InNamespace(s.b.ns), client.MatchingFields{"metadata.name": ObjectName(s.key)})
}

// run consumes the first watch w, then watches again whenever the server
// ends a watch, signalling after each gap since changes may have been
// missed.
func (s *subscription) run(ctx context.Context, w watch.Interface) {
	s.expiry = time.NewTimer(time.Hour)
	s.expiry.Stop()
	defer s.expiry.Stop()
	defer s.sync(false)
	for {
		s.consume(ctx, w)
		s.sync(false)
		w.Stop()
		for {
			if ctx.Err() != nil {
				return
			}
			var err error
			if w, err = s.watch(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(rewatchBackoff):
			}
		}
		s.signal()
	}
}

// consume handles events until the watch or ctx ends.
func (s *subscription) consume(ctx context.Context, w watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.expiry.C:
			s.signal()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			obj, isLock := ev.Object.(*locksv1alpha1.DistributedLock)
			switch {
			case ev.Type == watch.Error:
				return
			case !isLock || obj.Spec.Key != s.key:
				// Bookmarks, and objects of another key under this name.
			case ev.Type == watch.Deleted:
				s.b.seen.forget(s.key, obj.ResourceVersion)
				s.expiry.Stop()
				s.holder, s.seen = "", true
				s.sync(false) // nothing watched to refuse from; the next try asks
				s.signal()
			case ev.Type == watch.Added || ev.Type == watch.Modified:
				s.changed(obj)
				s.sync(true)
			}
		}
	}
}

// changed reacts to a new state of the object: a free lock is worth a
// try, and so is a lock taken from its holder (the holder's Session must
// hear of it); a held one is worth a try once it expires. A grant of a
// free lock is not signalled: it ends no lease, and every waiter woken by
// it would only find the key held.
func (s *subscription) changed(obj *locksv1alpha1.DistributedLock) {
	o := s.b.seen.observe(obj, s.b.clock.Now())
	holder := obj.Spec.HolderIdentity
	s.expiry.Stop()
	if holder == "" || (s.seen && s.holder != "" && holder != s.holder) {
		s.signal()
	}
	s.holder, s.seen = holder, true
	if holder != "" && o.obj.ResourceVersion == obj.ResourceVersion {
		// When this client will judge it expired, by the rule every party
		// applies.
		s.expiry.Reset(max(s.b.judge(o).Remaining, 0) + time.Millisecond)
	}
}

func slicesSortByKey(obs []observation) {
	slices.SortFunc(obs, func(a, b observation) int { return strings.Compare(a.obj.Spec.Key, b.obj.Spec.Key) })
}
