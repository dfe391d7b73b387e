package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

const (
	// DefaultSkewAllowance is how far the holder's clock may be behind
	// this client's before renewTime stops shortening the wait for expiry
	// (the controller's default too: see package lease).
	DefaultSkewAllowance = lease.DefaultSkewAllowance
	// DefaultObservationLimit bounds the observation table (see
	// WithObservationLimit).
	DefaultObservationLimit = 4096

	// listChunk is the page size asked of the API server while listing.
	listChunk = 500
)

// Option configures a Backend.
type Option func(*config)

type config struct {
	namespace        string
	clock            clock.PassiveClock
	skew             time.Duration
	observationLimit int
}

func newConfig(opts []Option) config {
	c := config{namespace: "default", clock: clock.RealClock{}, skew: DefaultSkewAllowance, observationLimit: DefaultObservationLimit}
	for _, opt := range opts {
		opt(&c)
	}
	return c
}

// validate checks what New and NewForConfig refuse before any request;
// field names the namespace's source in the error.
func (c config) validate(field string) error {
	if errs := validation.IsDNS1123Label(c.namespace); len(errs) > 0 {
		return backends.InvalidArgument(field, "namespace %q is not a valid Kubernetes namespace: %s", c.namespace, strings.Join(errs, "; "))
	}
	return nil
}

// WithNamespace keeps the records in Kubernetes namespace ns ("" means
// "default"). It must be a DNS-1123 label.
func WithNamespace(ns string) Option {
	return func(c *config) {
		if ns != "" {
			c.namespace = ns
		}
	}
}

// WithClock makes the Backend judge expiry by c (a fake clock in tests).
// It also stamps acquireTime and renewTime.
func WithClock(clk clock.PassiveClock) Option {
	return func(c *config) { c.clock = clk }
}

// WithSkewAllowance sets the skew allowance of the expiry rule (see
// package lease): how far a holder's clock may lag this client's. Zero
// trusts renewTime exactly; the default is DefaultSkewAllowance. Negative
// values are treated as zero.
func WithSkewAllowance(d time.Duration) Option {
	return func(c *config) { c.skew = max(d, 0) }
}

// WithObservationLimit bounds how many keys the client-side observation
// table remembers (at least 1; default DefaultObservationLimit). A key
// forgotten is read again when next used.
func WithObservationLimit(n int) Option {
	return func(c *config) { c.observationLimit = max(n, 1) }
}

// Backend keeps lock records as DistributedLock objects in one Kubernetes
// namespace. It is safe for concurrent use.
type Backend struct {
	c     client.WithWatch
	ns    string
	clock clock.PassiveClock
	skew  time.Duration
	seen  *observations
	// synced counts, per key, the live subscriptions that have delivered
	// the key's current state (see WatchRefuser).
	synced syncedKeys

	// done ends every subscription when the Backend closes.
	done  context.Context
	close context.CancelFunc
	subs  sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

var (
	_ backends.Backend      = (*Backend)(nil)
	_ backends.Notifier     = (*Backend)(nil)
	_ backends.WatchRefuser = (*Backend)(nil)
)

// Describe implements backends.Describer.
func (b *Backend) Describe() backends.Description {
	return backends.Description{Backend: "kubernetes", Namespace: b.ns}
}

// New returns a backend over c, which must know package api/v1alpha1
// in its scheme (Scheme returns one that does) and must read from the API
// server, not from an informer cache: the backend's decisions rest on reads
// being current. New performs no I/O; NewForConfig and Open check the
// cluster at once. A nil c or a namespace that is not a DNS-1123 label is
// ErrInvalidArgument.
func New(c client.WithWatch, opts ...Option) (*Backend, error) {
	if c == nil {
		return nil, backends.InvalidArgument("client", "must not be nil")
	}
	cfg := newConfig(opts)
	if err := cfg.validate("namespace"); err != nil {
		return nil, err
	}
	return newBackend(c, cfg), nil
}

func newBackend(c client.WithWatch, cfg config) *Backend {
	b := &Backend{
		c:     c,
		ns:    cfg.namespace,
		clock: cfg.clock,
		skew:  cfg.skew,
		seen:  newObservations(cfg.observationLimit),
	}
	b.done, b.close = context.WithCancel(context.Background())
	return b
}

// Namespace returns the Kubernetes namespace the backend works in.
func (b *Backend) Namespace() string { return b.ns }

// Close implements backends.Backend. It ends every subscription and waits
// for their goroutines.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.close()
	b.subs.Wait()
	return nil
}

