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
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/controllers"
)

// leaderElectionID names the Lease that replicas of the manager compete for.
const leaderElectionID = "leasehold.locks.leasehold.dev"

// defaultMemoryLimitRatio is the share of the container's memory limit the
// Go runtime aims to stay under. The manager's memory is mostly its cache
// of DistributedLocks, live for as long as the locks exist; with Go's
// default of collecting garbage when the heap has doubled, RSS runs at
// about twice that. A soft limit of 60% of the container's limit lets the
// heap grow that far only while memory is plentiful, and leaves the rest for
// what the runtime does not count: the binary's own pages (about 35 MiB),
// buffers and what it has not yet returned. With the soft limit in force
// (the live heap over about a third of the container's limit) the process
// sits near it plus those pages, so the ratio sets RSS; the price is more
// frequent collections, each costing CPU in proportion to the live heap.
const defaultMemoryLimitRatio = 0.6

// setMemoryLimit sets the Go runtime's soft memory limit to
// memoryLimitRatio of the container's memory limit (--memory-limit, or
// the cgroup's), unless GOMEMLIMIT is set or there is no limit, and
// returns the limit in force.
func (o *options) setMemoryLimit(log logr.Logger) (int64, error) {
	provider := memlimit.FromCgroup
	if o.memoryLimit > 0 {
		provider = memlimit.Limit(uint64(o.memoryLimit))
	}
	return memlimit.Set(
		memlimit.WithRatio(o.memoryLimitRatio),
		memlimit.WithProvider(provider),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(log))),
	)
}

// options is everything the command line decides. parseOptions fills it and
// checks it, so that main only wires it up.
type options struct {
	// kubeconfig is an explicit kubeconfig file; empty means the default
	// loading rules ($KUBECONFIG, in-cluster, ~/.kube/config).
	kubeconfig              string
	metricsAddr             string
	metricsSecure           bool
	metricsCertDir          string
	probeAddr               string
	pprofAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	// namespaces are the namespaces the manager watches; empty means all.
	namespaces              []string
	clockSkewAllowance      time.Duration
	reapGrace               time.Duration
	maxConcurrentReconciles int
	kubeAPIQPS              float64
	kubeAPIBurst            int
	reapEventQPS            float64
	reapEventBurst          int
	podBinding              bool
	memoryLimitRatio        float64
	// memoryLimit is the container's memory limit in bytes as given by
	// --memory-limit; 0 means read it from the cgroup.
	memoryLimit int64
	zap         zap.Options
	// version asks for the build information instead of running.
	version bool
}

