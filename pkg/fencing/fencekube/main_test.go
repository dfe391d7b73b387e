package fencekube_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/fencing/fencekube"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// cfg is the envtest API server's config, k8s a client of it. The policy
// and the namespace-wide binding of config/fencing are installed for the
// whole package.
var (
	cfg *rest.Config
	k8s client.Client
)

// enforceTimeout bounds the wait for the API server to start (or stop)
// enforcing a policy or binding just written, and to see a lock's new
// token: both go through its watch caches. Generous for -race on two cores.
const enforceTimeout = 30 * time.Second

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
	cfg.QPS, cfg.Burst = -1, -1
	code := 1
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

func setup() error {
	var err error
	k8s, err = client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	root, err := kubeenv.Root()
	if err != nil {
		return err
	}
	objs, err := kubeenv.FencingObjects(root)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			return fmt.Errorf("applying config/fencing: %w", err)
		}
	}
	return waitEnforced(ctx)
}

func scheme() *k8sruntime.Scheme {
	s := kubernetes.Scheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	return s
}

// waitEnforced waits until the API server enforces the namespace-wide
// binding: a guarded write in a namespace without locks is refused.
func waitEnforced(ctx context.Context) error {
	ns := freshNamespaceName()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	i := 0
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, enforceTimeout, true, func(ctx context.Context) (bool, error) {
		i++
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("probe-%d", i)}}
		if err := fencekube.Stamp(cm, "no-such-lock", 1); err != nil {
			return false, err
		}
		err := k8s.Create(ctx, cm)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return true, nil
		}
		return false, err
	})
}

var nsCounter atomic.Int64

func freshNamespaceName() string {
	return fmt.Sprintf("fence-%d-%d", os.Getpid(), nsCounter.Add(1))
}

// freshNamespace creates a namespace for one test.
func freshNamespace(t testing.TB) string {
	t.Helper()
	ns := freshNamespaceName()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}
