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

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// runManagerEnv makes the test binary run main() instead of the tests, so
// that the tests can start the manager as a real process without a separate
// build.
const runManagerEnv = "LEASEHOLD_TEST_RUN_MANAGER"

func TestMain(m *testing.M) {
	if os.Getenv(runManagerEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	// waitTimeout bounds every wait for the manager; -race on two cores is slow.
	waitTimeout = 60 * time.Second
)

// TestInstallSamplesAndRunManager walks the quick start against a local
// control plane: `kubectl apply -k config/crd` (make install) and
// config/samples, `kubectl get dlock` shows the printer columns, and the
// manager serves its probes, wins leader election and releases the Lease
// when it is stopped.
func TestInstallSamplesAndRunManager(t *testing.T) {
	root, err := kubeenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := kubeenv.AssetsDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if assets, err = filepath.Abs(assets); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (run `make setup-envtest`): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigBytes, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	kubectl("apply", "-k", "config/crd")
	kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/distributedlocks.locks.leasehold.dev")
	kubectl("apply", "-n", "default", "-k", "config/samples")
	table := kubectl("get", "dlock", "-n", "default")
	for _, want := range []string{"KEY", "HOLDER", "TOKEN", "LEASE", "RENEWED", "PHASE", "AGE",
		"scheduler:background:lease", "scheduler-7d9f8b6c4-x2kqp#1", "42"} {
		if !strings.Contains(table, want) {
			t.Errorf("kubectl get dlock output lacks %q:\n%s", want, table)
		}
	}

	probePort := freePort(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	mgr := exec.Command(os.Args[0],
		"--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--leader-elect",
		"--leader-election-namespace=default",
	)
	mgr.Env = append(os.Environ(), runManagerEnv+"=1", "KUBECONFIG="+kubeconfig)
	logs := &strings.Builder{}
	mgr.Stdout, mgr.Stderr = logs, logs
	mgr.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the manager exited; waitErr is then its result.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = mgr.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = mgr.Process.Kill()
		<-exited // the output is complete only once Wait returned
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	})

	for _, path := range []string{"/healthz", "/readyz"} {
		url := fmt.Sprintf("http://127.0.0.1:%d%s", probePort, path)
		waitFor(ctx, t, exited, "manager to answer "+path, func() error {
			resp, err := http.Get(url)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
	}

	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaseKey := types.NamespacedName{Namespace: "default", Name: leaderElectionID}
	waitFor(ctx, t, exited, "manager to hold the leader election Lease", func() error {
		var lease coordinationv1.Lease
		if err := c.Get(ctx, leaseKey, &lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("lease has no holder")
		}
		return nil
	})

	if err := mgr.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("manager exited with %v after SIGTERM, want a clean exit", waitErr)
		}
	case <-ctx.Done():
		t.Fatal("manager did not exit after SIGTERM")
	}
	// LeaderElectionReleaseOnCancel: a standby may take over at once.
	var lease coordinationv1.Lease
	if err := c.Get(ctx, leaseKey, &lease); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("Lease still held by %q after the manager stopped, want it released", *h)
	}
}

// waitFor polls check until it succeeds, failing the test if the manager
// exits first or ctx ends.
func waitFor(ctx context.Context, t *testing.T, exited <-chan struct{}, what string, check func() error) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("manager exited while waiting for %s", what)
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// TestVersion runs the manager with --version: it prints one line with
// the build information and exits 0 without looking for a cluster.
func TestVersion(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--version")
	cmd.Env = append(os.Environ(), runManagerEnv+"=1", "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("manager --version: %v", err)
	}
	if got := string(out); !strings.HasPrefix(got, "manager ") || !strings.Contains(got, runtime.Version()) || strings.Count(got, "\n") != 1 {
		t.Errorf("manager --version printed %q, want one line with the version and %s", got, runtime.Version())
	}
}