// parseOptions parses the manager's command line (without the program name).
// Errors name the flag at fault. Output (usage, -help) goes to out.
func parseOptions(args []string, out io.Writer) (*options, error) {
	o := &options{zap: zap.Options{Development: true}}
	var namespaces string
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "",
		"Path to a kubeconfig file. Empty: $KUBECONFIG, the in-cluster config, then ~/.kube/config.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"The address the Prometheus metrics endpoint binds to, e.g. :8443 or 127.0.0.1:8080. Use 0 to disable it.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS to authenticated and authorised scrapers only: a scraper sends a bearer token, "+
			"which the manager checks with the API server (TokenReview), and its identity needs get on the "+
			"non-resource URL /metrics (SubjectAccessReview; config/rbac's metrics-reader ClusterRole). "+
			"The certificate comes from --metrics-cert-dir, or is self-signed. "+
			"--metrics-secure=false serves plain HTTP to anyone, for local runs.")
	fs.StringVar(&o.metricsCertDir, "metrics-cert-dir", "",
		"The folder with tls.crt and tls.key for --metrics-secure. Empty: a self-signed certificate.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081",
		"The address the health (/healthz) and readiness (/readyz) probe endpoint binds to. Use 0 to disable it.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0",
		"The address Go's profiling endpoints (/debug/pprof/) bind to, e.g. 127.0.0.1:8082, "+
			"to see where the manager's memory and CPU go. Unauthenticated: bind it to loopback. 0 (the default) disables it.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Enable leader election, so that only one of several replicas of the manager reconciles and reaps.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader election Lease. Defaults to the manager's own namespace "+
			"when it runs in a cluster; required with --leader-elect when it runs outside one.")
	fs.StringVar(&namespaces, "namespaces", "",
		"Comma-separated namespaces whose DistributedLocks the manager watches and reaps, e.g. team-a,team-b. "+
			"Empty: all namespaces.")
	fs.DurationVar(&o.clockSkewAllowance, "clock-skew-allowance", controllers.DefaultClockSkewAllowance,
		"How far a lock holder's clock may lag the manager's. A lease is expired once the manager has seen it "+
			"unchanged for its full duration, or once the manager's clock is past renewTime + leaseDurationSeconds "+
			"+ this allowance, whichever comes first. Must not be negative.")
	fs.DurationVar(&o.reapGrace, "reap-grace", 0,
		"How long an expired lease stays in place (phase Expired) before the manager reaps it. Must not be negative.")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 8,
		"How many DistributedLocks the manager reconciles in parallel (at least 1). Reconciles mostly wait for "+
			"the API server, so more workers than cores shorten the reap delay when many leases expire together.")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 200,
		"Requests per second the manager may send to the API server (client-side limit; the API server's own "+
			"priority and fairness still applies). Each reap is one request, so this bounds how fast a burst of "+
			"expiries is reaped. Must be positive.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 400,
		"Requests the manager may send at once above --kube-api-qps. At least 1.")
	fs.Float64Var(&o.reapEventQPS, "reap-event-qps", controllers.DefaultReapEventQPS,
		"Reaped Events per second the manager may record once --reap-event-burst is spent. A reap past the "+
			"limit is logged and counted (leasehold_distributedlock_reap_events_dropped_total) but records no "+
			"Event, so that a burst of expiries does not double the manager's writes. Must be positive.")
	fs.IntVar(&o.reapEventBurst, "reap-event-burst", controllers.DefaultReapEventBurst,
		"Reaped Events the manager may record at once above --reap-event-qps. At least 1.")
	fs.BoolVar(&o.podBinding, "pod-binding", true,
		"Free a lock as soon as the Pod its holder runs in (spec.holderPod) is deleted, finished (phase Succeeded or "+
			"Failed) or replaced by a Pod of the same name with another UID, instead of when its lease runs out. "+
			"The manager then watches Pods' metadata and reads a Pod when one that locks are bound to changes. "+
			"--pod-binding=false leaves such locks to their lease and watches no Pods.")
	fs.Float64Var(&o.memoryLimitRatio, "memory-limit-ratio", defaultMemoryLimitRatio,
		"Fraction of the container's memory limit (its cgroup's) that the Go runtime keeps the manager's memory "+
			"under, by collecting garbage sooner as it nears it (a soft limit: GOMEMLIMIT). Without a cgroup limit, "+
			"or with GOMEMLIMIT set, nothing is changed. Greater than 0, at most 1.")
	var memoryLimit string
	fs.StringVar(&memoryLimit, "memory-limit", "",
		"The container's memory limit as a Kubernetes quantity (for example 256Mi), which --memory-limit-ratio "+
			"applies to. config/manager passes the Pod's limits.memory. Empty: read it from the cgroup.")
	fs.BoolVar(&o.version, "version", false, "Print the manager's version, commit and build date, and exit.")
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: the manager takes flags only", fs.Args())
	}

	var errs []error
	if o.clockSkewAllowance < 0 {
		errs = append(errs, fmt.Errorf("--clock-skew-allowance must not be negative, got %s", o.clockSkewAllowance))
	}
	if o.reapGrace < 0 {
		errs = append(errs, fmt.Errorf("--reap-grace must not be negative, got %s", o.reapGrace))
	}
	if o.maxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.maxConcurrentReconciles))
	}
	if !(o.kubeAPIQPS > 0) {
		errs = append(errs, fmt.Errorf("--kube-api-qps must be positive, got %v", o.kubeAPIQPS))
	}
	if o.kubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must be at least 1, got %d", o.kubeAPIBurst))
	}
	if !(o.reapEventQPS > 0) {
		errs = append(errs, fmt.Errorf("--reap-event-qps must be positive, got %v", o.reapEventQPS))
	}
	if o.reapEventBurst < 1 {
		errs = append(errs, fmt.Errorf("--reap-event-burst must be at least 1, got %d", o.reapEventBurst))
	}
	if memoryLimit != "" {
		q, err := resource.ParseQuantity(memoryLimit)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--memory-limit %q is not a quantity such as 256Mi: %w", memoryLimit, err))
		case q.Sign() <= 0:
			errs = append(errs, fmt.Errorf("--memory-limit must be positive, got %s", memoryLimit))
		default:
			o.memoryLimit = q.Value()
		}
	}
	if !(o.memoryLimitRatio > 0 && o.memoryLimitRatio <= 1) {
		errs = append(errs, fmt.Errorf("--memory-limit-ratio must be greater than 0 and at most 1, got %v", o.memoryLimitRatio))
	}
	if o.metricsCertDir != "" && !o.metricsSecure {
		errs = append(errs, errors.New("--metrics-cert-dir needs --metrics-secure"))
	}
	if ns := o.leaderElectionNamespace; ns != "" {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--leader-election-namespace %q is not a valid namespace name: %s",
				ns, strings.Join(msgs, "; ")))
		}
	}
	if namespaces != "" {
		seen := map[string]bool{}
		for ns := range strings.SplitSeq(namespaces, ",") {
			ns = strings.TrimSpace(ns)
			switch {
			case ns == "":
				errs = append(errs, fmt.Errorf("--namespaces %q has an empty entry", namespaces))
			case len(validation.IsDNS1123Label(ns)) > 0:
				errs = append(errs, fmt.Errorf("--namespaces: %q is not a valid namespace name: %s",
					ns, strings.Join(validation.IsDNS1123Label(ns), "; ")))
			case seen[ns]:
				errs = append(errs, fmt.Errorf("--namespaces lists %q twice", ns))
			default:
				seen[ns] = true
				o.namespaces = append(o.namespaces, ns)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

// restConfig finds the cluster like kubectl does, with the flags' rate
// limits.
func (o *options) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" {
		if cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", o.kubeconfig, err)
		}
	} else if cfg, err = ctrl.GetConfig(); err != nil {
		return nil, err
	}
	cfg.QPS = float32(o.kubeAPIQPS)
	cfg.Burst = o.kubeAPIBurst
	return cfg, nil
}