// check returns the error for a call that must not proceed.
func (b *Backend) check(ctx context.Context, op, key string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	return backends.CheckCall(ctx, closed, op, key)
}

// errContended reports an acquire whose guarded writes kept losing to
// writes that left the key grantable (the controller's, or other
// acquirers' that released at once). Retrying is safe.
var errContended = errors.New("the object kept changing under concurrent writes")

// errLostRace reports a watched try whose guarded write lost to another
// write (see Acquire).
var errLostRace = errors.New("another write to the object came first")

// Acquire implements backends.Backend.
//
// Requests: on an object this client last saw free (or expired, or held by
// req.Holder) at its current resourceVersion, one guarded update. On a key
// this client has not seen, a create of the free object, then a guarded
// update granting it. A conflict is retried once with a fresh read, if that
// read shows the key still grantable.
//
// A try marked Watched, on a key one of this Backend's subscriptions is
// watching with its current state delivered, sends nothing when the
// watched state shows the key held by another and unexpired, and sends
// no read after losing a write race: both are refused at once (Held, or
// Unavailable for the lost race), since the change that ends the wait
// reaches the waiter as a signal. This is what keeps waiters in many
// processes from all writing at every hand-off.
func (b *Backend) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	const op = "acquiring"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	cur, known := b.seen.get(req.Key)
	fresh := false // cur came from the server during this call
	conflicts := 0
	for attempt := 0; attempt < 6; attempt++ {
		if !known {
			created, err := b.createFree(ctx, req.Key)
			switch {
			case err == nil:
				cur, known, fresh = created, true, true
			case apierrors.IsAlreadyExists(err):
				cur, err = b.read(ctx, op, req.Key)
				if errors.Is(err, backends.ErrNotFound) {
					continue // deleted again in between: create anew
				}
				if err != nil {
					return backends.Lock{}, err
				}
				known, fresh = true, true
			default:
				return backends.Lock{}, b.failure(op, req.Key, err)
			}
		}
		held := cur.obj.Spec.HolderIdentity != "" && cur.obj.Spec.HolderIdentity != req.Holder && !b.expired(cur)
		if held {
			if !fresh && req.Watched && b.synced.has(req.Key) {
				return backends.Lock{}, b.heldError(cur.obj)
			}
			if !fresh {
				// This client's copy may be stale: ask before refusing.
				var err error
				if cur, err = b.read(ctx, op, req.Key); errors.Is(err, backends.ErrNotFound) {
					known = false
					continue
				} else if err != nil {
					return backends.Lock{}, err
				}
				fresh = true
				continue
			}
			return backends.Lock{}, b.heldError(cur.obj)
		}
		next, err := b.grant(cur, req)
		if err != nil {
			return backends.Lock{}, err
		}
		err = b.c.Update(ctx, next)
		switch {
		case err == nil:
			return b.view(b.seen.observe(next, b.clock.Now())), nil
		case apierrors.IsNotFound(err):
			b.seen.forget(req.Key, cur.obj.ResourceVersion)
			known = false
		case apierrors.IsConflict(err):
			if req.Watched && b.synced.has(req.Key) {
				// Whoever won is on its way to the subscription, which
				// signals the waiter when the key is worth a try again.
				return backends.Lock{}, b.failure(op, req.Key, errLostRace)
			}
			conflicts++
			if conflicts > 1 {
				// The retry lost too: whoever won decides the answer.
				if cur, err = b.read(ctx, op, req.Key); err == nil && cur.obj.Spec.HolderIdentity != "" && !b.expired(cur) {
					return backends.Lock{}, b.heldError(cur.obj)
				}
				return backends.Lock{}, b.failure(op, req.Key, errContended)
			}
			if cur, err = b.read(ctx, op, req.Key); errors.Is(err, backends.ErrNotFound) {
				known = false
			} else if err != nil {
				return backends.Lock{}, err
			}
			fresh = true
		default:
			return backends.Lock{}, b.failure(op, req.Key, err)
		}
	}
	return backends.Lock{}, b.failure(op, req.Key, errContended)
}

// createFree creates key's object with no holder and fencing token 0: the
// first grant then takes its token from the resourceVersion it reads (see
// the package documentation).
func (b *Backend) createFree(ctx context.Context, key string) (observation, error) {
	obj := &locksv1alpha1.DistributedLock{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(key), Namespace: b.ns},
		Spec:       locksv1alpha1.DistributedLockSpec{Key: key},
	}
	if err := b.c.Create(ctx, obj); err != nil {
		return observation{}, err
	}
	return b.seen.observe(obj, b.clock.Now()), nil
}

