//go:build chaos

package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	goredis "github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/fencing/fencekube"
	"github.com/leasehold/leasehold/pkg/fencing/fenceredis"
	"github.com/leasehold/leasehold/pkg/fencing/fencesql"
	"github.com/leasehold/leasehold/test/support/kubeenv"
	"github.com/leasehold/leasehold/test/support/workload"
)

// The real protected resources of the holder-paused-fenced scenario, one
// per store, each guarded by the helper a user of that store would use.
// The parent and the holder process open the same resource from the
// backend's URL (openResource), each with connections of its own, and
// every lock name they fence is qualified by the scenario's namespace, so
// that scenarios on one server never see each other's tokens.

// openResource opens the protected resource that goes with the backend
// at rawURL (the URL a holder process gets). kube is the API server's
// config for a kubernetes:// URL; nil reads KUBECONFIG, as the holder
// process does.
func openResource(ctx context.Context, rawURL string, kube *rest.Config) (workload.Resource, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	switch u.Scheme {
	case "sqlite":
		path := strings.TrimPrefix(rawURL, "sqlite://")
		path, _, _ = strings.Cut(path, "?")
		db, err := sql.Open("sqlite", sqlite.DSN(path, 10*time.Second))
		if err != nil {
			return nil, err
		}
		return newSQLResource(ctx, db, "SQLite row (fencesql)", q.Get("namespace"))
	case "postgres", "postgresql":
		ns := q.Get("leasehold_namespace")
		q.Del("leasehold_namespace")
		u.RawQuery = q.Encode()
		db, err := sql.Open("pgx", u.String())
		if err != nil {
			return nil, err
		}
		return newSQLResource(ctx, db, "PostgreSQL row (fencesql)", ns)
	case "redis":
		ns := q.Get("namespace")
		q.Del("namespace")
		u.RawQuery = q.Encode()
		opts, err := goredis.ParseURL(u.String())
		if err != nil {
			return nil, err
		}
		return &redisResource{c: goredis.NewClient(opts), ns: ns}, nil
	case "kubernetes":
		if kube == nil {
			if kube, err = ctrl.GetConfig(); err != nil {
				return nil, err
			}
		}
		c, err := client.New(kube, client.Options{Scheme: kubeScheme()})
		if err != nil {
			return nil, err
		}
		return &kubeResource{c: c, ns: u.Host}, nil
	}
	return nil, fmt.Errorf("no protected resource for the backend URL scheme %q", u.Scheme)
}

// sqlResource is a row per lock in the table chaos_protected, written in
// a fencesql.Do transaction: the upsert of the row runs only after the
// fence check passed, and commits with it.
type sqlResource struct {
	db   *sql.DB
	name string
	ns   string
}

const createProtected = `CREATE TABLE IF NOT EXISTS chaos_protected (
	lock_name TEXT PRIMARY KEY,
	body TEXT NOT NULL
)`

const writeProtected = `INSERT INTO chaos_protected (lock_name, body) VALUES ($1, $2)
ON CONFLICT (lock_name) DO UPDATE SET body = excluded.body`

func newSQLResource(ctx context.Context, db *sql.DB, name, ns string) (*sqlResource, error) {
	err := fencesql.CreateTable(ctx, db)
	if err == nil {
		_, err = db.ExecContext(ctx, createProtected)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s: %w", name, err), db.Close())
	}
	return &sqlResource{db: db, name: name, ns: ns}, nil
}

func (r *sqlResource) Name() string { return r.name }

func (r *sqlResource) Write(ctx context.Context, key, value string, token uint64) (bool, error) {
	lock := r.ns + "/" + key
	err := fencesql.Do(ctx, r.db, lock, token, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, writeProtected, lock, value)
		return err
	})
	return refused(err)
}

func (r *sqlResource) Close() error { return r.db.Close() }

// redisResource is a Redis hash per lock written with fenceredis.Set.
type redisResource struct {
	c  *goredis.Client
	ns string
}

func (r *redisResource) Name() string { return "Redis key (fenceredis)" }

func (r *redisResource) Write(ctx context.Context, key, value string, token uint64) (bool, error) {
	return refused(fenceredis.Set(ctx, r.c, "chaos-protected:"+r.ns+":"+key, value, token))
}

func (r *redisResource) Close() error { return r.c.Close() }

// refused turns a helper's error into Resource.Write's result: a stale
// token is a refusal, anything else an error.
func refused(err error) (bool, error) {
	if errors.Is(err, fencing.ErrStaleToken) {
		return false, nil
	}
	return err == nil, err
}

// kubeResource is a ConfigMap per lock in the scenario's namespace,
// stamped with fencekube.Stamp on every write, which the admission policy
// of config/fencing (installed by startKubernetes) judges against the
// lock's DistributedLock.
type kubeResource struct {
	c  client.Client
	ns string
}

func (r *kubeResource) Name() string { return "ConfigMap (admission policy)" }

func (r *kubeResource) Write(ctx context.Context, key, value string, token uint64) (bool, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "protected-" + kubeNamespace(key)}}
	err := r.c.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	create := apierrors.IsNotFound(err)
	if err != nil && !create {
		return false, err
	}
	cm.Data = map[string]string{"body": value}
	if err := fencekube.Stamp(cm, key, token); err != nil {
		return false, err
	}
	if create {
		err = r.c.Create(ctx, cm)
	} else {
		err = r.c.Update(ctx, cm)
	}
	if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "stale fencing token") {
		return false, nil
	}
	return err == nil, err
}

func (r *kubeResource) Close() error { return nil }

// installFencing applies config/fencing's policy and binding to the
// control plane and waits until the API server enforces them: a stamped
// write in a namespace without locks is refused.
func installFencing(ctx context.Context) error {
	root, err := kubeenv.Root()
	if err != nil {
		return err
	}
	objs, err := kubeenv.FencingObjects(root)
	if err != nil {
		return err
	}
	admin, err := client.New(kubeServer.Config(), client.Options{Scheme: kubeScheme()})
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			return fmt.Errorf("applying config/fencing: %w", err)
		}
	}
	const ns = "chaos-fencing-probe"
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	i := 0
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		i++
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("probe-%d", i)}}
		if err := fencekube.Stamp(cm, "no-such-lock", 1); err != nil {
			return false, err
		}
		err := admin.Create(ctx, cm)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("waiting for the API server to enforce config/fencing: %w", err)
	}
	return nil
}
