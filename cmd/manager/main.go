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
	"errors"
	"flag"
	"net/http"
	"os"

	// Auth plugins (OIDC, cloud providers) for kubeconfigs that need them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/internal/buildinfo"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(locksv1alpha1.AddToScheme(scheme))
	// +kubebuilder:scaffold:scheme
}

func main() {
	opts, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		// The logger is not set up before the flags are parsed.
		_, _ = os.Stderr.WriteString("manager: " + err.Error() + "\n")
		os.Exit(2)
	}
	if opts.version {
		_, _ = os.Stdout.WriteString("manager " + buildinfo.Get().String() + "\n")
		os.Exit(0)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	if _, err := opts.setMemoryLimit(setupLog); err != nil {
		// Not fatal: the manager works without a soft limit, as any Go
		// program does.
		setupLog.Error(err, "Unable to set the Go memory limit from the container's")
	}

	cfg, err := opts.restConfig()
	if err != nil {
		setupLog.Error(err, "Unable to find the cluster")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(cfg, opts.managerOptions(scheme))
	if err != nil {
		setupLog.Error(err, "Unable to create manager")
		os.Exit(1)
	}

	if err := opts.reconciler().SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "Unable to create controller", "controller", "DistributedLock")
		os.Exit(1)
	}
	// +kubebuilder:scaffold:builder

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	// Ready once the informer caches have synced: before that the manager
	// cannot judge any lease.
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches not synced")
		}
		return nil
	}); err != nil {
		setupLog.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting manager", "version", buildinfo.Get().Version, "commit", buildinfo.Get().Commit,
		"namespaces", opts.namespaces, "leaderElection", opts.leaderElect,
		"clockSkewAllowance", opts.clockSkewAllowance, "reapGrace", opts.reapGrace, "podBinding", opts.podBinding)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "Problem running manager")
		os.Exit(1)
	}
}
