package clientgolock_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/backends/postgres"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// One server of each kind for the package; tests isolate themselves by
// namespace (SQLite: by file).
var (
	pgServer    *testserver.Postgres
	redisServer *testserver.Redis
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
	redisServer = rd
	code := m.Run()
	stopRedis()
	stopPG()
	if code == 0 {
		// klog's flusher lives as long as the process.
		if err := goleak.Find(goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// store opens another client of one lock store (one per candidate, as
// separate processes would have).
type store func(t *testing.T) backends.Backend

type backendCase struct {
	name     string
	newStore func(t *testing.T) store
}

var nsCounter atomic.Int64

func freshNamespace() string {
	return fmt.Sprintf("cg-%d-%d", os.Getpid(), nsCounter.Add(1))
}

func backendCases() []backendCase {
	return []backendCase{
		{"memory", func(t *testing.T) store {
			s := memory.NewStore()
			return func(t *testing.T) backends.Backend { return s.Backend("cg") }
		}},
		{"sqlite", func(t *testing.T) store {
			u := "sqlite://" + (&url.URL{Path: filepath.Join(t.TempDir(), "locks.db")}).EscapedPath()
			return func(t *testing.T) backends.Backend {
				b, err := sqlite.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
		{"postgres", func(t *testing.T) store {
			u := pgServer.URL() + "&leasehold_namespace=" + freshNamespace()
			return func(t *testing.T) backends.Backend {
				b, err := postgres.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
		{"redis", func(t *testing.T) store {
			u := redisServer.URL() + "?namespace=" + freshNamespace()
			return func(t *testing.T) backends.Backend {
				b, err := lhredis.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}},
	}
}
