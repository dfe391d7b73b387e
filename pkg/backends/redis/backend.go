package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/redis/internal/record"
)

const (
	// DefaultPrefix starts every key the backend writes.
	DefaultPrefix = "leasehold"
	// DefaultNamespace is the namespace of a backend opened without one.
	DefaultNamespace = "default"
	// DefaultRetention is how long a record outlives its lease (or its
	// release), and a fence its deleted record, before Redis removes it.
	DefaultRetention = 7 * 24 * time.Hour
)

// scanCount is the COUNT hint of the SCAN calls that List makes.
const scanCount = 1000

// Option configures a Backend.
type Option func(*config)

type config struct {
	prefix    string
	namespace string
	retention time.Duration
}

// WithPrefix sets the first part of every key (default "leasehold").
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithNamespace sets the namespace ("" means "default"), the second part of
// every key.
func WithNamespace(ns string) Option {
	return func(c *config) {
		if ns != "" {
			c.namespace = ns
		}
	}
}

// WithRetention sets how long a record is kept after its lease ends or it
// is released, and a deleted record's fence (default 7 days). See the
// package documentation for what it means for fencing tokens.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// Backend keeps the lock records of one namespace in Redis. It is safe for
// concurrent use.
type Backend struct {
	client     goredis.UniversalClient
	ownsClient bool // Open built the client, so Close closes it
	base       string
	namespace  string
	channel    string
	// channelArg and retentionMS are the channel and the retention as the
	// scripts take them, boxed once.
	channelArg  any
	retention   time.Duration
	retentionMS any
	closed      atomic.Bool
	closeOnce   sync.Once
	hub         *hub
}

var (
	_ backends.Backend  = (*Backend)(nil)
	_ backends.Notifier = (*Backend)(nil)
)

// Describe implements backends.Describer.
func (b *Backend) Describe() backends.Description {
	return backends.Description{Backend: "redis", Namespace: b.namespace}
}

// New returns a backend over client, which the caller keeps owning: Close
// does not close it. The prefix and namespace must not be empty or contain
// '{' or '}', which would move the Cluster hash tag. The client may keep
// go-redis's default retries: the backend never lets go-redis send a
// script twice (see the package documentation's Retries).
func New(client goredis.UniversalClient, opts ...Option) (*Backend, error) {
	if client == nil {
		return nil, backends.InvalidArgument("client", "must not be nil")
	}
	c := config{prefix: DefaultPrefix, namespace: DefaultNamespace, retention: DefaultRetention}
	for _, opt := range opts {
		opt(&c)
	}
	for _, f := range []struct{ name, v string }{{"prefix", c.prefix}, {"namespace", c.namespace}} {
		if f.v == "" || strings.ContainsAny(f.v, "{}") {
			return nil, backends.InvalidArgument(f.name, "must be non-empty and contain no '{' or '}', got %q", f.v)
		}
	}
	if c.retention < time.Second || c.retention%time.Millisecond != 0 {
		return nil, backends.InvalidArgument("retention", "must be at least 1s in whole milliseconds, got %s", c.retention)
	}
	base := c.prefix + ":" + c.namespace + ":"
	b := &Backend{
		client:      client,
		base:        base,
		namespace:   c.namespace,
		channel:     base + "released",
		retention:   c.retention,
		retentionMS: strconv.FormatInt(c.retention.Milliseconds(), 10),
		channelArg:  base + "released",
	}
	b.hub = newHub(client, b.channel)
	return b, nil
}

// recordKey and its fence (lockKeys) share the hash tag {hex(key)}: every
// key of one lock lives in one Cluster slot whatever bytes the key holds,
// and hex keeps byte order, so SCAN results sort like the keys.
func (b *Backend) recordKey(key string) string {
	return b.base + "{" + hex.EncodeToString([]byte(key)) + "}"
}

// lockKeys returns KEYS for the acquire, renew and release scripts: the
// record and its fence, built in one allocation (the record's name is a
// prefix of the fence's) as this runs on every acquire, renew and release.
func (b *Backend) lockKeys(key string) (rec, fence string) {
	const suffix = "}:fence"
	var sb strings.Builder
	sb.Grow(len(b.base) + 1 + hex.EncodedLen(len(key)) + len(suffix))
	sb.WriteString(b.base)
	sb.WriteByte('{')
	var chunk [64]byte
	for rest := key; rest != ""; {
		n := min(len(rest), len(chunk)/2)
		hex.Encode(chunk[:], []byte(rest[:n]))
		sb.Write(chunk[:2*n])
		rest = rest[n:]
	}
	sb.WriteString(suffix)
	fence = sb.String()
	return fence[:len(fence)-len(":fence")], fence
}

