package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
)

func init() {
	opener := func(ctx context.Context, u *url.URL) (backends.Backend, error) {
		return openURL(ctx, u)
	}
	backends.Register("redis", opener)
	backends.Register("rediss", opener)
}

// Open connects to the Redis that rawURL names and checks that it answers
// (and accepts the credentials) before returning. The backend owns the
// client it builds: Close closes it.
//
//	redis://[user:password@]host:port[/db][?options]
//	rediss://...   the same over TLS (skip_verify=true to not verify)
//
// Besides go-redis's own query options (dial_timeout, pool_size, ... see
// goredis.ParseURL), Open understands:
//
//	prefix=P       first part of every key (default "leasehold")
//	namespace=N    the namespace (default "default")
//	retention=D    how long ended records and fences are kept (Go duration,
//	               default 168h)
//	cluster=true   a Redis Cluster; the host and any addr=host:port
//	               parameters are seed nodes (goredis.ParseClusterURL)
//	master=NAME    Sentinel: the host and any addr=host:port parameters are
//	               sentinels watching master NAME; the URL's credentials and
//	               database are the data nodes'
//
// opts apply after the URL's options. Errors never contain the password.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Backend, error) {
	u, err := backends.ParseURL(rawURL, "redis", "rediss")
	if err != nil {
		return nil, err
	}
	return openURL(ctx, u, opts...)
}

func openURL(ctx context.Context, u *url.URL, opts ...Option) (*Backend, error) {
	password, _ := u.User.Password()
	q := u.Query()
	take := func(name string) string {
		v := q.Get(name)
		q.Del(name)
		return v
	}
	var urlOpts []Option
	if v := take("prefix"); v != "" {
		urlOpts = append(urlOpts, WithPrefix(v))
	}
	if v := take("namespace"); v != "" {
		urlOpts = append(urlOpts, WithNamespace(v))
	}
	if v := take("retention"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, backends.InvalidArgument("retention", "must be a Go duration such as 168h, got %q", v)
		}
		urlOpts = append(urlOpts, WithRetention(d))
	}
	cluster := false
	if v := take("cluster"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, backends.InvalidArgument("cluster", "must be true or false, got %q", v)
		}
		cluster = b
	}
	// A script whose reply was lost must not run again: a retried Renew
	// that already took effect would report ErrVersionMismatch for a
	// renewal that happened (a decided answer that is false), and a
	// retried Release ErrNotHolder. go-redis retries 3 times unless told
	// otherwise, so Open turns that off; the lock manager retries
	// transient failures itself, within the lease's safe deadline, and
	// resolves an ambiguous renewal by reading the record.
	switch v := q.Get("max_retries"); v {
	case "":
		q.Set("max_retries", "-1")
	case "-1":
	default:
		return nil, backends.InvalidArgument("max_retries", "must be -1 (no retries) or absent, got %q: "+
			"a retried script can take effect twice and then report an error for an operation that succeeded", v)
	}
	master := take("master")
	var addrs []string
	if !cluster {
		// ParseClusterURL reads addr itself; ParseURL would reject it.
		addrs = q["addr"]
		q.Del("addr")
	}
	rest := *u
	rest.RawQuery = q.Encode()

	client, addr, err := newClient(&rest, cluster, master, addrs)
	if err != nil {
		return nil, backends.InvalidArgument(urlParameter(err), "%s", redact(err, password))
	}
	if master != "" {
		// go-redis reports a master no sentinel knows as sentinels
		// unreachable; asking them tells the two apart.
		if err := checkMaster(ctx, client, master, addr); err != nil {
			_ = client.Close()
			return nil, err
		}
	}
	b, err := New(client, append(urlOpts, opts...)...)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	b.ownsClient = true
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, pingError(ctx, addr, err, password)
	}
	return b, nil
}

