package memory

import (
	"context"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Store holds the records of any number of namespaces.
type Store struct {
	clock clock.PassiveClock

	mu      sync.Mutex
	records map[nsKey]*backends.Lock
	counter uint64 // source of versions and fencing tokens
	subs    map[nsKey]map[chan struct{}]struct{}
}

type nsKey struct{ ns, key string }

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithClock makes the Store judge time by c (a fake clock in tests).
func WithClock(c clock.PassiveClock) StoreOption {
	return func(s *Store) { s.clock = c }
}

// NewStore returns an empty Store.
func NewStore(opts ...StoreOption) *Store {
	s := &Store{
		clock:   clock.RealClock{},
		records: map[nsKey]*backends.Lock{},
		subs:    map[nsKey]map[chan struct{}]struct{}{},
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Backend returns a client of the store for namespace ("" means
// "default"). Clients are cheap; each has its own Close.
func (s *Store) Backend(namespace string) *Backend {
	if namespace == "" {
		namespace = "default"
	}
	return &Backend{store: s, ns: namespace}
}

// Option configures a Backend that New makes.
type Option func(*config)

type config struct {
	namespace string
	store     *Store
}

// WithNamespace scopes the Backend to namespace ("" means "default").
func WithNamespace(namespace string) Option {
	return func(c *config) { c.namespace = namespace }
}

// WithStore makes the Backend a client of s, shared with s's other
// clients, instead of a Store of its own. Store.Backend says the same in
// one call.
func WithStore(s *Store) Option {
	return func(c *config) { c.store = s }
}

// New returns a backend on a Store of its own (see WithStore), for
// namespace "default" (see WithNamespace). It cannot fail.
func New(opts ...Option) *Backend {
	var c config
	for _, opt := range opts {
		opt(&c)
	}
	if c.store == nil {
		c.store = NewStore()
	}
	return c.store.Backend(c.namespace)
}

// Backend is one client of a Store, scoped to a namespace.
type Backend struct {
	store  *Store
	ns     string
	mu     sync.Mutex
	closed bool
}

var (
	_ backends.Backend  = (*Backend)(nil)
	_ backends.Notifier = (*Backend)(nil)
)

// Describe implements backends.Describer.
func (b *Backend) Describe() backends.Description {
	return backends.Description{Backend: "memory", Namespace: b.ns}
}

func (b *Backend) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// check returns the error for a call that must not proceed.
func (b *Backend) check(ctx context.Context, op, key string) error {
	return backends.CheckCall(ctx, b.isClosed(), op, key)
}

func (s *Store) next() string {
	s.counter++
	return strconv.FormatUint(s.counter, 10)
}

// Acquire implements backends.Backend.
func (b *Backend) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	if err := b.check(ctx, "acquiring", req.Key); err != nil {
		return backends.Lock{}, err
	}
	s := b.store
	k := nsKey{b.ns, req.Key}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	rec := s.records[k]
	switch {
	case rec == nil || rec.Holder == "" || !now.Before(rec.ExpiresAt):
		rec = &backends.Lock{Key: req.Key, Holder: req.Holder, AcquiredAt: now}
		rec.Version = s.next()
		rec.FencingToken = s.counter
		rec.Metadata = maps.Clone(req.Metadata)
		s.records[k] = rec
	case rec.Holder == req.Holder:
		rec.Version = s.next()
		if req.Metadata != nil {
			rec.Metadata = maps.Clone(req.Metadata)
		}
	default:
		return backends.Lock{}, backends.Held(req.Key, rec.Holder, rec.ExpiresAt)
	}
	rec.RenewedAt = now
	rec.LeaseDuration = req.LeaseDuration
	rec.ExpiresAt = now.Add(req.LeaseDuration)
	return view(rec, now), nil
}

// Renew implements backends.Backend.
func (b *Backend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	if err := b.check(ctx, "renewing", req.Key); err != nil {
		return backends.Lock{}, err
	}
	s := b.store
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	rec, err := s.guard("renewing", nsKey{b.ns, req.Key}, req.Holder, req.Version)
	if err != nil {
		return backends.Lock{}, err
	}
	if !now.Before(rec.ExpiresAt) {
		return backends.Lock{}, backends.KeyError("renewing", req.Key, backends.ErrLeaseExpired)
	}
	rec.Version = s.next()
	rec.RenewedAt = now
	rec.LeaseDuration = req.LeaseDuration
	rec.ExpiresAt = now.Add(req.LeaseDuration)
	if req.Metadata != nil {
		rec.Metadata = maps.Clone(req.Metadata)
	}
	return view(rec, now), nil
}

// guard checks, in the contract's order, that rec exists, is held by
// holder, and is at version.
func (s *Store) guard(op string, k nsKey, holder, version string) (*backends.Lock, error) {
	rec := s.records[k]
	switch {
	case rec == nil:
		return nil, backends.KeyError(op, k.key, backends.ErrNotFound)
	case rec.Holder != holder:
		return nil, backends.KeyError(op, k.key, backends.ErrNotHolder)
	case rec.Version != version:
		return nil, backends.KeyError(op, k.key, backends.ErrVersionMismatch)
	}
	return rec, nil
}

// Release implements backends.Backend.
func (b *Backend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	if err := b.check(ctx, "releasing", req.Key); err != nil {
		return err
	}
	s := b.store
	k := nsKey{b.ns, req.Key}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.guard("releasing", k, req.Holder, req.Version)
	if err != nil {
		return err
	}
	if req.Delete {
		delete(s.records, k)
	} else {
		rec.Holder = ""
		rec.Version = s.next()
		rec.Metadata = nil
	}
	s.notify(k)
	return nil
}

// Get implements backends.Backend.
func (b *Backend) Get(ctx context.Context, key string) (backends.Lock, error) {
	if err := b.check(ctx, "getting", key); err != nil {
		return backends.Lock{}, err
	}
	s := b.store
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.records[nsKey{b.ns, key}]
	if rec == nil {
		return backends.Lock{}, backends.KeyError("getting", key, backends.ErrNotFound)
	}
	return view(rec, s.clock.Now()), nil
}

// List implements backends.Backend. The page token is the last key of the
// previous page.
func (b *Backend) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	if err := b.check(ctx, "listing", req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	s := b.store
	s.mu.Lock()
	now := s.clock.Now()
	var matched []*backends.Lock
	for k, rec := range s.records {
		if k.ns == b.ns && strings.HasPrefix(k.key, req.Prefix) && k.key > req.PageToken {
			matched = append(matched, rec)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].Key < matched[j].Key })
	var page backends.ListPage
	for i, rec := range matched {
		if i == req.Limit {
			page.NextPageToken = page.Locks[i-1].Key
			break
		}
		page.Locks = append(page.Locks, view(rec, now))
	}
	s.mu.Unlock()
	return page, nil
}

// Close implements backends.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// Subscribe implements backends.Notifier: the channel gets a signal on
// every release or delete of key in this namespace.
func (b *Backend) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	if err := b.check(ctx, "subscribing", key); err != nil {
		return nil, err
	}
	s := b.store
	k := nsKey{b.ns, key}
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs[k] == nil {
		s.subs[k] = map[chan struct{}]struct{}{}
	}
	s.subs[k][ch] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.subs[k], ch)
		if len(s.subs[k]) == 0 {
			delete(s.subs, k)
		}
		s.mu.Unlock()
		close(ch)
	})
	return ch, nil
}

// notify signals every subscriber of k without blocking; the caller holds
// s.mu.
func (s *Store) notify(k nsKey) {
	for ch := range s.subs[k] {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending; signals coalesce
		}
	}
}

// view returns a copy of rec with Held judged at now.
func view(rec *backends.Lock, now time.Time) backends.Lock {
	l := rec.Clone()
	l.Held = l.Holder != "" && now.Before(l.ExpiresAt)
	return l
}