// check returns the error for a call that must not proceed.
func (b *Backend) check(ctx context.Context, op, key string) error {
	return backends.CheckCall(ctx, b.closed.Load(), op, key)
}

// storeError classifies a failed call: the caller's own context ending is
// not a backend failure; anything else is.
func storeError(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %q: %w", op, key, ctxErr)
	}
	// The socket's deadline is the context's (ContextTimeoutEnabled), and
	// it can fire a moment before the context's own timer: an operation
	// cut off at the caller's deadline reports that, not the store.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("%s %q: %w", op, key, context.DeadlineExceeded)
	}
	return backends.Unavailable(op, key, err)
}

// run executes a script and returns its reply: one string, whose first
// byte is the status (see scripts.go).
func (b *Backend) run(ctx context.Context, s *script, op, key string, args []any) (string, error) {
	reply, err := evalOnce(ctx, b.client, s, args).Text()
	if err != nil {
		return "", storeError(ctx, op, key, err)
	}
	if reply == "" {
		return "", backends.Unavailable(op, key, errors.New("empty script reply"))
	}
	return reply, nil
}

// outcome maps a script's status to the contract's error.
func outcome(op, key string, reply string) error {
	switch reply[0] {
	case record.StatusOK:
		return nil
	case record.StatusNotFound:
		return backends.KeyError(op, key, backends.ErrNotFound)
	case record.StatusNotHolder:
		return backends.KeyError(op, key, backends.ErrNotHolder)
	case record.StatusMismatch:
		return backends.KeyError(op, key, backends.ErrVersionMismatch)
	case record.StatusLeaseExpired:
		return backends.KeyError(op, key, backends.ErrLeaseExpired)
	case record.StatusHeld:
		_, r, err := record.Reply(reply)
		if err != nil {
			return backends.Unavailable(op, key, err)
		}
		return backends.Held(key, r.Holder, time.UnixMicro(r.ExpiresAt))
	}
	return backends.Unavailable(op, key, fmt.Errorf("unexpected script status %q", reply[0]))
}

// grant decodes the reply of an acquire or renewal that succeeded.
func grant(op, key, holder string, md map[string]string, reply string) (backends.Lock, error) {
	_, r, err := record.Reply(reply)
	if err != nil {
		return backends.Lock{}, backends.Unavailable(op, key, err)
	}
	l, err := r.Grant(key, holder, md)
	if err != nil {
		return backends.Lock{}, backends.Unavailable(op, key, err)
	}
	return l, nil
}

// read decodes the reply of a read that found a record.
func read(op, key string, reply string) (backends.Lock, error) {
	now, r, err := record.Reply(reply)
	if err != nil {
		return backends.Lock{}, backends.Unavailable(op, key, err)
	}
	l, err := r.Lock(now)
	if err != nil {
		return backends.Lock{}, backends.Unavailable(op, key, err)
	}
	return l, nil
}

// Acquire implements backends.Backend in one script call.
func (b *Backend) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	const op = "acquiring"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	given, md, err := record.EncodeMetadata(req.Metadata)
	if err != nil {
		return backends.Lock{}, backends.InvalidArgument("Metadata", "cannot be encoded: %v", err)
	}
	rec, fence := b.lockKeys(req.Key)
	reply, err := b.run(ctx, acquireScript, op, req.Key, []any{nil, nil, 2, rec, fence,
		req.Key, req.Holder, req.LeaseDuration.Milliseconds(), given, md, b.retentionMS})
	if err != nil {
		return backends.Lock{}, err
	}
	if err := outcome(op, req.Key, reply); err != nil {
		return backends.Lock{}, err
	}
	return grant(op, req.Key, req.Holder, req.Metadata, reply)
}

// Renew implements backends.Backend in one script call.
func (b *Backend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	const op = "renewing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	given, md, err := record.EncodeMetadata(req.Metadata)
	if err != nil {
		return backends.Lock{}, backends.InvalidArgument("Metadata", "cannot be encoded: %v", err)
	}
	token, change := record.SplitVersion(req.Version)
	rec, fence := b.lockKeys(req.Key)
	reply, err := b.run(ctx, renewScript, op, req.Key, []any{nil, nil, 2, rec, fence,
		req.Holder, token, change, req.LeaseDuration.Milliseconds(), given, md, b.retentionMS})
	if err != nil {
		return backends.Lock{}, err
	}
	if err := outcome(op, req.Key, reply); err != nil {
		return backends.Lock{}, err
	}
	return grant(op, req.Key, req.Holder, req.Metadata, reply)
}