// grant builds the object that grants (or, for the current holder, renews)
// req on top of cur.
func (b *Backend) grant(cur observation, req *backends.AcquireRequest) (*locksv1alpha1.DistributedLock, error) {
	next := b.writable(cur.obj)
	s := &next.Spec
	now := b.now()
	if s.HolderIdentity == req.Holder && !b.expired(cur) {
		if req.Metadata != nil {
			s.Metadata = maps.Clone(req.Metadata)
		}
		if req.HolderPod != nil {
			s.HolderPod = b.holderPod(req.HolderPod)
		}
	} else {
		token, err := nextToken(cur.obj)
		if err != nil {
			return nil, fmt.Errorf("acquiring %q: %w: %w", req.Key, backends.ErrUnavailable, err)
		}
		if s.FencingToken != 0 && s.LeaseTransitions < math.MaxInt32 {
			s.LeaseTransitions++
		}
		s.FencingToken = token
		s.HolderIdentity = req.Holder
		s.AcquireTime = &now
		s.Metadata = maps.Clone(req.Metadata)
		s.HolderPod = b.holderPod(req.HolderPod)
	}
	now = renewStamp(now, s.AcquireTime)
	s.RenewTime = &now
	lease.Set(next, req.LeaseDuration)
	return next, nil
}

// holderPod is the binding a grant to pod writes: none for a Pod outside
// the backend's namespace, which a lock cannot name (see
// locksv1alpha1.HolderPod).
func (b *Backend) holderPod(pod *backends.PodRef) *locksv1alpha1.HolderPod {
	if pod == nil || pod.Namespace != b.ns || pod.Name == "" || pod.UID == "" {
		return nil
	}
	return &locksv1alpha1.HolderPod{Name: pod.Name, UID: pod.UID}
}

// renewStamp is the renewTime to write at now: never before acquireTime,
// which the schema requires. The two differ only when the holder renews
// from a process whose clock is behind the one that acquired; a later
// renewTime only makes others wait longer before judging the lease expired.
func renewStamp(now metav1.MicroTime, acquired *metav1.MicroTime) metav1.MicroTime {
	if acquired != nil && now.Before(acquired) {
		return *acquired
	}
	return now
}

// nextToken returns the fencing token of a new grant on obj: the previous
// token + 1, or, on an object never granted (token 0), its resourceVersion
// + 1, which exceeds every token of every earlier incarnation of the key.
//
// On an etcd-backed API server resourceVersion is the etcd revision, which
// grows by at least one with every write anywhere in the cluster. Each
// grant is itself a write whose revision is at least its token: the first
// grant's token is RV+1 and its write gets a revision above RV, and each
// later grant's token is one more than the previous one while its write
// comes after the previous grant's. Deleting the object is a later write
// still, so a re-created object's resourceVersion, and with it its first
// token, exceeds every token an earlier incarnation handed out.
func nextToken(obj *locksv1alpha1.DistributedLock) (int64, error) {
	if t := obj.Spec.FencingToken; t != 0 {
		if t == math.MaxInt64 {
			return 0, errors.New("fencing tokens of this key are exhausted")
		}
		return t + 1, nil
	}
	rv, err := strconv.ParseUint(obj.ResourceVersion, 10, 64)
	if err != nil || rv >= math.MaxInt64 {
		return 0, fmt.Errorf("refusing to grant: resourceVersion %q is not a number below 2^63, so it cannot seed "+
			"a fencing token that stays increasing across deletes (the API server is not etcd-backed?)", obj.ResourceVersion)
	}
	return int64(rv) + 1, nil
}

// Renew implements backends.Backend. When this client last wrote or read
// the object at req.Version, it is one guarded update and no read.
func (b *Backend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	const op = "renewing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	var next *locksv1alpha1.DistributedLock
	err := b.guarded(ctx, op, req.Key, req.Holder, req.Version, true, func(cur observation) error {
		next = b.writable(cur.obj)
		now := renewStamp(b.now(), next.Spec.AcquireTime)
		next.Spec.RenewTime = &now
		lease.Set(next, req.LeaseDuration)
		if req.Metadata != nil {
			next.Spec.Metadata = maps.Clone(req.Metadata)
		}
		return b.c.Update(ctx, next)
	})
	if err != nil {
		return backends.Lock{}, err
	}
	return b.view(b.seen.observe(next, b.clock.Now())), nil
}

