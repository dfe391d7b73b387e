/*
Copyright 2026 The Leasehold Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// deployNamespace is where config/default deploys the manager.
const deployNamespace = "leasehold-system"

// Named timeouts. Reaps follow a 1 s lease within about a second more
// (clock-skew allowance); the bounds are generous for two busy cores.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	reapTimeout  = 30 * time.Second
	poll         = 100 * time.Millisecond
)

var (
	// onKind: E2E_KIND=1, the cluster and manager make deploy set up.
	onKind      = os.Getenv("E2E_KIND") == "1"
	repoRoot    string
	kubectlPath string
	kubeconfig  string
	cfg         *rest.Config
	k8sClient   client.WithWatch
	testEnv     *envtest.Environment
	binDir      string
	managerBin  string
	// lockctlBin is the CLI, built for the specs that run it as a user does.
	lockctlBin string
	// managerKubeconfig holds a token of the manager's ServiceAccount
	// (config/rbac), which the local managers run with.
	managerKubeconfig string
	// scraperToken is a token of a ServiceAccount bound to
	// leasehold-metrics-reader: what the managers' metrics endpoint asks for.
	scraperToken string
	// primary is the manager the specs run against locally (nil on kind).
	primary *localManager
	// extra are further local managers (leader election spec).
	extra []*localManager
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Leasehold e2e suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	repoRoot, err = kubeenv.Root()
	Expect(err).NotTo(HaveOccurred())
	assets, err := kubeenv.AssetsDir(repoRoot)
	Expect(err).NotTo(HaveOccurred())
	kubectlPath = os.Getenv("KUBECTL")
	if kubectlPath == "" {
		kubectlPath = filepath.Join(assets, "kubectl")
	}

	if onKind {
		By("using the cluster of the current kubeconfig and the deployed manager")
		kubeconfig = os.Getenv("KUBECONFIG")
		if kubeconfig == "" {
			kubeconfig = filepath.Join(os.Getenv("HOME"), ".kube", "config")
		}
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		Expect(err).NotTo(HaveOccurred())
	} else {
		By("starting a local control plane (etcd, kube-apiserver)")
		testEnv = &envtest.Environment{BinaryAssetsDirectory: assets}
		_, err = testEnv.Start()
		Expect(err).NotTo(HaveOccurred(), "starting envtest; run `make setup-envtest`")
		admin, err := testEnv.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		cfg = admin.Config()
		b, err := admin.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		binDir = GinkgoT().TempDir()
		kubeconfig = filepath.Join(binDir, "kubeconfig")
		Expect(os.WriteFile(kubeconfig, b, 0o600)).To(Succeed())

		By("installing config/default as make deploy does (the Deployment has no nodes to run on here)")
		kubectl(ctx, "apply", "-k", "config/default")
		kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s",
			"crd/distributedlocks.locks.leasehold.dev")
	}
	if binDir == "" {
		binDir = GinkgoT().TempDir()
	}
	scheme := kubernetes.Scheme() // DistributedLocks, plus Namespaces and Leases
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	By("binding a ServiceAccount to leasehold-metrics-reader, as a Prometheus would be")
	scraperToken = boundServiceAccountToken(ctx, deployNamespace, "e2e-metrics-scraper", "ClusterRoleBinding", "leasehold-metrics-reader")

	if !onKind {
		By("building and starting the manager as its ServiceAccount, with config/rbac's rights only")
		managerKubeconfig = writeTokenKubeconfig("controller-manager",
			serviceAccountToken(ctx, deployNamespace, "leasehold-controller-manager"))
		managerBin = goBuild(binDir, "./cmd/manager", "manager")
		primary = newLocalManager("manager", managerBin, managerKubeconfig)
		primary.Start(ctx)
	}
	lockctlBin = goBuild(binDir, "./cmd/lockctl", "lockctl")
}, NodeTimeout(3*time.Minute))

var _ = AfterSuite(func() {
	for _, m := range append([]*localManager{primary}, extra...) {
		if m != nil {
			m.Signal(syscall.SIGTERM)
		}
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// managers returns the managers running now.
func managers(ctx context.Context) []manager {
	GinkgoHelper()
	if onKind {
		ms, err := deployedManagers(ctx)
		Expect(err).NotTo(HaveOccurred())
		return ms
	}
	var ms []manager
	for _, m := range append([]*localManager{primary}, extra...) {
		if m != nil && m.cmd != nil && m.running() {
			ms = append(ms, m)
		}
	}
	return ms
}

// On failure, print what an operator would look at: the managers' logs and
// every lock.
var _ = AfterEach(func() {
	if !CurrentSpecReport().Failed() || kubectlPath == "" || kubeconfig == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	if onKind {
		if ms, err := deployedManagers(ctx); err == nil {
			for _, m := range ms {
				fmt.Fprintf(&b, "----- log of %s -----\n%s\n", m.Name(), m.Logs(ctx))
			}
		}
	} else {
		for _, m := range append([]*localManager{primary}, extra...) {
			if m != nil {
				fmt.Fprintf(&b, "----- log of %s -----\n%s\n", m.Name(), m.Logs(ctx))
			}
		}
	}
	out, err := kubectlE(ctx, "get", "dlock", "-A", "-o", "yaml")
	fmt.Fprintf(&b, "----- kubectl get dlock -A -o yaml (%v) -----\n%s\n", err, out)
	GinkgoWriter.Print(b.String())
})
