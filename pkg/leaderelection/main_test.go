package leaderelection_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/backends/postgres"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/test/support/kubeenv"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// One server of each kind for the whole package; tests isolate themselves
// by namespace (or, for SQLite, by file).
var (
	pgServer    *testserver.Postgres
	redisServer *testserver.Redis
	k8s         client.WithWatch
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	pg, stopPG, err := testserver.StartPostgresForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL:", err)
		return 1
	}
	pgServer = pg
	rd, stopRedis, err := testserver.StartRedisForMain()
	if err != nil {
		stopPG()
		fmt.Fprintln(os.Stderr, "starting Redis:", err)
		return 1
	}
	stopServers := func() {
		stopRedis()
		stopPG()
	}
	redisServer = rd

	env, err := kubeenv.Environment()
	if err != nil {
		stopServers()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		stopServers()
		fmt.Fprintf(os.Stderr, "starting envtest (run `make setup-envtest` to build the control plane binaries): %v\n", err)
		return 1
	}
	scheme := kubernetes.Scheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		stopServers()
		return 1
	}

	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		code = 1
	}
	stopServers()
	if code == 0 {
		if err := goleak.Find(leakOptions...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	return code
}

// leakOptions ignore goroutines that libraries keep for the life of the
// process (klog's flusher, idle HTTP connections to the API server).
var leakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*http2ClientConn).readLoop"),
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
}

// store opens clients of one lock store, each a separate backend (its own
// connections, and for Kubernetes its own observation table) on the same
// namespace: one per candidate, as separate processes would have.
type store func(t *testing.T) backends.Backend

// backendCase names a backend and makes a fresh, empty store on it.
type backendCase struct {
	name string
	// localClock: expiry is decided by this process's clock, so the test
	// can compare the leader's own deadline with the store's expiry.
	localClock bool
	// storeClock: AcquiredAt and ExpiresAt come from one clock (the
	// store's), so a takeover's AcquiredAt can be compared with the
	// previous lease's ExpiresAt. Kubernetes has no store clock.
	storeClock bool
	newStore   func(t *testing.T) store
}

var nsCounter atomic.Int64

func freshNamespace(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nsCounter.Add(1))
}

func backendCases() []backendCase {
	return []backendCase{
		{name: "memory", localClock: true, storeClock: true, newStore: func(t *testing.T) store {
			s := memory.NewStore()
			return func(t *testing.T) backends.Backend { return s.Backend("le") }
		}},
		{name: "sqlite", localClock: true, storeClock: true, newStore: func(t *testing.T) store {
			u := "sqlite://" + (&url.URL{Path: filepath.Join(t.TempDir(), "locks.db")}).EscapedPath()
			return func(t *testing.T) backends.Backend {
				b, err := sqlite.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
		{name: "postgres", storeClock: true, newStore: func(t *testing.T) store {
			u := pgServer.URL() + "&leasehold_namespace=" + freshNamespace("le")
			return func(t *testing.T) backends.Backend {
				b, err := postgres.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
		{name: "redis", storeClock: true, newStore: func(t *testing.T) store {
			u := redisServer.URL() + "?namespace=" + freshNamespace("le")
			return func(t *testing.T) backends.Backend {
				b, err := lhredis.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
		{name: "kubernetes", newStore: func(t *testing.T) store {
			ns := freshNamespace("le")
			err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if err != nil {
				t.Fatalf("creating namespace %s: %v", ns, err)
			}
			return func(t *testing.T) backends.Backend {
				b, err := kubernetes.New(k8s, kubernetes.WithNamespace(ns))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
	}
}
