package kubernetes_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/leasehold/leasehold/controllers"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// cfg is the envtest API server's config; k8s a client of it shared by the
// tests (each Backend keeps its own observation table).
var (
	cfg *rest.Config
	k8s client.WithWatch
)

func TestMain(m *testing.M) {
	env, err := kubeenv.Environment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (run `make setup-envtest` to build the control plane binaries): %v\n", err)
		os.Exit(1)
	}
	// The suite runs many clients in parallel: client-side rate limiting
	// would measure the limiter, not the backend.
	cfg.QPS, cfg.Burst = -1, -1
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(leakOptions...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakOptions ignore goroutines owned by libraries for the life of the
// process, not by the backend.
var leakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*http2ClientConn).readLoop"),
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	// controller-runtime wraps a metadata-only watch (the controller's
	// watch of Pods) in a filter whose goroutine can stay blocked sending
	// its last event after the manager that read it has stopped.
	goleak.IgnoreTopFunction("k8s.io/apimachinery/pkg/watch.(*filteredWatch).loop"),
}

// scheme knows the lock types and the built-in ones (namespaces).
func scheme() *k8sruntime.Scheme {
	s := kubernetes.Scheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	return s
}

// ensureNamespace creates the Kubernetes namespace ns unless it exists.
func ensureNamespace(t testing.TB, c client.Client, ns string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
}

var nsCounter atomic.Int64

// freshNamespace returns a new Kubernetes namespace for one test.
func freshNamespace(t testing.TB) string {
	t.Helper()
	ns := fmt.Sprintf("kt-%d-%d", os.Getpid(), nsCounter.Add(1))
	ensureNamespace(t, k8s, ns)
	return ns
}

// countingTransport counts the API requests made through it, by method;
// a watch counts as WATCH rather than GET.
type countingTransport struct {
	next     http.RoundTripper
	mu       sync.Mutex
	byMethod map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	method := r.Method
	if r.URL.Query().Get("watch") == "true" {
		method = "WATCH"
	}
	c.mu.Lock()
	c.byMethod[method]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns the counts since the last call and resets them.
func (c *countingTransport) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.byMethod
	c.byMethod = map[string]int{}
	return out
}

// countingClient returns a client whose requests are counted.
func countingClient(t testing.TB) (client.WithWatch, *countingTransport) {
	t.Helper()
	counter := &countingTransport{byMethod: map[string]int{}}
	c := rest.CopyConfig(cfg)
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	}
	cl, err := client.NewWithWatch(c, client.Options{Scheme: scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl, counter
}

// runController runs the DistributedLock controller, as the manager does,
// against the test API server for namespace ns until the test ends, and
// returns a counter of its API requests by method: the backend is measured
// beside the controller, as it runs in production.
func runController(t testing.TB, ns string) *countingTransport {
	t.Helper()
	counter := &countingTransport{byMethod: map[string]int{}}
	c := rest.CopyConfig(cfg)
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	}
	mgr, err := ctrl.NewManager(c, ctrl.Options{
		Scheme:                 scheme(),
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 logr.Discard(),
		// One controller per test, several in one process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &controllers.DistributedLockReconciler{Rule: controllers.ExpiryRule{ClockSkewAllowance: controllers.DefaultClockSkewAllowance}}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the controller's cache did not sync")
	}
	counter.take()
	return counter
}
