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
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// leaderElectionID is the manager's leader election Lease (cmd/manager).
const leaderElectionID = "leasehold.locks.leasehold.dev"

var _ = Describe("Leasehold, as an operator sees it", Ordered, func() {
	var (
		ns    string
		locks *lockmanager.Manager
	)

	BeforeAll(func(ctx SpecContext) {
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
		Expect(k8sClient.Create(ctx, nsObj)).To(Succeed())
		ns = nsObj.Name
		b, err := kubernetes.New(k8sClient, kubernetes.WithNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		locks = lockmanager.New(b)
		DeferCleanup(func() { Expect(locks.Close()).To(Succeed()) })
	})

	// getLock reads a lock the way an operator does: kubectl get -o json.
	getLock := func(ctx context.Context, key string) (*locksv1alpha1.DistributedLock, error) {
		out, err := kubectlE(ctx, "get", "dlock", "--namespace", ns, kubernetes.ObjectName(key), "-o", "json")
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, out)
		}
		var l locksv1alpha1.DistributedLock
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			return nil, err
		}
		return &l, nil
	}

	// acquire takes a lease through the Go client.
	acquire := func(ctx context.Context, key string, lease time.Duration) lockmanager.Lock {
		GinkgoHelper()
		l, err := locks.Acquire(ctx, lockmanager.AcquireOptions{
			Key: key, Holder: "e2e-worker-1", LeaseDuration: lease,
			Metadata: map[string]string{"spec": CurrentSpecReport().LeafNodeText},
		})
		Expect(err).NotTo(HaveOccurred())
		return l
	}

	// expectReleased waits until the manager has cleared the lock's holder,
	// its fencing token kept and no status left behind.
	expectReleased := func(ctx context.Context, key string, token uint64) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			l, err := getLock(ctx, key)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(l.Spec.HolderIdentity).To(BeEmpty())
			g.Expect(l.Status.Phase).To(BeEmpty())
			g.Expect(l.Spec.FencingToken).To(BeNumerically("==", token))
		}).WithContext(ctx).WithTimeout(reapTimeout).WithPolling(poll).Should(Succeed())
	}

	It("renders config/default with a restricted, least-privilege manager", func(ctx SpecContext) {
		out := kubectl(ctx, "kustomize", "config/default")
		for _, want := range []string{
			"kind: CustomResourceDefinition", "kind: Deployment", "name: leasehold-controller-manager",
			"namespace: leasehold-system", "kind: ClusterRole", "name: leasehold-manager-role",
			"runAsNonRoot: true", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false",
			"- ALL", "type: RuntimeDefault", "--leader-elect",
		} {
			Expect(out).To(ContainSubstring(want))
		}
	})

	It("names every sample after its key, so the Kubernetes backend sees it", func() {
		files, err := filepath.Glob(filepath.Join(repoRoot, "config", "samples", "locks_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			var l locksv1alpha1.DistributedLock
			Expect(yaml.Unmarshal(b, &l)).To(Succeed())
			Expect(l.Name).To(Equal(kubernetes.ObjectName(l.Spec.Key)), "metadata.name of %s", f)
		}
	})

	It("accepts the samples", func(ctx SpecContext) {
		out := kubectl(ctx, "apply", "--namespace", ns, "-k", "config/samples")
		Expect(strings.Count(out, " created")).To(Equal(3), out)
	})

	It("shows key, holder, token, lease and renewal in kubectl get dlock, and details with -o wide", func(ctx SpecContext) {
		l := acquire(ctx, "e2e/columns", time.Hour)
		name := kubernetes.ObjectName("e2e/columns")
		out := kubectl(ctx, "get", "dlock", "--namespace", ns)
		header, row := tableRow(out, name)
		Expect(header).To(Equal([]string{"NAME", "KEY", "HOLDER", "TOKEN", "LEASE", "RENEWED", "PHASE", "AGE"}))
		Expect(row).To(HaveKeyWithValue("KEY", "e2e/columns"))
		Expect(row).To(HaveKeyWithValue("HOLDER", "e2e-worker-1"))
		Expect(row).To(HaveKeyWithValue("TOKEN", fmt.Sprint(l.FencingToken)))
		Expect(row).To(HaveKeyWithValue("LEASE", "3600"))
		Expect(row["RENEWED"]).To(MatchRegexp(`^[0-9]+[sm]$`), "a relative time")
		Expect(row["PHASE"]).To(BeEmpty(), "a held lease is no news")

		out = kubectl(ctx, "get", "dlock", "--namespace", ns, "-o", "wide")
		header, row = tableRow(out, name)
		Expect(header).To(Equal([]string{"NAME", "KEY", "HOLDER", "TOKEN", "LEASE", "RENEWED", "PHASE", "AGE",
			"ACQUIRED", "TRANSITIONS", "POD", "REAP", "MESSAGE"}))
		Expect(row).To(HaveKeyWithValue("REAP", "Release"))
		Expect(out).To(ContainSubstring("scheduler:background:lease"))
	})

	It("accepts a version printed by one lockctl in the next, with the manager running", func(ctx SpecContext) {
		lockctl := func(args ...string) (string, error) {
			cmd := exec.CommandContext(ctx, lockctlBin, append([]string{"--backend", "kubernetes://" + ns}, args...)...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			out, err := cmd.Output()
			return string(out), err
		}
		version := func(out string) string {
			GinkgoHelper()
			var l struct{ Version string }
			Expect(json.Unmarshal([]byte(out), &l)).To(Succeed(), out)
			Expect(l.Version).NotTo(BeEmpty(), out)
			return l.Version
		}
		out, err := lockctl("acquire", "--key", "e2e/script", "--holder", "me", "--lease", "30s", "-o", "json")
		Expect(err).NotTo(HaveOccurred(), out)
		v := version(out)
		for range 3 {
			out, err = lockctl("renew", "--key", "e2e/script", "--holder", "me", "--version", v, "--lease", "30s", "-o", "json")
			Expect(err).NotTo(HaveOccurred(), "renew with the version the previous process printed: %s", out)
			v = version(out)
		}
		out, err = lockctl("release", "--key", "e2e/script", "--holder", "me", "--version", v)
		Expect(err).NotTo(HaveOccurred(), "release with the version the previous process printed: %s", out)
	})

	It("shows a lease taken through the Go client in kubectl get dlock -o json", func(ctx SpecContext) {
		l := acquire(ctx, "e2e/go-client", time.Hour)
		Eventually(func(g Gomega) {
			got, err := getLock(ctx, "e2e/go-client")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Spec.Key).To(Equal("e2e/go-client"))
			g.Expect(got.Spec.HolderIdentity).To(Equal("e2e-worker-1"))
			g.Expect(got.Spec.FencingToken).To(BeNumerically("==", l.FencingToken))
			g.Expect(got.Spec.Metadata).To(HaveKeyWithValue("spec", CurrentSpecReport().LeafNodeText))
			g.Expect(got.Status.Phase).To(BeEmpty())
			g.Expect(l.Version).To(Equal(kubernetes.LeaseVersion(got)), "the manager wrote nothing that changes the version")
		}).WithContext(ctx).WithTimeout(reapTimeout).WithPolling(poll).Should(Succeed())
	})

	It("reaps an expired lease: reapPolicy Release clears the holder", func(ctx SpecContext) {
		l := acquire(ctx, "e2e/expiring", time.Second)
		expectReleased(ctx, "e2e/expiring", l.FencingToken)
	})

	It("reaps an expired lease: reapPolicy Delete deletes the lock", func(ctx SpecContext) {
		key := "e2e/expiring-delete"
		kubectlApply(ctx, ns, fmt.Sprintf(`apiVersion: locks.leasehold.dev/v1alpha1
kind: DistributedLock
metadata:
  name: %s
spec:
  key: %s
  reapPolicy: Delete
`, kubernetes.ObjectName(key), key))
		acquire(ctx, key, time.Second)
		Eventually(func(g Gomega) {
			out, err := kubectlE(ctx, "get", "dlock", "--namespace", ns, kubernetes.ObjectName(key))
			g.Expect(err).To(HaveOccurred())
			g.Expect(out).To(ContainSubstring("NotFound"))
		}).WithContext(ctx).WithTimeout(reapTimeout).WithPolling(poll).Should(Succeed())
	})

	It("refuses an invalid lock with the rule's message", func(ctx SpecContext) {
		out, err := kubectlStdin(ctx, fmt.Sprintf(`apiVersion: locks.leasehold.dev/v1alpha1
kind: DistributedLock
metadata:
  name: %s
spec:
  key: e2e/invalid
  holderIdentity: worker-without-times
  leaseDurationSeconds: 15
`, kubernetes.ObjectName("e2e/invalid")), "apply", "--namespace", ns, "-f", "-")
		Expect(err).To(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("a lock with a holderIdentity needs acquireTime"))
		Expect(out).To(ContainSubstring("a lock with a holderIdentity needs renewTime"))
	})

	It("serves the lock metrics", func(ctx SpecContext) {
		ms := managers(ctx)
		Expect(ms).NotTo(BeEmpty())
		Eventually(func(g Gomega) {
			var reaps float64
			for _, m := range ms {
				text, err := m.Metrics(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				for _, name := range []string{
					"leasehold_distributedlocks",
					"leasehold_distributedlock_reap_delay_seconds_count",
					"leasehold_distributedlock_acquisitions_observed_total",
					"leasehold_distributedlock_renewals_observed_total",
				} {
					_, found := metricSum(text, name)
					g.Expect(found).To(BeTrue(), "%s lacks %s", m.Name(), name)
				}
				r, _ := metricSum(text, "leasehold_distributedlock_reaps_total")
				reaps += r
			}
			// The two reaps above, and the samples' stale leases.
			g.Expect(reaps).To(BeNumerically(">=", 2))
		}).WithContext(ctx).WithTimeout(reapTimeout).WithPolling(poll).Should(Succeed())
	})

	It("loses nothing when the manager is killed, and reaps what expired meanwhile", func(ctx SpecContext) {
		before := lockTokens(ctx, ns)
		killManagers(ctx)

		l := acquire(ctx, "e2e/while-down", time.Second)
		// The lease expires while no manager runs: the Go client itself
		// judges it expired (its own observation, a lease and a skew later).
		Eventually(func(g Gomega) {
			got, err := locks.Get(ctx, "e2e/while-down")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Held).To(BeFalse())
		}).WithContext(ctx).WithTimeout(reapTimeout).WithPolling(poll).Should(Succeed())
		got, err := getLock(ctx, "e2e/while-down")
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Spec.HolderIdentity).To(Equal("e2e-worker-1"), "nothing reaped it while the manager was down")

		restartManagers(ctx)
		expectReleased(ctx, "e2e/while-down", l.FencingToken)
		after := lockTokens(ctx, ns)
		for name, token := range before {
			Expect(after).To(HaveKeyWithValue(name, token), "lock %s after the restart", name)
		}
	})

	It("reaps from one manager only when several run with leader election", func(ctx SpecContext) {
		var ms []manager
		if onKind {
			Eventually(func() []manager { return managers(ctx) }).WithContext(ctx).
				WithTimeout(startTimeout).WithPolling(poll).Should(HaveLen(2))
			ms = managers(ctx)
		} else {
			// The primary runs without leader election; stop it and run two
			// that elect a leader, as config/manager deploys them.
			Expect(primary.Signal(syscall.SIGTERM).Success()).To(BeTrue())
			for i := range 2 {
				m := newLocalManager(fmt.Sprintf("manager-%d", i), managerBin, managerKubeconfig,
					"--leader-elect", "--leader-election-namespace", deployNamespace)
				extra = append(extra, m)
				m.Start(ctx)
				ms = append(ms, m)
			}
		}

		var leader manager
		Eventually(func(g Gomega) {
			var lease coordinationv1.Lease
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: deployNamespace, Name: leaderElectionID}, &lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
			g.Expect(*lease.Spec.HolderIdentity).NotTo(BeEmpty())
			leader = nil
			for _, m := range ms {
				text, err := m.Metrics(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				if v, _ := metricSum(text, "leader_election_master_status"); v == 1 {
					g.Expect(leader).To(BeNil(), "two managers say they lead")
					leader = m
				}
			}
			g.Expect(leader).NotTo(BeNil(), "no manager says it leads")
		}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(poll).Should(Succeed())

		leaderReaps := func() float64 {
			text, err := leader.Metrics(ctx)
			Expect(err).NotTo(HaveOccurred())
			v, _ := metricSum(text, "leasehold_distributedlock_reaps_total")
			return v
		}
		reapsBefore := leaderReaps()
		l := acquire(ctx, "e2e/leader-reaps", time.Second)
		expectReleased(ctx, "e2e/leader-reaps", l.FencingToken)
		Expect(leaderReaps()).To(BeNumerically(">", reapsBefore), "the leader reaped")
		for _, m := range ms {
			if m == leader {
				continue
			}
			text, err := m.Metrics(ctx)
			Expect(err).NotTo(HaveOccurred())
			v, _ := metricSum(text, "leasehold_distributedlock_reaps_total")
			Expect(v).To(BeZero(), "%s does not lead but reaped", m.Name())
		}
	})
})