// Release implements backends.Backend in one script call, which also
// publishes the release to waiters.
func (b *Backend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	const op = "releasing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return err
	}
	del := "0"
	if req.Delete {
		del = "1"
	}
	token, change := record.SplitVersion(req.Version)
	rec, fence := b.lockKeys(req.Key)
	reply, err := b.run(ctx, releaseScript, op, req.Key, []any{nil, nil, 2, rec, fence,
		req.Holder, token, change, del, b.retentionMS, b.channelArg, req.Key})
	if err != nil {
		return err
	}
	return outcome(op, req.Key, reply)
}

// Get implements backends.Backend.
func (b *Backend) Get(ctx context.Context, key string) (backends.Lock, error) {
	const op = "getting"
	if err := b.check(ctx, op, key); err != nil {
		return backends.Lock{}, err
	}
	reply, err := b.run(ctx, getScript, op, key, []any{nil, nil, 1, b.recordKey(key)})
	if err != nil {
		return backends.Lock{}, err
	}
	if err := outcome(op, key, reply); err != nil {
		return backends.Lock{}, err
	}
	return read(op, key, reply)
}

// List implements backends.Backend. Keys are found with SCAN (on every
// master of a Cluster), narrowed server-side by the hex of the prefix, then
// sorted; the page's records are read in one pipeline. The page token is
// the last key of the previous page. Each page scans the namespace's keys,
// so List costs O(records in the namespace): it is meant for inspection,
// not for hot paths.
func (b *Backend) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	const op = "listing"
	if err := b.check(ctx, op, req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	pattern := globEscape(b.base) + "{" + hex.EncodeToString([]byte(req.Prefix)) + "*}"
	names, err := b.scan(ctx, pattern)
	if err != nil {
		return backends.ListPage{}, storeError(ctx, op, req.Prefix, err)
	}
	var keys []string
	for _, name := range names {
		tag := strings.TrimSuffix(strings.TrimPrefix(name, b.base+"{"), "}")
		raw, err := hex.DecodeString(tag)
		if err != nil {
			continue // not one of ours
		}
		if k := string(raw); strings.HasPrefix(k, req.Prefix) && k > req.PageToken {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var page backends.ListPage
	if len(keys) > req.Limit {
		keys = keys[:req.Limit]
		page.NextPageToken = keys[len(keys)-1]
	}
	if len(keys) == 0 {
		return page, nil
	}
	cmds := make([]*goredis.Cmd, len(keys))
	_, err = b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.EvalSha(ctx, getScript.hash, []string{b.recordKey(k)})
		}
		return nil
	})
	if err != nil && !isNoScript(err) {
		return backends.ListPage{}, storeError(ctx, op, req.Prefix, err)
	}
	for i, k := range keys {
		reply, err := cmds[i].Text()
		if isNoScript(err) {
			// The script cache was empty (a restart): EVAL loads it.
			reply, err = evalOnce(ctx, b.client, getScript, []any{nil, nil, 1, b.recordKey(k)}).Text()
		}
		if err != nil {
			return backends.ListPage{}, storeError(ctx, op, k, err)
		}
		if reply == "" {
			return backends.ListPage{}, backends.Unavailable(op, k, errors.New("empty script reply"))
		}
		if reply[0] == record.StatusNotFound {
			continue // deleted or aged out since the scan
		}
		if err := outcome(op, k, reply); err != nil {
			return backends.ListPage{}, err
		}
		l, err := read(op, k, reply)
		if err != nil {
			return backends.ListPage{}, err
		}
		page.Locks = append(page.Locks, l)
	}
	return page, nil
}

func isNoScript(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// scan returns the names of the keys matching pattern, from every master
// when the client is a Cluster client.
func (b *Backend) scan(ctx context.Context, pattern string) ([]string, error) {
	scanOne := func(ctx context.Context, c goredis.Cmdable) ([]string, error) {
		var out []string
		iter := c.Scan(ctx, 0, pattern, scanCount).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		return out, iter.Err()
	}
	cc, ok := b.client.(*goredis.ClusterClient)
	if !ok {
		return scanOne(ctx, b.client)
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		names, err := scanOne(ctx, c)
		mu.Lock()
		all = append(all, names...)
		mu.Unlock()
		return err
	})
	return all, err
}

// globEscape quotes the characters SCAN MATCH treats as special.
func globEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// Close implements backends.Backend. It ends the notification subscription
// and, when Open built the client, closes it.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.hub.close()
		if b.ownsClient {
			if cerr := b.client.Close(); cerr != nil && !errors.Is(cerr, goredis.ErrClosed) {
				err = cerr
			}
		}
	})
	return err
}
