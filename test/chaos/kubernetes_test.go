//go:build chaos

package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/leasehold/leasehold/controllers"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/faultproxy"
	"github.com/leasehold/leasehold/test/support/kubeenv"
	"github.com/leasehold/leasehold/test/support/workload"
)

// kubeServer is the one envtest control plane of the test binary; every
// Kubernetes scenario works in a namespace of its own on it.
var kubeServer *workload.KubeServer

// startKubernetes starts the control plane with the CRDs of config/crd,
// for TestMain; stop stops it.
func startKubernetes() (stop func() error, err error) {
	// The reaper's manager (controller-runtime's global logger) and
	// client-go (klog) log the errors that faults cause: expected, and
	// judged by the history, not read in logs.
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	env, err := kubeenv.Environment()
	if err != nil {
		return nil, err
	}
	s, err := workload.StartKubeServer(workload.KubeServerOptions{
		CRDDirectoryPaths:     env.CRDDirectoryPaths,
		BinaryAssetsDirectory: env.BinaryAssetsDirectory,
	})
	if err != nil {
		return nil, fmt.Errorf("%w (run `make setup-envtest` to build the control plane binaries)", err)
	}
	kubeServer = s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := installFencing(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s.Close, nil
}

// kubeScheme knows the lock types and the built-in ones (namespaces,
// events) for the administrator's client and the reaper's manager.
func kubeScheme() *k8sruntime.Scheme {
	s := kubernetes.Scheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	return s
}

// kubeNamespace turns a chaos namespace into a Kubernetes namespace name
// (a DNS-1123 label: lower-case alphanumerics and '-', at most 63
// characters, alphanumeric at both ends), keeping it readable and unique:
// a name that had to be shortened ends with a hash of the original.
func kubeNamespace(ns string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		default:
			return '-'
		}
	}, ns)
	name = strings.Trim(name, "-")
	if name == ns && len(name) <= validation.DNS1123LabelMaxLength {
		return name
	}
	// Changed or too long: two inputs could now share a name, so a hash
	// of the original tells them apart.
	sum := sha256.Sum256([]byte(ns))
	suffix := "-" + hex.EncodeToString(sum[:])[:12]
	if keep := validation.DNS1123LabelMaxLength - len(suffix); len(name) > keep {
		name = strings.TrimRight(name[:keep], "-")
	}
	if name == "" {
		name = "ns"
	}
	return name + suffix
}