func newClient(u *url.URL, cluster bool, master string, addrs []string) (goredis.UniversalClient, string, error) {
	switch {
	case cluster:
		o, err := goredis.ParseClusterURL(u.String())
		if err != nil {
			return nil, "", err
		}
		o.ContextTimeoutEnabled = true
		return goredis.NewClusterClient(o), strings.Join(o.Addrs, ","), nil
	case master != "":
		o, err := goredis.ParseURL(u.String())
		if err != nil {
			return nil, "", err
		}
		sentinels := append([]string{o.Addr}, addrs...)
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:      master,
			SentinelAddrs:   sentinels,
			Username:        o.Username,
			Password:        o.Password,
			DB:              o.DB,
			TLSConfig:       o.TLSConfig,
			DialTimeout:     o.DialTimeout,
			ReadTimeout:     o.ReadTimeout,
			WriteTimeout:    o.WriteTimeout,
			PoolSize:        o.PoolSize,
			MinIdleConns:    o.MinIdleConns,
			MaxRetries:      o.MaxRetries,
			ConnMaxIdleTime: o.ConnMaxIdleTime,
			// See the single-server case.
			ContextTimeoutEnabled: true,
		}), strings.Join(sentinels, ","), nil
	default:
		if len(addrs) > 0 {
			return nil, "", errors.New("addr parameters need cluster=true or master=NAME")
		}
		o, err := goredis.ParseURL(u.String())
		if err != nil {
			return nil, "", err
		}
		// Socket reads and writes end at the caller's context deadline,
		// not only at read_timeout: every operation of the contract
		// honours its context, and a Session's release after a lost lease
		// must not wait seconds for a server that does not answer.
		o.ContextTimeoutEnabled = true
		return goredis.NewClient(o), o.Addr, nil
	}
}

// checkMaster asks the sentinels behind client (at addrs, comma-separated)
// for master's address, and fails with ErrUnavailable naming the master
// when the first that answers knows no master of that name (it replies
// with a null address). Sentinels that cannot be reached are left for the
// PING that follows to report.
func checkMaster(ctx context.Context, client goredis.UniversalClient, master, addrs string) error {
	fo, ok := client.(*goredis.Client)
	if !ok {
		return nil
	}
	o := fo.Options()
	for _, addr := range strings.Split(addrs, ",") {
		sc := goredis.NewSentinelClient(&goredis.Options{
			Addr:                  addr,
			TLSConfig:             o.TLSConfig,
			DialTimeout:           o.DialTimeout,
			ReadTimeout:           o.ReadTimeout,
			WriteTimeout:          o.WriteTimeout,
			MaxRetries:            -1,
			ContextTimeoutEnabled: true,
		})
		_, err := sc.GetMasterAddrByName(ctx, master).Result()
		_ = sc.Close()
		switch {
		case errors.Is(err, goredis.Nil):
			return fmt.Errorf("sentinel at %s knows no master named %q (master in the URL): %w", addr, master, backends.ErrUnavailable)
		case err == nil:
			return nil
		}
	}
	return nil
}

// pingError explains why the first PING failed: credentials refused or a
// database index the server does not have (ErrInvalidArgument: retrying
// cannot help), or the server unreachable (ErrUnavailable).
func pingError(ctx context.Context, addr string, err error, password string) error {
	msg := redact(err, password)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connecting to redis at %s: %w", addr, ctx.Err())
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"),
		strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		// The URL is well formed; the server says no, as with a refused
		// login on every backend.
		return fmt.Errorf("redis at %s rejected the credentials: %w: %s", addr, backends.ErrUnavailable, msg)
	case strings.Contains(msg, "DB index is out of range"), strings.Contains(msg, "invalid DB index"):
		// SELECT, sent on every new connection, refused the URL's path:
		// a missing database, as on every backend.
		return fmt.Errorf("redis at %s has no such database (database in the URL): %w: %s", addr, backends.ErrUnavailable, msg)
	default:
		return fmt.Errorf("connecting to redis at %s: %w: %s", addr, backends.ErrUnavailable, msg)
	}
}

// urlParameter names the URL part that go-redis's parser refused, from its
// messages "unexpected option: NAME" and "invalid NAME number|duration|...";
// "backend URL" when it names none.
func urlParameter(err error) string {
	msg := err.Error()
	if _, name, ok := strings.Cut(msg, "unexpected option: "); ok {
		if f := strings.Fields(name); len(f) > 0 {
			return f[0]
		}
	}
	if _, rest, ok := strings.Cut(msg, "redis: invalid "); ok {
		if f := strings.Fields(rest); len(f) > 1 {
			return f[0]
		}
	}
	if strings.HasPrefix(msg, "addr parameters") {
		return "addr"
	}
	return "backend URL"
}

// redact returns err's message with the password blanked, in case a
// library ever echoes it.
func redact(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}
