package clientgolock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Metadata keys under which a lock keeps the fields of client-go's
// LeaderElectionRecord that the lock record has no field for.
const (
	MetadataLeaderTransitions = "leaderelection.leasehold.dev/leader-transitions"
	MetadataStrategy          = "leaderelection.leasehold.dev/strategy"
	MetadataPreferredHolder   = "leaderelection.leasehold.dev/preferred-holder"
)

// resource names the lock in the Kubernetes-style errors client-go
// inspects (apierrors.IsNotFound, IsConflict).
var resource = schema.GroupResource{Group: "leasehold.dev", Resource: "locks"}

// Lock is a client-go resourcelock.Interface over a Leasehold lock. It is
// safe for concurrent use, though client-go calls it from one goroutine
// at a time.
type Lock struct {
	m        *lockmanager.Manager
	key      string
	identity string
	onEvent  func(event string)
	clock    func() time.Time

	mu sync.Mutex
	// seen is the version of the record the last Get returned, and seenOK
	// whether there was one: an acquisition must find the store unchanged
	// since that Get.
	seen   string
	seenOK bool
	// grant is this candidate's current lease, as far as it knows; nil
	// when it holds none.
	grant *lockmanager.Lock
	// quietUntil: after losing a lease it did not give up, the lock
	// refuses to acquire again until this time (see Update).
	quietUntil time.Time
}

var _ resourcelock.Interface = (*Lock)(nil)

// Option configures a Lock.
type Option func(*Lock)

// WithEventHandler receives the events client-go records ("became leader",
// "stopped leading"), prefixed with the identity as client-go's own locks
// do, for example to log them or to forward them to an EventRecorder.
func WithEventHandler(f func(event string)) Option {
	return func(l *Lock) { l.onEvent = f }
}

// New returns a lock named key on m for the candidate identity, which must
// be unique among the candidates of the election. Key and identity follow
// the lock contract (1 to 256 bytes of UTF-8, no control characters).
func New(m *lockmanager.Manager, key, identity string, opts ...Option) (*Lock, error) {
	if m == nil {
		return nil, backends.InvalidArgument("Manager", "must not be nil")
	}
	if err := lockmanager.ValidateKey(key); err != nil {
		return nil, err
	}
	if identity == "" {
		// client-go refuses an empty identity too; the rest of the rule is
		// checked by the first Acquire.
		return nil, backends.InvalidArgument("identity", "must not be empty")
	}
	l := &Lock{m: m, key: key, identity: identity, clock: time.Now}
	for _, opt := range opts {
		opt(l)
	}
	return l, nil
}

// Identity implements resourcelock.Interface.
func (l *Lock) Identity() string { return l.identity }

// Describe implements resourcelock.Interface: the lock's key, for logs.
func (l *Lock) Describe() string { return "leasehold lock " + strconv.Quote(l.key) }

// RecordEvent implements resourcelock.Interface.
func (l *Lock) RecordEvent(event string) {
	if l.onEvent != nil {
		l.onEvent(l.identity + " " + event)
	}
}

// rawRecord is what Get's bytes encode. client-go compares them to notice
// that the record changed, and counts the lease from that moment; the
// version makes every change visible, whatever the timestamps' precision.
type rawRecord struct {
	resourcelock.LeaderElectionRecord
	Version string `json:"version"`
}

