package linearize

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/kubeenv"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// The servers every test shares.
var (
	pgServer    *testserver.Postgres
	redisServer *testserver.Redis
	kubeConfig  *rest.Config
)

func TestMain(m *testing.M) {
	code := runWithServers(m)
	if code == 0 {
		if err := goleak.Find(leakOptions...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runWithServers starts the servers, runs the tests and stops the servers.
func runWithServers(m *testing.M) int {
	pg, stopPG, err := testserver.StartPostgresForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL:", err)
		return 1
	}
	defer stopPG()
	rs, stopRedis, err := testserver.StartRedisForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Redis:", err)
		return 1
	}
	defer stopRedis()
	env, err := kubeenv.Environment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (run `make setup-envtest` to build the control plane binaries): %v\n", err)
		return 1
	}
	// Eight clients in parallel: client-side rate limiting would shape the
	// history, not the backend.
	cfg.QPS, cfg.Burst = -1, -1
	pgServer, redisServer, kubeConfig = pg, rs, cfg

	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		code = 1
	}
	return code
}

// leakOptions ignore goroutines that client libraries keep for the life of
// the process (klog's flusher, HTTP keep-alive connections of the shared
// client-go transport), not started by the backends.
var leakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*http2ClientConn).readLoop"),
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
}

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
}

// scheme knows the lock types and the built-in ones (namespaces).
var scheme = kubernetes.Scheme()