// openKubernetes opens the cluster of one scenario: a namespace of its
// own; eight Leasehold clients, each with its own client of the API
// server through its own faultproxy (watches included) and its own
// skewable clock; the DistributedLock controller (the reaper) as
// production runs it, reaching the API server directly; and holder
// processes that reach it directly too, through a kubeconfig in dir.
func openKubernetes(dir, chaosNS string) (*workload.Cluster, error) {
	ns := kubeNamespace(chaosNS)
	admin, err := client.New(kubeServer.Config(), client.Options{Scheme: kubeScheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", ns, err)
	}

	clocks := make([]*workload.SkewClock, 0, config().Clients)
	c, err := workload.NetCluster(config(), "leasehold", "kubernetes", kubeServer, func(_ int, addr string) (workload.Locker, error) {
		rc, err := workload.RestConfigVia(kubeServer.Config(), addr)
		if err != nil {
			return nil, err
		}
		kc, err := client.NewWithWatch(rc, client.Options{Scheme: kubernetes.Scheme()})
		if err != nil {
			return nil, err
		}
		clk := &workload.SkewClock{}
		clocks = append(clocks, clk)
		// The default skew allowance, which skewAllowance names for the
		// scenarios.
		b, err := kubernetes.New(kc, kubernetes.WithNamespace(ns), kubernetes.WithClock(clk))
		if err != nil {
			return nil, err
		}
		return workload.Leasehold(lockmanager.New(b), config()), nil
	})
	if err != nil {
		return nil, err
	}
	c.Skew = func(i int, d time.Duration) { clocks[i].Set(d) }

	stopReaper, err := startReaper(ns)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting the reaper: %w", err), c.Close())
	}
	c.OnClose(stopReaper)

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := kubeServer.WriteKubeconfig(kubeconfig); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	spawnHolder := spawn((&url.URL{Scheme: "kubernetes", Host: ns}).String())
	c.Spawn = func() *exec.Cmd {
		cmd := spawnHolder()
		cmd.Env = append(cmd.Env, "KUBECONFIG="+kubeconfig)
		return cmd
	}
	if c.Resource, err = openResource(ctx, (&url.URL{Scheme: "kubernetes", Host: ns}).String(), kubeServer.Config()); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// startReaper runs the DistributedLock controller for namespace ns in a
// manager of its own, configured as cmd/manager configures it (default
// skew allowance, eight concurrent reconciles, real clock), so that its
// reaps race with the clients under every fault. stop stops the manager
// and waits for it.
func startReaper(ns string) (stop func() error, err error) {
	mgr, err := ctrl.NewManager(kubeServer.Config(), ctrl.Options{
		Scheme: kubeScheme(),
		Cache:  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		// One manager per scenario in one process: controller names are
		// checked for uniqueness process-wide.
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, err
	}
	r := &controllers.DistributedLockReconciler{
		Rule:                    controllers.ExpiryRule{ClockSkewAllowance: controllers.DefaultClockSkewAllowance},
		MaxConcurrentReconciles: 8,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("reaper: %w", err)
		}
		return nil
	}, nil
}

// TestKubernetesBlackholeEndsWithContext checks what the partition
// scenarios rest on: a request and a watch through a blackholed proxy end
// when the caller's context does (no client timeout or rate limiter in
// the way), and the client works again once the proxy heals.
func TestKubernetesBlackholeEndsWithContext(t *testing.T) {
	p, err := faultproxy.Start(kubeServer.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rc, err := workload.RestConfigVia(kubeServer.Config(), p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if rc.Timeout != 0 || rc.QPS >= 0 {
		t.Fatalf("client config: Timeout %s, QPS %v: want no timeout and no rate limiter", rc.Timeout, rc.QPS)
	}
	c, err := client.NewWithWatch(rc, client.Options{Scheme: kubeScheme()})
	if err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context) error {
		return c.Get(ctx, client.ObjectKey{Name: "default"}, &corev1.Namespace{})
	}
	if err := get(context.Background()); err != nil {
		t.Fatalf("before the blackhole: %v", err)
	}

	p.Blackhole(faultproxy.Both)
	// liveness only turns a hang into a failure; it decides nothing else.
	const liveness = time.Minute
	for _, call := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"get", get},
		{"watch", func(ctx context.Context) error {
			w, err := c.Watch(ctx, &corev1.NamespaceList{})
			if err != nil {
				return err
			}
			defer w.Stop()
			for range w.ResultChan() {
			}
			return ctx.Err()
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- call.do(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s through a blackhole: got %v, want the context's deadline", call.name, err)
			}
		case <-time.After(liveness):
			t.Errorf("%s through a blackhole did not end within %s of its context's deadline", call.name, liveness)
		}
		cancel()
	}

	p.Heal()
	if err := get(context.Background()); err != nil {
		t.Errorf("after healing: %v", err)
	}
}

// TestSkewClock checks the clock the skew scenarios give each client: its
// wall time moves by the offset, and a change of offset does not move the
// time elapsed since an earlier reading (a stepped wall clock leaves the
// monotonic clock alone).
func TestSkewClock(t *testing.T) {
	var c workload.SkewClock
	before := c.Now()
	c.Set(time.Hour)
	under := c.Now()
	if d := time.Until(under).Round(time.Minute); d != time.Hour {
		t.Errorf("wall time ahead by %s, want 1h", d)
	}
	c.Set(-time.Hour)
	for name, t0 := range map[string]time.Time{"before any offset": before, "under +1h": under} {
		if d := c.Since(t0); d < 0 || d > time.Minute {
			t.Errorf("Since(reading %s) after the offset changed = %s, want the real time elapsed", name, d)
		}
	}
	wall := time.Now().Round(0) // no monotonic reading: a store's timestamp
	if d := c.Since(wall).Round(time.Minute); d != -time.Hour {
		t.Errorf("Since(a wall time) with the clock 1h behind = %s, want -1h", d)
	}
}

func TestKubeNamespace(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, tc := range []struct{ in, want string }{
		{"chaos-kubernetes-none-1", "chaos-kubernetes-none-1"},
		{"Chaos_K8s", "chaos-k8s-" + hashOf("Chaos_K8s")},
		{long, strings.Repeat("x", 50) + "-" + hashOf(long)},
		{"--", "ns-" + hashOf("--")},
	} {
		got := kubeNamespace(tc.in)
		if got != tc.want {
			t.Errorf("kubeNamespace(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("kubeNamespace(%q) = %q: not a DNS-1123 label: %v", tc.in, got, errs)
		}
	}
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}