// Get implements resourcelock.Interface. A missing record is an
// apierrors.IsNotFound error (client-go then calls Create). A released or
// expired lease, as the store judges it, reads as a record with no holder,
// so client-go tries at once rather than after its own lease count.
func (l *Lock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec, err := l.m.Get(ctx, l.key)
	if errors.Is(err, lockmanager.ErrNotFound) {
		l.seen, l.seenOK = "", false
		l.lose()
		return nil, nil, statusErr(apierrors.NewNotFound(resource, l.key), err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading leader election record: %w", err)
	}
	l.seen, l.seenOK = rec.Version, true
	if l.grant != nil {
		if rec.Held && rec.Holder == l.identity && rec.FencingToken == l.grant.FencingToken {
			// Still our grant; a newer version means a renewal of ours
			// committed although its reply was lost.
			l.grant = &rec
		} else {
			l.lose()
		}
	}
	ler := toRecord(rec)
	raw, err := json.Marshal(rawRecord{LeaderElectionRecord: ler, Version: rec.Version})
	if err != nil {
		return nil, nil, err
	}
	return &ler, raw, nil
}

// Create implements resourcelock.Interface: it acquires the lock for
// ler.HolderIdentity, which must be this lock's identity. If another
// candidate holds it by now, the error is apierrors.IsAlreadyExists.
func (l *Lock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ler.HolderIdentity != l.identity {
		return backends.InvalidArgument("HolderIdentity", "must be this lock's identity %q, got %q", l.identity, ler.HolderIdentity)
	}
	if err := l.quiet(); err != nil {
		return err
	}
	err := l.acquire(ctx, ler)
	if errors.Is(err, lockmanager.ErrLockHeld) {
		return statusErr(apierrors.NewAlreadyExists(resource, l.key), err)
	}
	return err
}

// Update implements resourcelock.Interface, translating client-go's record
// writes into lock operations:
//
//   - a record naming this identity while it holds the lease renews it,
//     with the version of its last grant or renewal (compare-and-swap);
//   - a record naming this identity while it holds no lease acquires the
//     lock, but only if the store's version is still the one the last Get
//     returned (otherwise an apierrors.IsConflict error): so a decision
//     client-go made on a stale read never succeeds; the store then grants
//     only a free or expired lock, whatever client-go concluded;
//   - a record with no holder (client-go's release, ReleaseOnCancel)
//     releases the lease, keeping the record and its fencing history.
//
// After this candidate lost a lease it had not given up (the store refused
// a renewal), it does not acquire again for that lease's duration: the
// client-go elector that believed in the lost lease gives leadership up
// within its RenewDeadline, which client-go requires to be shorter than
// the lease, and must have done so before this identity leads again.
func (l *Lock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ler.HolderIdentity {
	case "":
		return l.release(ctx)
	case l.identity:
		if l.grant != nil {
			return l.renew(ctx, ler)
		}
		if err := l.quiet(); err != nil {
			return err
		}
		if !l.seenOK {
			return statusErr(apierrors.NewConflict(resource, l.key, errors.New("no record read: call Get first")), nil)
		}
		cur, err := l.m.Get(ctx, l.key)
		if errors.Is(err, lockmanager.ErrNotFound) || (err == nil && cur.Version != l.seen) {
			return statusErr(apierrors.NewConflict(resource, l.key, errors.New("the record changed since it was read")), err)
		}
		if err != nil {
			return fmt.Errorf("reading leader election record: %w", err)
		}
		err = l.acquire(ctx, ler)
		if errors.Is(err, lockmanager.ErrLockHeld) {
			return statusErr(apierrors.NewConflict(resource, l.key, err), err)
		}
		return err
	default:
		return backends.InvalidArgument("HolderIdentity", "must be this lock's identity %q or empty, got %q", l.identity, ler.HolderIdentity)
	}
}

// acquire takes the lock with one attempt.
func (l *Lock) acquire(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	got, err := l.m.Acquire(ctx, lockmanager.AcquireOptions{
		Key:           l.key,
		Holder:        l.identity,
		LeaseDuration: time.Duration(ler.LeaseDurationSeconds) * time.Second,
		Metadata:      toMetadata(ler),
	})
	if err != nil {
		return err
	}
	l.grant = &got
	l.seen, l.seenOK = got.Version, true
	return nil
}

// renew extends the current grant.
func (l *Lock) renew(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	got, err := l.m.Renew(ctx, lockmanager.RenewOptions{
		Key:           l.key,
		Holder:        l.identity,
		Version:       l.grant.Version,
		LeaseDuration: time.Duration(ler.LeaseDurationSeconds) * time.Second,
		Metadata:      toMetadata(ler),
	})
	switch {
	case err == nil:
		l.grant = &got
		l.seen, l.seenOK = got.Version, true
		return nil
	case errors.Is(err, lockmanager.ErrVersionMismatch):
		// Perhaps our own earlier renewal committed without a reply:
		// client-go's next step is a Get, which adopts the version if the
		// grant is still ours.
		return statusErr(apierrors.NewConflict(resource, l.key, err), err)
	case errors.Is(err, lockmanager.ErrNotHolder), errors.Is(err, lockmanager.ErrNotFound), errors.Is(err, lockmanager.ErrLeaseExpired):
		l.lose()
		return statusErr(apierrors.NewConflict(resource, l.key, err), err)
	}
	return err
}

// release gives the current grant up; with none there is nothing of ours
// to release.
func (l *Lock) release(ctx context.Context) error {
	if l.grant == nil {
		return nil
	}
	err := l.m.Release(ctx, lockmanager.ReleaseOptions{Key: l.key, Holder: l.identity, Version: l.grant.Version})
	switch {
	case err == nil, errors.Is(err, lockmanager.ErrNotHolder), errors.Is(err, lockmanager.ErrNotFound):
		// Released now, or no longer ours: either way not held by us.
		l.grant = nil
		// The record changed: a later acquisition needs a fresh Get.
		l.seenOK = false
		return nil
	case errors.Is(err, lockmanager.ErrVersionMismatch):
		// client-go retries the release after a Get, which adopts the
		// version if the grant is still ours.
		return statusErr(apierrors.NewConflict(resource, l.key, err), err)
	}
	return err
}

// lose forgets a grant the store no longer has for us and starts the
// quiet period.
func (l *Lock) lose() {
	if l.grant == nil {
		return
	}
	l.quietUntil = l.clock().Add(l.grant.LeaseDuration)
	l.grant = nil
}

// quiet returns an error while acquisitions are refused after a loss.
func (l *Lock) quiet() error {
	if until := l.quietUntil; l.clock().Before(until) {
		return statusErr(apierrors.NewConflict(resource, l.key,
			fmt.Errorf("this candidate lost its lease and may not acquire again before %s", until.Format(time.RFC3339Nano))), nil)
	}
	return nil
}

// toRecord maps a lock record onto client-go's.
func toRecord(rec lockmanager.Lock) resourcelock.LeaderElectionRecord {
	ler := resourcelock.LeaderElectionRecord{
		// Round up: client-go must not count a lease shorter than the
		// store's.
		LeaseDurationSeconds: int((rec.LeaseDuration + time.Second - 1) / time.Second),
		AcquireTime:          metav1.NewTime(rec.AcquiredAt),
		RenewTime:            metav1.NewTime(rec.RenewedAt),
		Strategy:             coordinationv1.CoordinatedLeaseStrategy(rec.Metadata[MetadataStrategy]),
		PreferredHolder:      rec.Metadata[MetadataPreferredHolder],
	}
	if rec.Held {
		ler.HolderIdentity = rec.Holder
	}
	if n, err := strconv.Atoi(rec.Metadata[MetadataLeaderTransitions]); err == nil && n >= 0 {
		ler.LeaderTransitions = n
	}
	return ler
}

// toMetadata keeps the record's fields the lock has no field for.
func toMetadata(ler resourcelock.LeaderElectionRecord) map[string]string {
	md := map[string]string{MetadataLeaderTransitions: strconv.Itoa(ler.LeaderTransitions)}
	if ler.Strategy != "" {
		md[MetadataStrategy] = string(ler.Strategy)
	}
	if ler.PreferredHolder != "" {
		md[MetadataPreferredHolder] = ler.PreferredHolder
	}
	return md
}

// statusError is a Kubernetes API status (what client-go's
// apierrors.IsNotFound and IsConflict look for) that also wraps the lock
// contract's error, so errors.Is works with both.
type statusError struct {
	status *apierrors.StatusError
	cause  error
}

func statusErr(status *apierrors.StatusError, cause error) error {
	return &statusError{status: status, cause: cause}
}

func (e *statusError) Error() string {
	msg := e.status.Error()
	if e.cause == nil || strings.Contains(msg, e.cause.Error()) {
		return msg
	}
	return msg + ": " + e.cause.Error()
}

// Status makes apierrors.IsNotFound, IsConflict and IsAlreadyExists work.
func (e *statusError) Status() metav1.Status { return e.status.Status() }

func (e *statusError) Unwrap() error { return e.cause }
