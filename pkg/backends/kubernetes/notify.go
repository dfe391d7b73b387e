package kubernetes

import (
	"context"
	"slices"
	"strings"
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
	stop := context.AfterFunc(b.done, cancel)
	b.subs.Add(1)
	go func() {
		defer b.subs.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		s := &subscription{b: b, key: key, ch: ch}
		s.run(ctx)
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
}

func (s *subscription) signal() {
	select {
	case s.ch <- struct{}{}:
	default: // a signal is pending already; signals coalesce
	}
}

func (s *subscription) run(ctx context.Context) {
	s.expiry = time.NewTimer(time.Hour)
	s.expiry.Stop()
	defer s.expiry.Stop()
	first := true
	for ctx.Err() == nil {
		w, err := s.b.c.Watch(ctx, &locksv1alpha1.DistributedLockList{},
			client.InNamespace(s.b.ns), client.MatchingFields{"metadata.name": ObjectName(s.key)})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(rewatchBackoff):
			}
			continue
		}
		if !first {
			s.signal()
		}
		first = false
		s.consume(ctx, w)
		w.Stop()
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
				s.signal()
			case ev.Type == watch.Added || ev.Type == watch.Modified:
				s.changed(obj)
			}
		}
	}
}

// changed reacts to a new state of the object: a free lock or a new holder
// is worth a try; a held one is worth a try once it expires.
func (s *subscription) changed(obj *locksv1alpha1.DistributedLock) {
	o := s.b.seen.observe(obj, s.b.clock.Now())
	holder := obj.Spec.HolderIdentity
	s.expiry.Stop()
	if holder == "" || (s.seen && holder != s.holder) {
		s.signal()
	}
	s.holder, s.seen = holder, true
	if holder != "" && o.obj.ResourceVersion == obj.ResourceVersion {
		// The first sighting of this version plus the lease is when this
		// client will judge it expired (at the latest).
		s.expiry.Reset(max(leaseOf(obj)-s.b.clock.Since(o.seenAt), 0) + time.Millisecond)
	}
}

func slicesSortByKey(obs []observation) {
	slices.SortFunc(obs, func(a, b observation) int { return strings.Compare(a.obj.Spec.Key, b.obj.Spec.Key) })
}
