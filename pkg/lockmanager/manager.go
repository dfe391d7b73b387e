package lockmanager

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Manager is the portable lock API over one backend. It is safe for
// concurrent use; create one per backend and share it.
type Manager struct {
	backend  backends.Backend
	waiters  *waiters          // Acquires with Wait > 0, and their subscriptions
	notifier backends.Notifier // nil when the backend has no notifications (Sessions watch with it)
	observer Observer
	lease    LeaseObserver // observer's lease hooks, or a no-op
	store    Description   // what lease hooks are told
	closed   atomic.Bool
}

// Option configures a Manager.
type Option func(*Manager)

// WithObserver reports every operation to o (for example a
// lockmetrics.Observer, which exports Prometheus metrics), and waits,
// renewals and lost sessions too if o is a LeaseObserver.
func WithObserver(o Observer) Option {
	return func(m *Manager) {
		if o != nil {
			m.observer = o
		}
	}
}

// New returns a Manager over b. The Manager owns b: Close closes it.
func New(b backends.Backend, opts ...Option) *Manager {
	n, _ := b.(backends.Notifier) // nil: waiters poll
	m := &Manager{backend: b, waiters: newWaiters(n), notifier: n, observer: nopObserver{}, store: backends.Describe(b)}
	for _, opt := range opts {
		opt(m)
	}
	m.lease = nopObserver{}
	if lo, ok := m.observer.(LeaseObserver); ok {
		m.lease = lo
	}
	return m
}

// Open opens the backend that url names (see backends.Open; import the
// backend's package to register its scheme) and returns a Manager over it.
func Open(ctx context.Context, url string, opts ...Option) (*Manager, error) {
	b, err := backends.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return New(b, opts...), nil
}

// Backend returns the backend the Manager wraps.
func (m *Manager) Backend() backends.Backend { return m.backend }

// Acquire takes the lock for o.Holder, waiting up to o.Wait while another
// holder has it. It returns the granted Lock, or ErrLockHeld (a
// *HeldError) when the wait ran out, or the context's error when ctx ended
// first.
func (m *Manager) Acquire(ctx context.Context, o AcquireOptions) (Lock, error) {
	start := time.Now()
	l, _, err := m.acquire(ctx, &o)
	m.observer.ObserveOperation(OpAcquire, Outcome(err), time.Since(start))
	return l, err
}

// acquire is Acquire that also reports when the successful attempt was
// sent, which a Session counts its lease from.
func (m *Manager) acquire(ctx context.Context, o *AcquireOptions) (Lock, time.Time, error) {
	if m.closed.Load() {
		return Lock{}, time.Time{}, backends.KeyError("acquiring", o.Key, ErrClosed)
	}
	if err := o.validate(); err != nil {
		return Lock{}, time.Time{}, err
	}
	if err := backends.CheckContext(ctx, "acquiring", o.Key); err != nil {
		return Lock{}, time.Time{}, err
	}
	req := &backends.AcquireRequest{
		Key:           o.Key,
		Holder:        o.Holder,
		LeaseDuration: o.LeaseDuration,
		Metadata:      maps.Clone(o.Metadata),
	}
	if o.HolderPod != nil {
		pod := *o.HolderPod
		req.HolderPod = &pod
	}
	if o.Wait == 0 {
		sent := time.Now()
		l, err := m.backend.Acquire(ctx, req)
		return l, sent, err
	}
	return m.wait(ctx, req, o.Wait, o.pollPeriod())
}

// Renew extends a lease the caller holds.
func (m *Manager) Renew(ctx context.Context, o RenewOptions) (Lock, error) {
	start := time.Now()
	l, err := m.renew(ctx, &o)
	m.observer.ObserveOperation(OpRenew, Outcome(err), time.Since(start))
	return l, err
}

func (m *Manager) renew(ctx context.Context, o *RenewOptions) (Lock, error) {
	if m.closed.Load() {
		return Lock{}, backends.KeyError("renewing", o.Key, ErrClosed)
	}
	if err := o.validate(); err != nil {
		return Lock{}, err
	}
	if err := backends.CheckContext(ctx, "renewing", o.Key); err != nil {
		return Lock{}, err
	}
	return m.backend.Renew(ctx, &backends.RenewRequest{
		Key:           o.Key,
		Holder:        o.Holder,
		Version:       o.Version,
		LeaseDuration: o.LeaseDuration,
		Metadata:      maps.Clone(o.Metadata),
	})
}

// Release gives a lease up, keeping the record as free or deleting it.
func (m *Manager) Release(ctx context.Context, o ReleaseOptions) error {
	start := time.Now()
	err := m.release(ctx, &o)
	m.observer.ObserveOperation(OpRelease, Outcome(err), time.Since(start))
	return err
}

func (m *Manager) release(ctx context.Context, o *ReleaseOptions) error {
	if m.closed.Load() {
		return backends.KeyError("releasing", o.Key, ErrClosed)
	}
	if err := o.validate(); err != nil {
		return err
	}
	if err := backends.CheckContext(ctx, "releasing", o.Key); err != nil {
		return err
	}
	released := m.waiters.releasing(o.Key)
	sent := time.Now()
	err := m.backend.Release(ctx, &backends.ReleaseRequest{
		Key: o.Key, Holder: o.Holder, Version: o.Version, Delete: o.Delete,
	})
	if err == nil {
		m.waiters.answered(time.Since(sent))
	}
	released(err == nil)
	return err
}

// Get returns the record for key, or ErrNotFound.
func (m *Manager) Get(ctx context.Context, key string) (Lock, error) {
	start := time.Now()
	l, err := m.get(ctx, key)
	m.observer.ObserveOperation(OpGet, Outcome(err), time.Since(start))
	return l, err
}

func (m *Manager) get(ctx context.Context, key string) (Lock, error) {
	if m.closed.Load() {
		return Lock{}, backends.KeyError("getting", key, ErrClosed)
	}
	if err := ValidateKey(key); err != nil {
		return Lock{}, err
	}
	if err := backends.CheckContext(ctx, "getting", key); err != nil {
		return Lock{}, err
	}
	return m.backend.Get(ctx, key)
}

// List returns one page of records whose key starts with o.Prefix, sorted
// by key. Pass the page's NextPageToken back for the next page; it is empty
// on the last one.
func (m *Manager) List(ctx context.Context, o ListOptions) (ListPage, error) {
	start := time.Now()
	p, err := m.list(ctx, &o)
	m.observer.ObserveOperation(OpList, Outcome(err), time.Since(start))
	return p, err
}

func (m *Manager) list(ctx context.Context, o *ListOptions) (ListPage, error) {
	if m.closed.Load() {
		return ListPage{}, fmt.Errorf("listing %q: %w", o.Prefix, ErrClosed)
	}
	if err := o.validate(); err != nil {
		return ListPage{}, err
	}
	if err := backends.CheckContext(ctx, "listing", o.Prefix); err != nil {
		return ListPage{}, err
	}
	limit := o.PageSize
	if limit == 0 {
		limit = DefaultPageSize
	}
	return m.backend.List(ctx, &backends.ListRequest{Prefix: o.Prefix, Limit: limit, PageToken: o.PageToken})
}

// Close wakes every waiting Acquire (and Hold), which returns ErrClosed at
// once, ends the Manager's subscriptions and closes the backend. Calls
// after Close return ErrClosed. Leases granted through the Manager are not
// released: sessions should be released first.
func (m *Manager) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.waiters.close()
	return m.backend.Close()
}
