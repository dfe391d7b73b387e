package workload

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// SlowBackend delays every call by its latency before and after the call,
// like a slow link in each direction, for the backends that have no
// network to slow down (memory, SQLite). Delays honour the call's context.
type SlowBackend struct {
	backends.Backend
	latency atomic.Int64
}

var (
	_ backends.Backend  = (*SlowBackend)(nil)
	_ backends.Notifier = (*SlowBackend)(nil)
)

// Set sets the latency added in each direction (0: none).
func (s *SlowBackend) Set(d time.Duration) { s.latency.Store(int64(d)) }

func (s *SlowBackend) delay(ctx context.Context, op, key string) error {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return backends.Unavailable(op, key, ctx.Err())
	}
}

// around delays the request, makes the call, then delays the reply (a
// reply that cannot be delivered is lost, like one on a slow link).
func around[T any](s *SlowBackend, ctx context.Context, op, key string, call func() (T, error)) (T, error) {
	var zero T
	if err := s.delay(ctx, op, key); err != nil {
		return zero, err
	}
	v, err := call()
	if derr := s.delay(ctx, op, key); derr != nil {
		return zero, derr
	}
	return v, err
}

func (s *SlowBackend) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	return around(s, ctx, "acquiring", req.Key, func() (backends.Lock, error) { return s.Backend.Acquire(ctx, req) })
}

func (s *SlowBackend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	return around(s, ctx, "renewing", req.Key, func() (backends.Lock, error) { return s.Backend.Renew(ctx, req) })
}

func (s *SlowBackend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	_, err := around(s, ctx, "releasing", req.Key, func() (struct{}, error) { return struct{}{}, s.Backend.Release(ctx, req) })
	return err
}

func (s *SlowBackend) Get(ctx context.Context, key string) (backends.Lock, error) {
	return around(s, ctx, "getting", key, func() (backends.Lock, error) { return s.Backend.Get(ctx, key) })
}

// Subscribe passes the wrapped backend's notifications through, so that
// waiters are woken as they would be without the wrapper.
func (s *SlowBackend) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	n, ok := s.Backend.(backends.Notifier)
	if !ok {
		return nil, backends.Unavailable("subscribing", key, errNoNotifier)
	}
	return n.Subscribe(ctx, key)
}

type noNotifier struct{}

func (noNotifier) Error() string { return "the wrapped backend sends no change notifications" }

var errNoNotifier error = noNotifier{}