// kubectlApply applies a manifest into ns.
func kubectlApply(ctx context.Context, ns, manifest string) {
	GinkgoHelper()
	out, err := kubectlStdin(ctx, manifest, "apply", "--namespace", ns, "-f", "-")
	Expect(err).NotTo(HaveOccurred(), out)
}

// lockTokens maps each lock of ns to its fencing token.
func lockTokens(ctx context.Context, ns string) map[string]int64 {
	GinkgoHelper()
	var list locksv1alpha1.DistributedLockList
	Expect(json.Unmarshal([]byte(kubectl(ctx, "get", "dlock", "--namespace", ns, "-o", "json")), &list)).To(Succeed())
	m := map[string]int64{}
	for _, l := range list.Items {
		m[l.Name] = l.Spec.FencingToken
	}
	Expect(m).NotTo(BeEmpty())
	return m
}

// killManagers kills every manager without warning.
func killManagers(ctx context.Context) {
	GinkgoHelper()
	if onKind {
		kubectl(ctx, "delete", "pods", "--namespace", deployNamespace, "--selector", "control-plane=controller-manager",
			"--grace-period=0", "--force", "--wait=false")
		return
	}
	st := primary.Signal(syscall.SIGKILL)
	Expect(st.Sys().(syscall.WaitStatus).Signal()).To(Equal(syscall.SIGKILL))
}

// restartManagers starts the killed managers again (on kind, the
// Deployment does).
func restartManagers(ctx context.Context) {
	GinkgoHelper()
	if onKind {
		Eventually(func() []manager { return managers(ctx) }).WithContext(ctx).
			WithTimeout(startTimeout).WithPolling(poll).ShouldNot(BeEmpty())
		return
	}
	primary.Start(ctx)
}

// tableRow parses kubectl's table output by the header's column offsets
// (cells may be empty) and returns the header and the row whose NAME is
// name.
func tableRow(out, name string) ([]string, map[string]string) {
	GinkgoHelper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := strings.Fields(lines[0])
	starts := make([]int, len(header))
	for i, h := range header {
		starts[i] = strings.Index(lines[0], h)
	}
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, name+" ") {
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(line))
			}
			if starts[i] < len(line) {
				row[h] = strings.TrimSpace(line[starts[i]:end])
			}
		}
		return header, row
	}
	Fail(fmt.Sprintf("no row named %s in:\n%s", name, out))
	return nil, nil
}