// managerOptions builds the controller-runtime manager's options.
func (o *options) managerOptions(scheme *runtime.Scheme) ctrl.Options {
	opts := ctrl.Options{
		Scheme: scheme,
		Metrics: metricsserver.Options{
			BindAddress:   o.metricsAddr,
			SecureServing: o.metricsSecure,
			CertDir:       o.metricsCertDir,
		},
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: o.leaderElectionNamespace,
		// The manager does nothing between losing leadership and exiting,
		// so releasing the Lease at once lets a standby take over without
		// waiting for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
	}
	if o.metricsSecure {
		// Every scrape is authenticated (TokenReview) and authorised
		// (SubjectAccessReview) by the API server, as the Kubebuilder
		// scaffold does.
		opts.Metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/1.1 only: HTTP/2's stream reset and rapid reset
		// vulnerabilities are not worth it for one scrape a minute.
		opts.Metrics.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	// The cache keeps every lock in memory: only what the reconciler reads
	// (managedFields, often larger than the lock itself, never). Of Pods
	// (--pod-binding) it keeps a few metadata fields only.
	opts.Cache.DefaultTransform = controllers.CacheTransform()
	opts.Cache.ByObject = map[client.Object]cache.ByObject{
		&locksv1alpha1.DistributedLock{}: {Transform: controllers.TrimCachedLock},
	}
	if len(o.namespaces) > 0 {
		opts.Cache.DefaultNamespaces = make(map[string]cache.Config, len(o.namespaces))
		for _, ns := range o.namespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// reconciler builds the DistributedLock reconciler the flags describe.
func (o *options) reconciler() *controllers.DistributedLockReconciler {
	return &controllers.DistributedLockReconciler{
		Rule: controllers.ExpiryRule{
			ClockSkewAllowance: o.clockSkewAllowance,
			ReapGrace:          o.reapGrace,
		},
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
		ReapEvents:              rate.NewLimiter(rate.Limit(o.reapEventQPS), o.reapEventBurst),
		DisablePodBinding:       !o.podBinding,
	}
}
