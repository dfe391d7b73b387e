package backendtest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Fault is what a Faulty backend does to calls.
type Fault int32

// The faults a Faulty backend can inject.
const (
	// NoFault passes calls through.
	NoFault Fault = iota
	// FailFast fails every call at once with ErrUnavailable.
	FailFast
	// Hang blocks every call until its context ends, like a partitioned
	// store.
	Hang
	// LoseReplies performs every call on the store, then fails it with
	// ErrUnavailable, like a connection that drops after the write
	// committed.
	LoseReplies
)

// Faulty wraps a real backend and injects faults into its calls, so that
// heartbeat behaviour can be tested on every backend. It is not a mock:
// every call that goes through reaches the real store.
type Faulty struct {
	backends.Backend
	fault atomic.Int32
	calls atomic.Int64
	// limited counts down the calls left to fault when Set was given a
	// count; at zero the fault reverts to NoFault.
	limited atomic.Int64
	gets    atomic.Int64
	// pause, when set, holds the next Renew (see PauseNextRenew).
	pause atomic.Pointer[pause]
}

// Stage is a point in a call at which PauseNextRenew holds it.
type Stage int

const (
	// BeforeStore holds the call before it reaches the store.
	BeforeStore Stage = iota
	// AfterStore holds the call after the store has answered, with the
	// reply not yet returned.
	AfterStore
)

type pause struct {
	at      Stage
	reached chan struct{}
}

var (
	_ backends.Backend  = (*Faulty)(nil)
	_ backends.Notifier = (*Faulty)(nil)
)

// NewFaulty wraps b.
func NewFaulty(b backends.Backend) *Faulty { return &Faulty{Backend: b} }

// Describe describes the wrapped backend (backends.Describer).
func (f *Faulty) Describe() backends.Description { return backends.Describe(f.Backend) }

// Set makes every later call suffer fault.
func (f *Faulty) Set(fault Fault) {
	f.limited.Store(0)
	f.fault.Store(int32(fault))
}

// SetNext makes the next n faultable calls suffer fault, then passes calls
// through again.
func (f *Faulty) SetNext(fault Fault, n int) {
	f.limited.Store(int64(n))
	f.fault.Store(int32(fault))
}

// current returns the fault for this call, counting down a limited fault.
func (f *Faulty) current() Fault {
	fault := Fault(f.fault.Load())
	if fault == NoFault {
		return NoFault
	}
	if f.limited.Load() > 0 {
		if f.limited.Add(-1) < 0 {
			return NoFault
		}
		if f.limited.Load() == 0 {
			f.fault.CompareAndSwap(int32(fault), int32(NoFault))
		}
	}
	return fault
}

// Calls counts the calls made so far.
func (f *Faulty) Calls() int64 { return f.calls.Load() }

// Gets counts the Get calls made so far.
func (f *Faulty) Gets() int64 { return f.gets.Load() }

// PauseNextRenew holds the next Renew at stage until the caller gives up on
// it (its context ends), then fails it with the context's error, as a
// client that stopped waiting does: at BeforeStore the request never
// reaches the store; at AfterStore the store has applied it and only the
// reply is lost. reached is closed when the call gets to stage.
func (f *Faulty) PauseNextRenew(at Stage) (reached <-chan struct{}) {
	p := &pause{at: at, reached: make(chan struct{})}
	f.pause.Store(p)
	return p.reached
}

// hold holds a paused call at stage until ctx ends.
func (p *pause) hold(ctx context.Context, at Stage) error {
	if p == nil || p.at != at {
		return nil
	}
	close(p.reached)
	<-ctx.Done()
	return ctx.Err()
}

func (f *Faulty) before(ctx context.Context, op, key string) (Fault, error) {
	f.calls.Add(1)
	switch fault := f.current(); fault {
	case FailFast:
		return fault, backends.Unavailable(op, key, errInjected)
	case Hang:
		<-ctx.Done()
		return fault, backends.Unavailable(op, key, ctx.Err())
	default:
		return fault, nil
	}
}

func after[T any](fault Fault, op, key string, v T, err error) (T, error) {
	if fault == LoseReplies && err == nil {
		var zero T
		return zero, backends.Unavailable(op, key, errInjected)
	}
	return v, err
}

type injected struct{}

func (injected) Error() string { return "fault injected by backendtest.Faulty" }

var errInjected error = injected{}

// Acquire implements backends.Backend.
func (f *Faulty) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	fault, err := f.before(ctx, "acquiring", req.Key)
	if err != nil {
		return backends.Lock{}, err
	}
	l, err := f.Backend.Acquire(ctx, req)
	return after(fault, "acquiring", req.Key, l, err)
}

// Renew implements backends.Backend.
func (f *Faulty) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	p := f.pause.Swap(nil)
	if err := p.hold(ctx, BeforeStore); err != nil {
		return backends.Lock{}, backends.Unavailable("renewing", req.Key, err)
	}
	fault, err := f.before(ctx, "renewing", req.Key)
	if err != nil {
		return backends.Lock{}, err
	}
	l, err := f.Backend.Renew(ctx, req)
	if err := p.hold(ctx, AfterStore); err != nil {
		return backends.Lock{}, backends.Unavailable("renewing", req.Key, err)
	}
	return after(fault, "renewing", req.Key, l, err)
}

// Release implements backends.Backend.
func (f *Faulty) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	fault, err := f.before(ctx, "releasing", req.Key)
	if err != nil {
		return err
	}
	err = f.Backend.Release(ctx, req)
	_, err = after(fault, "releasing", req.Key, struct{}{}, err)
	return err
}

// Get implements backends.Backend. Reads are never faulted by LoseReplies,
// so that a session can resolve an ambiguous renewal.
func (f *Faulty) Get(ctx context.Context, key string) (backends.Lock, error) {
	f.gets.Add(1)
	if _, err := f.before(ctx, "getting", key); err != nil {
		return backends.Lock{}, err
	}
	return f.Backend.Get(ctx, key)
}

// List implements backends.Backend.
func (f *Faulty) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	if _, err := f.before(ctx, "listing", req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	return f.Backend.List(ctx, req)
}

// Subscribe implements backends.Notifier when the wrapped backend does, so
// that waiters on a Faulty backend are woken as on the real one. While a
// fault is set, subscribing fails, and the waiter falls back to polling.
func (f *Faulty) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	n, ok := f.Backend.(backends.Notifier)
	if !ok {
		return nil, backends.Unavailable("subscribing", key, errNoNotifier)
	}
	if Fault(f.fault.Load()) != NoFault {
		return nil, backends.Unavailable("subscribing", key, errInjected)
	}
	return n.Subscribe(ctx, key)
}

var errNoNotifier = errors.New("the wrapped backend sends no change notifications")
