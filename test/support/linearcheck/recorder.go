package linearcheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Recorder records the operations of several clients on one clock: the
// time since the recorder was created, on Go's monotonic clock, so that
// moments taken by different goroutines compare exactly.
type Recorder struct {
	start time.Time

	mu         sync.Mutex
	ops        []porcupine.Operation
	unknown    int
	failedGets int
	unexpected []error
}

// unknownReturn marks an ambiguous operation's return until Operations
// places it after every other.
const unknownReturn = -1

// NewRecorder starts a recorder's clock.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

func (r *Recorder) now() int64 { return int64(time.Since(r.start)) }

// Client wraps b so that its Acquire, Renew, Release and Get calls are
// recorded as client id's operations. List, Close and any other method
// pass through unrecorded.
func (r *Recorder) Client(id int, b backends.Backend) *Client {
	return &Client{Backend: b, r: r, id: id}
}

// Stats counts what a recorder saw.
type Stats struct {
	// Operations is the number of operations in the history.
	Operations int
	// Unknown is how many of them had an ambiguous outcome.
	Unknown int
	// FailedGets counts failed reads, left out of the history.
	FailedGets int
	// Unexpected are errors outside the contract's set for the call (or
	// records for the wrong key); they are in the history as ambiguous
	// outcomes, and a test should fail on them separately.
	Unexpected []error
}

// Stats returns the counts so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Operations: len(r.ops), Unknown: r.unknown, FailedGets: r.failedGets, Unexpected: append([]error(nil), r.unexpected...)}
}

// Operations returns the history recorded so far. An ambiguous operation
// returns after every other operation: it may take effect at any moment
// after its call, even after its caller saw the error (a request still in
// flight when the connection broke).
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := append([]porcupine.Operation(nil), r.ops...)
	var end int64
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
	}
	for i := range ops {
		if ops[i].Return == unknownReturn {
			ops[i].Return = end + 1
		}
	}
	return ops
}

func (r *Recorder) add(id int, in Input, call int64, out Output, err error) {
	ret := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.unexpected = append(r.unexpected, err)
	}
	if out.Result == Unknown {
		if in.Kind == Get {
			// A failed read constrains nothing.
			r.failedGets++
			return
		}
		r.unknown++
		ret = unknownReturn
	}
	r.ops = append(r.ops, porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
}

// Client is one client's backend, recording its calls.
type Client struct {
	backends.Backend
	r  *Recorder
	id int
}

var _ backends.Backend = (*Client)(nil)

// Acquire implements backends.Backend.
func (c *Client) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	in := Input{Kind: Acquire, Key: req.Key, Holder: req.Holder, SetMeta: req.Metadata != nil, Meta: EncodeMeta(req.Metadata)}
	call := c.r.now()
	l, err := c.Backend.Acquire(ctx, req)
	out, bad := output(req.Key, l, err, errors.Is(err, backends.ErrLockHeld))
	c.r.add(c.id, in, call, out, bad)
	return l, err
}

// Renew implements backends.Backend.
func (c *Client) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	in := Input{Kind: Renew, Key: req.Key, Holder: req.Holder, Version: req.Version,
		SetMeta: req.Metadata != nil, Meta: EncodeMeta(req.Metadata)}
	call := c.r.now()
	l, err := c.Backend.Renew(ctx, req)
	out, bad := output(req.Key, l, err, errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrNotHolder) ||
		errors.Is(err, backends.ErrVersionMismatch) || errors.Is(err, backends.ErrLeaseExpired))
	c.r.add(c.id, in, call, out, bad)
	return l, err
}

// Release implements backends.Backend.
func (c *Client) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	in := Input{Kind: Release, Key: req.Key, Holder: req.Holder, Version: req.Version, Delete: req.Delete}
	call := c.r.now()
	err := c.Backend.Release(ctx, req)
	out, bad := output(req.Key, backends.Lock{Key: req.Key}, err, errors.Is(err, backends.ErrNotFound) ||
		errors.Is(err, backends.ErrNotHolder) || errors.Is(err, backends.ErrVersionMismatch))
	c.r.add(c.id, in, call, out, bad)
	return err
}

// Get implements backends.Backend.
func (c *Client) Get(ctx context.Context, key string) (backends.Lock, error) {
	in := Input{Kind: Get, Key: key}
	call := c.r.now()
	l, err := c.Backend.Get(ctx, key)
	out, bad := output(key, l, err, errors.Is(err, backends.ErrNotFound))
	c.r.add(c.id, in, call, out, bad)
	return l, err
}

// output turns a call's answer into the model's Output. allowed says err
// is one of the decided errors this call may return. Anything else that is
// not a store failure or a context error is returned as unexpected, and is
// recorded as an ambiguous outcome.
func output(key string, l backends.Lock, err error, allowed bool) (Output, error) {
	if err == nil {
		out := Output{Result: OK, Holder: l.Holder, Version: l.Version, Token: l.FencingToken, Held: l.Held, Meta: EncodeMeta(l.Metadata)}
		if l.Key != key {
			return Output{Result: Unknown, Err: "record for another key"}, fmt.Errorf("asked for key %q, got a record for %q", key, l.Key)
		}
		return out, nil
	}
	out := Output{Err: err.Error()}
	var held *backends.HeldError
	switch {
	case allowed && errors.As(err, &held):
		out.Result, out.Holder = LockHeld, held.Holder
	case allowed && errors.Is(err, backends.ErrLockHeld):
		out.Result = LockHeld // no *HeldError: holder unknown
	case allowed && errors.Is(err, backends.ErrNotFound):
		out.Result = NotFound
	case allowed && errors.Is(err, backends.ErrNotHolder):
		out.Result = NotHolder
	case allowed && errors.Is(err, backends.ErrVersionMismatch):
		out.Result = VersionMismatch
	case allowed && errors.Is(err, backends.ErrLeaseExpired):
		out.Result = LeaseExpired
	case errors.Is(err, backends.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		out.Result = Unknown
	default:
		out.Result = Unknown
		return out, fmt.Errorf("key %q: an error outside the contract's set for this call: %w", key, err)
	}
	return out, nil
}