// guarded runs write, a single request guarded by the current
// resourceVersion, on the object the caller's holder and version name
// (see guard). If the write conflicts, a fresh read decides: when only the
// status or metadata moved on (the controller's status, a label) and the
// lock state is still the caller's version, the write is tried once more on
// the fresh object; otherwise the read gives the contract's error.
func (b *Backend) guarded(ctx context.Context, op, key, holder, version string, renewing bool, write func(observation) error) error {
	cur, err := b.guard(ctx, op, key, holder, version, renewing)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := write(cur)
		switch {
		case err == nil:
			return nil
		case apierrors.IsNotFound(err):
			b.seen.forget(key, version)
			return backends.KeyError(op, key, backends.ErrNotFound)
		case !apierrors.IsConflict(err):
			return b.failure(op, key, err)
		case attempt == 1:
			return backends.KeyError(op, key, backends.ErrVersionMismatch)
		}
		if cur, err = b.read(ctx, op, key); err != nil {
			return err
		}
		if err := b.decide(op, key, holder, version, renewing, cur); err != nil {
			return err
		}
	}
}

// Release implements backends.Backend: one guarded update (or, with
// Delete, one delete with resourceVersion and UID preconditions) when this
// client last wrote or read the object at req.Version.
func (b *Backend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	const op = "releasing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return err
	}
	if req.Delete {
		err := b.guarded(ctx, op, req.Key, req.Holder, req.Version, false, func(cur observation) error {
			uid, rv := cur.obj.UID, cur.obj.ResourceVersion
			victim := &locksv1alpha1.DistributedLock{ObjectMeta: metav1.ObjectMeta{Name: cur.obj.Name, Namespace: b.ns}}
			return b.c.Delete(ctx, victim, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		})
		if err == nil {
			b.seen.forget(req.Key, "")
		}
		return err
	}
	var next *locksv1alpha1.DistributedLock
	err := b.guarded(ctx, op, req.Key, req.Holder, req.Version, false, func(cur observation) error {
		next = b.writable(cur.obj)
		next.Spec.HolderIdentity = ""
		next.Spec.Metadata = nil
		next.Spec.HolderPod = nil
		return b.c.Update(ctx, next)
	})
	if err != nil {
		return err
	}
	b.seen.observe(next, b.clock.Now())
	return nil
}

// guard returns the object to renew or release: this client's copy when
// it matches version (see observation.matches), is held by holder and (for
// renew) is unexpired, without asking the server; otherwise a fresh read,
// checked in the contract's order.
func (b *Backend) guard(ctx context.Context, op, key, holder, version string, renewing bool) (observation, error) {
	if cur, ok := b.seen.get(key); ok && cur.matches(version) &&
		cur.obj.Spec.HolderIdentity == holder && !(renewing && b.expired(cur)) {
		return cur, nil
	}
	cur, err := b.read(ctx, op, key)
	if err != nil {
		return observation{}, err
	}
	return cur, b.decide(op, key, holder, version, renewing, cur)
}

// decide checks cur against the caller's holder and version, in the
// contract's order.
func (b *Backend) decide(op, key, holder, version string, renewing bool, cur observation) error {
	switch {
	case cur.obj.Spec.HolderIdentity != holder:
		return backends.KeyError(op, key, backends.ErrNotHolder)
	case !cur.matches(version):
		return backends.KeyError(op, key, backends.ErrVersionMismatch)
	case renewing && b.expired(cur):
		return backends.KeyError(op, key, backends.ErrLeaseExpired)
	}
	return nil
}

// Get implements backends.Backend.
func (b *Backend) Get(ctx context.Context, key string) (backends.Lock, error) {
	const op = "getting"
	if err := b.check(ctx, op, key); err != nil {
		return backends.Lock{}, err
	}
	cur, err := b.read(ctx, op, key)
	if err != nil {
		return backends.Lock{}, err
	}
	return b.view(cur), nil
}

// read fetches key's object from the API server and records the sighting.
// A missing object is ErrNotFound; an object under key's name that holds
// another key (a hash collision or a foreign object) is an error, never a
// silent mix-up.
func (b *Backend) read(ctx context.Context, op, key string) (observation, error) {
	obj := &locksv1alpha1.DistributedLock{}
	err := b.c.Get(ctx, client.ObjectKey{Namespace: b.ns, Name: ObjectName(key)}, obj)
	switch {
	case apierrors.IsNotFound(err):
		b.seen.forget(key, "")
		return observation{}, backends.KeyError(op, key, backends.ErrNotFound)
	case err != nil:
		return observation{}, b.failure(op, key, err)
	case obj.Spec.Key != key:
		return observation{}, fmt.Errorf("%s %q: %w: object %s/%s holds key %q, not this one "+
			"(a name collision or an object not written by Leasehold)",
			op, key, backends.ErrUnavailable, b.ns, obj.Name, obj.Spec.Key)
	}
	return b.seen.observe(obj, b.clock.Now()), nil
}

