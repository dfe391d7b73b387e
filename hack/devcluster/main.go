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
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// managerStopTimeout bounds the manager's graceful shutdown; it is killed
// after that.
const managerStopTimeout = 20 * time.Second

type config struct {
	assets        string
	manager       string
	kubeconfigOut string
	crdDir        string
	samplesDir    string
	metricsAddr   string
	probeAddr     string
}

func main() {
	c := config{}
	flag.StringVar(&c.assets, "assets", "",
		"The folder with etcd, kube-apiserver and kubectl (make setup-envtest builds it). "+
			"Default: KUBEBUILDER_ASSETS, else bin/k8s/VERSION-OS-ARCH of the repository, VERSION being go.mod's k8s.io/api release.")
	flag.StringVar(&c.manager, "manager", filepath.Join("bin", "manager"),
		"The manager binary to run (make build writes bin/manager).")
	flag.StringVar(&c.kubeconfigOut, "kubeconfig-out", filepath.Join("bin", "dev", "kubeconfig"),
		"Where to write the admin kubeconfig of the control plane; removed on exit.")
	flag.StringVar(&c.crdDir, "crd-dir", filepath.Join("config", "crd", "bases"), "The CRD manifests to install.")
	flag.StringVar(&c.samplesDir, "samples", filepath.Join("config", "samples"),
		"The kustomization applied (into namespace default) once the manager is ready. Empty: none.")
	flag.StringVar(&c.metricsAddr, "metrics-bind-address", "127.0.0.1:8080", "The manager's metrics address.")
	flag.StringVar(&c.probeAddr, "health-probe-bind-address", "127.0.0.1:8081", "The manager's probe address.")
	flag.Parse()
	if c.assets == "" {
		root, err := kubeenv.Root()
		if err == nil {
			c.assets, err = kubeenv.AssetsDir(root)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "devcluster: finding the control plane's binaries (or pass --assets): %v\n", err)
			os.Exit(2)
		}
	}

	// Signals are caught from the start, so that a Ctrl-C while the control
	// plane boots still stops it cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		os.Exit(1)
	}
}

// run starts everything, waits for ctx and stops everything. It returns an
// error if something failed to start or the manager died on its own.
func run(ctx context.Context, c config, stdout, stderr io.Writer) (err error) {
	logf.SetLogger(zap.New(zap.WriteTo(stderr)))
	for _, p := range []*string{&c.assets, &c.manager, &c.kubeconfigOut} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	for _, bin := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(c.assets, bin)); err != nil {
			return fmt.Errorf("--assets %s has no %s (run `make setup-envtest`): %w", c.assets, bin, err)
		}
	}
	if _, err := os.Stat(c.manager); err != nil {
		return fmt.Errorf("--manager %s: %w (run `make build`)", c.manager, err)
	}

	in, err := claim(c.kubeconfigOut, map[string]string{
		"--metrics-bind-address":      c.metricsAddr,
		"--health-probe-bind-address": c.probeAddr,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, in.release()) }()

	fmt.Fprintln(stderr, "Starting etcd and kube-apiserver ...")
	env := &envtest.Environment{
		BinaryAssetsDirectory: c.assets,
		CRDDirectoryPaths:     []string{c.crdDir},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		fmt.Fprintln(stderr, "Stopping kube-apiserver and etcd ...")
		err = errors.Join(err, env.Stop())
	}()

	adminCfg, err := writeKubeconfig(env, in)
	if err != nil {
		return err
	}

	mgr, exited, err := startManager(c, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopManager(mgr, exited, stderr)) }()

	if err := waitReady(ctx, "http://"+c.probeAddr+"/readyz", exited); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // a signal while starting: stop cleanly
	}
	kubectl := filepath.Join(c.assets, "kubectl")
	if c.samplesDir != "" {
		apply := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.kubeconfigOut,
			"apply", "--namespace", "default", "--kustomize", c.samplesDir)
		apply.Stdout, apply.Stderr = stderr, stderr
		if err := apply.Run(); err != nil {
			return fmt.Errorf("applying the samples in %s: %w", c.samplesDir, err)
		}
	}

	stopDemo, err := holdDemo(ctx, adminCfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopDemo()) }()

	kubectlRel := kubectl
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, kubectl); err == nil {
			kubectlRel = rel
		}
	}
	fmt.Fprintf(stdout, `Leasehold dev control plane ready: manager running, samples applied,
lock %q held and renewed by devcluster until it stops.
Point kubectl at it:
  export KUBECONFIG=%s
  %s get dlock
Manager metrics: http://%s/metrics
Press Ctrl-C to stop everything.
`, demoKey, c.kubeconfigOut, kubectlRel, c.metricsAddr)

	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "Stopping ...")
		return nil
	case <-exited:
		return errors.New("the manager exited on its own; see its log above")
	}
}

// writeKubeconfig writes an admin (system:masters) kubeconfig to the
// instance's path and returns the admin's client configuration.
func writeKubeconfig(env *envtest.Environment, in *instance) (*rest.Config, error) {
	admin, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the admin user: %w", err)
	}
	b, err := admin.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("building the kubeconfig: %w", err)
	}
	return admin.Config(), in.writeKubeconfig(b)
}

// startManager starts the manager binary against the control plane. exited
// is closed when it has exited.
func startManager(c config, logs io.Writer) (*exec.Cmd, <-chan struct{}, error) {
	cmd := exec.Command(c.manager,
		"--kubeconfig", c.kubeconfigOut,
		"--metrics-bind-address", c.metricsAddr,
		// Plain HTTP on loopback, so that curl needs no token.
		"--metrics-secure=false",
		"--health-probe-bind-address", c.probeAddr,
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the manager %s: %w", c.manager, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // its log tells why it ended
		close(exited)
	}()
	return cmd, exited, nil
}

// stopManager asks the manager to stop, as a cluster would, and kills it if
// it does not within managerStopTimeout.
func stopManager(cmd *exec.Cmd, exited <-chan struct{}, logs io.Writer) error {
	select {
	case <-exited:
		return nil
	default:
	}
	fmt.Fprintln(logs, "Stopping the manager ...")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping the manager: %w", err)
	}
	timer := time.NewTimer(managerStopTimeout)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("the manager did not stop within %s after SIGTERM; killed it", managerStopTimeout)
	}
}

// waitReady polls the manager's readiness endpoint.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil // a signal while starting: stop cleanly
		case <-exited:
			return errors.New("the manager exited before it was ready; see its log above")
		case <-tick.C:
		}
	}
}
