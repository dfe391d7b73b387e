package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/internal/cli"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

func main() {
	os.Exit(cli.MainProgram(cli.Program{
		Name:        "kubectl-leasehold",
		DisplayName: "kubectl leasehold",
		Store:       newKubeStore(),
	}))
}

// kubeStore opens the Kubernetes backend with kubectl's rules for finding
// the cluster, the user and the namespace (client-go's clientcmd, which
// kubectl uses).
type kubeStore struct {
	rules     *clientcmd.ClientConfigLoadingRules
	overrides *clientcmd.ConfigOverrides
}

func newKubeStore() *kubeStore {
	return &kubeStore{
		rules:     clientcmd.NewDefaultClientConfigLoadingRules(),
		overrides: &clientcmd.ConfigOverrides{},
	}
}

func (s *kubeStore) AddFlags(flags *pflag.FlagSet) {
	flags.StringVar(&s.rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "",
		"path to the kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	clientcmd.BindOverrideFlags(s.overrides, flags, clientcmd.RecommendedConfigOverrideFlags(""))
}

func (s *kubeStore) Open(ctx context.Context) (*lockmanager.Manager, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(s.rules, s.overrides)
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	b, err := kubernetes.NewForConfig(ctx, cfg, kubernetes.WithNamespace(ns))
	if err != nil {
		return nil, err
	}
	return lockmanager.New(b), nil
}

func (s *kubeStore) ObjectName(key string) string { return kubernetes.ObjectName(key) }

func (s *kubeStore) ObjectKind() string {
	return "distributedlock." + locksv1alpha1.GroupVersion.Group
}

func (s *kubeStore) Help() string {
	return `kubectl leasehold acquires, renews, releases, inspects, holds and breaks
Leasehold locks: DistributedLock objects in a namespace of the cluster.

  kubectl leasehold run KEY -- COMMAND [ARG...]   hold the lock while COMMAND runs (waits until free)
  kubectl leasehold hold KEY                      hold the lock until Ctrl-C; prints the fencing token
  kubectl leasehold get KEY / list                show locks and the objects that hold them
  kubectl leasehold break KEY --reason TEXT       clear a lock left by a process that died
  kubectl leasehold acquire / renew / release KEY step by step, for scripts

The cluster and user are those of kubectl: --kubeconfig, else $KUBECONFIG,
else ~/.kube/config, at --context or the current context. The namespace is
-n/--namespace, else the context's, else "default". The identity needs the
ClusterRole leasehold-lock-editor bound in the namespace (viewer for get
and list).

A key that is a valid object name is its own object's name; any other key's
object gets a derived name (a readable prefix and 16 hex digits of the key's
SHA-256). get and list show it (OBJECT; -o name prints
distributedlock.locks.leasehold.dev/NAME for kubectl get, describe or edit).

--no-wait has no -n shorthand here: -n is the namespace, as in kubectl.
Errors are one line on stderr starting with "kubectl-leasehold: ".`
}