// failure wraps an API error as the contract's ErrUnavailable, or as
// ErrPermissionDenied when the API server refused the client (401
// Unauthorized, 403 Forbidden): retrying that is pointless, and the API
// server's message names the user, the verb and the resource.
func (b *Backend) failure(op, key string, err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return backends.PermissionDenied(op, key, fmt.Errorf("%w (a lock client needs get, list, watch, create, "+
			"update and delete on distributedlocks.%s in namespace %q: the ClusterRole leasehold-lock-editor)",
			err, locksv1alpha1.GroupVersion.Group, b.ns))
	}
	return backends.Unavailable(op, key, err)
}

func (b *Backend) heldError(obj *locksv1alpha1.DistributedLock) error {
	return backends.Held(obj.Spec.Key, obj.Spec.HolderIdentity, lease.ExpiresAt(obj))
}

// List implements backends.Backend. It lists the namespace's objects in
// chunks, keeps those whose key starts with the prefix and comes after the
// page token (the previous page's last key), and sorts them by key.
func (b *Backend) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	const op = "listing"
	if err := b.check(ctx, op, req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	var matched []observation
	cont := ""
	for {
		var list locksv1alpha1.DistributedLockList
		if err := b.c.List(ctx, &list, client.InNamespace(b.ns), client.Limit(listChunk), client.Continue(cont)); err != nil {
			return backends.ListPage{}, b.failure(op, req.Prefix, err)
		}
		now := b.clock.Now()
		for i := range list.Items {
			obj := &list.Items[i]
			key := obj.Spec.Key
			// Objects not named after their key (created by hand) cannot be
			// reached by Get, Acquire or Release: leave them out.
			if obj.Name != ObjectName(key) || len(key) < len(req.Prefix) || key[:len(req.Prefix)] != req.Prefix || key <= req.PageToken {
				continue
			}
			matched = append(matched, b.seen.observe(obj, now))
		}
		if cont = list.Continue; cont == "" {
			break
		}
	}
	slicesSortByKey(matched)
	var page backends.ListPage
	for i, o := range matched {
		if i == req.Limit {
			page.NextPageToken = page.Locks[i-1].Key
			break
		}
		page.Locks = append(page.Locks, b.view(o))
	}
	return page, nil
}

// expired judges whether the lease in o has run out, by this client's
// clocks and the rule of package lease.
func (b *Backend) expired(o observation) bool {
	if o.obj.Spec.HolderIdentity == "" {
		return false
	}
	return b.judge(o).Expired
}

// judge applies the lease rule to o now.
func (b *Backend) judge(o observation) lease.Verdict {
	return lease.Rule{SkewAllowance: b.skew}.Judge(lease.Of(o.obj, o.seenAt), b.clock.Now())
}

// view is the contract's record for o.
func (b *Backend) view(o observation) backends.Lock {
	s := &o.obj.Spec
	l := backends.Lock{
		Key:           s.Key,
		Holder:        s.HolderIdentity,
		Version:       LeaseVersion(o.obj),
		FencingToken:  uint64(max(s.FencingToken, 0)),
		LeaseDuration: lease.Duration(o.obj),
		ExpiresAt:     lease.ExpiresAt(o.obj),
		Metadata:      maps.Clone(s.Metadata),
	}
	l.Held = l.Holder != "" && !b.expired(o)
	if s.AcquireTime != nil {
		l.AcquiredAt = s.AcquireTime.Time
	}
	if s.RenewTime != nil {
		l.RenewedAt = s.RenewTime.Time
	}
	return l
}

// now is the time stamped into acquireTime and renewTime, at the
// precision the API stores.
func (b *Backend) now() metav1.MicroTime {
	return metav1.NewMicroTime(b.clock.Now().Truncate(time.Microsecond))
}

// writable returns a copy of obj to send in an Update: the spec in full
// (an Update replaces it), without status (the main resource ignores it)
// and managed fields (the server keeps its own when none are sent).
func (b *Backend) writable(obj *locksv1alpha1.DistributedLock) *locksv1alpha1.DistributedLock {
	next := obj.DeepCopy()
	next.ManagedFields = nil
	next.Status = locksv1alpha1.DistributedLockStatus{}
	return next
}
