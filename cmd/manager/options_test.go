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
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/controllers"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	mo := o.managerOptions(runtime.NewScheme())
	got := map[string]any{
		"metrics":         mo.Metrics.BindAddress,
		"metricsSecure":   mo.Metrics.SecureServing,
		"metricsFilter":   mo.Metrics.FilterProvider != nil,
		"probe":           mo.HealthProbeBindAddress,
		"leaderElection":  mo.LeaderElection,
		"leaderElectID":   mo.LeaderElectionID,
		"releaseOnCancel": mo.LeaderElectionReleaseOnCancel,
		"namespaces":      len(mo.Cache.DefaultNamespaces),
		"skew":            o.reconciler().Rule.ClockSkewAllowance,
		"grace":           o.reconciler().Rule.ReapGrace,
		"workers":         o.reconciler().MaxConcurrentReconciles,
		"eventQPS":        float64(o.reconciler().ReapEvents.Limit()),
		"eventBurst":      o.reconciler().ReapEvents.Burst(),
		"podBinding":      !o.reconciler().DisablePodBinding,
	}
	want := map[string]any{
		"metrics":         ":8443",
		"metricsSecure":   true,
		"metricsFilter":   true,
		"probe":           ":8081",
		"leaderElection":  false,
		"leaderElectID":   leaderElectionID,
		"releaseOnCancel": true,
		"namespaces":      0, // all namespaces
		"skew":            controllers.DefaultClockSkewAllowance,
		"grace":           time.Duration(0),
		"workers":         8,
		"eventQPS":        float64(controllers.DefaultReapEventQPS),
		"eventBurst":      controllers.DefaultReapEventBurst,
		"podBinding":      true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestParseOptionsFlags(t *testing.T) {
	o, err := parseOptions([]string{
		"--kubeconfig=/tmp/kc",
		"--metrics-bind-address=127.0.0.1:9090",
		"--metrics-secure",
		"--metrics-cert-dir=/certs",
		"--health-probe-bind-address=127.0.0.1:9091",
		"--leader-elect",
		"--leader-election-namespace=leasehold-system",
		"--namespaces= team-a,team-b ",
		"--clock-skew-allowance=250ms",
		"--reap-grace=2s",
		"--max-concurrent-reconciles=3",
		"--kube-api-qps=50",
		"--kube-api-burst=70",
		"--reap-event-qps=5",
		"--reap-event-burst=7",
		"--pod-binding=false",
		"--zap-log-level=debug",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	mo := o.managerOptions(runtime.NewScheme())
	r := o.reconciler()
	got := map[string]any{
		"kubeconfig":  o.kubeconfig,
		"metrics":     mo.Metrics.BindAddress,
		"secure":      mo.Metrics.SecureServing,
		"certDir":     mo.Metrics.CertDir,
		"probe":       mo.HealthProbeBindAddress,
		"leader":      mo.LeaderElection,
		"leaderNS":    mo.LeaderElectionNamespace,
		"namespaces":  slices.Sorted(maps.Keys(mo.Cache.DefaultNamespaces)),
		"skew":        r.Rule.ClockSkewAllowance,
		"grace":       r.Rule.ReapGrace,
		"workers":     r.MaxConcurrentReconciles,
		"qps":         o.kubeAPIQPS,
		"burst":       o.kubeAPIBurst,
		"eventQPS":    float64(r.ReapEvents.Limit()),
		"eventBurst":  r.ReapEvents.Burst(),
		"podBinding":  !r.DisablePodBinding,
		"strips":      mo.Cache.DefaultTransform != nil,
		"trims":       trimsLocks(mo.Cache.ByObject),
		"zapLevelSet": o.zap.Level != nil,
	}
	want := map[string]any{
		"kubeconfig":  "/tmp/kc",
		"metrics":     "127.0.0.1:9090",
		"secure":      true,
		"certDir":     "/certs",
		"probe":       "127.0.0.1:9091",
		"leader":      true,
		"leaderNS":    "leasehold-system",
		"namespaces":  []string{"team-a", "team-b"},
		"skew":        250 * time.Millisecond,
		"grace":       2 * time.Second,
		"workers":     3,
		"qps":         50.0,
		"burst":       70,
		"eventQPS":    float64(5),
		"eventBurst":  7,
		"podBinding":  false,
		"strips":      true,
		"trims":       true,
		"zapLevelSet": true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestParseOptionsPlainMetrics: --metrics-secure=false (make run, make
// dev) serves plain HTTP with neither authentication nor authorisation.
func TestParseOptionsPlainMetrics(t *testing.T) {
	o, err := parseOptions([]string{"--metrics-secure=false", "--metrics-bind-address=127.0.0.1:8080"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	mo := o.managerOptions(runtime.NewScheme())
	got := map[string]any{
		"metrics": mo.Metrics.BindAddress,
		"secure":  mo.Metrics.SecureServing,
		"filter":  mo.Metrics.FilterProvider != nil,
		"tlsOpts": len(mo.Metrics.TLSOpts),
	}
	want := map[string]any{"metrics": "127.0.0.1:8080", "secure": false, "filter": false, "tlsOpts": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

func TestParseOptionsRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// wantErr are substrings the error must contain: the flag's name
		// and what is wrong.
		wantErr []string
	}{
		{"negative clock-skew allowance", []string{"--clock-skew-allowance=-1s"},
			[]string{"--clock-skew-allowance", "must not be negative", "-1s"}},
		{"negative reap grace", []string{"--reap-grace=-500ms"},
			[]string{"--reap-grace", "must not be negative", "-500ms"}},
		{"zero workers", []string{"--max-concurrent-reconciles=0"},
			[]string{"--max-concurrent-reconciles", "at least 1"}},
		{"zero QPS", []string{"--kube-api-qps=0"},
			[]string{"--kube-api-qps", "must be positive"}},
		{"zero burst", []string{"--kube-api-burst=0"},
			[]string{"--kube-api-burst", "at least 1"}},
		{"malformed memory limit", []string{"--memory-limit=lots"},
			[]string{"--memory-limit", `"lots"`, "quantity"}},
		{"zero memory limit", []string{"--memory-limit=0"},
			[]string{"--memory-limit", "must be positive"}},
		{"zero memory ratio", []string{"--memory-limit-ratio=0"},
			[]string{"--memory-limit-ratio", "greater than 0 and at most 1"}},
		{"memory ratio above 1", []string{"--memory-limit-ratio=1.5"},
			[]string{"--memory-limit-ratio", "at most 1"}},
		{"zero Event rate", []string{"--reap-event-qps=0"},
			[]string{"--reap-event-qps", "must be positive"}},
		{"zero Event burst", []string{"--reap-event-burst=0"},
			[]string{"--reap-event-burst", "at least 1"}},
		{"malformed duration", []string{"--reap-grace=soon"},
			[]string{"reap-grace", "soon"}},
		{"namespace with capitals", []string{"--namespaces=team-a,Team_B"},
			[]string{"--namespaces", `"Team_B"`, "not a valid namespace name"}},
		{"empty namespace entry", []string{"--namespaces=team-a,,team-b"},
			[]string{"--namespaces", "empty entry"}},
		{"namespace listed twice", []string{"--namespaces=team-a,team-a"},
			[]string{"--namespaces", `"team-a" twice`}},
		{"bad leader election namespace", []string{"--leader-election-namespace=kube system"},
			[]string{"--leader-election-namespace", "not a valid namespace name"}},
		{"cert dir without secure serving", []string{"--metrics-secure=false", "--metrics-cert-dir=/certs"},
			[]string{"--metrics-cert-dir", "--metrics-secure"}},
		{"unknown flag", []string{"--reap-delay=1s"},
			[]string{"reap-delay"}},
		{"positional argument", []string{"run"},
			[]string{"unexpected arguments", "run"}},
		{"every error at once", []string{"--reap-grace=-1s", "--clock-skew-allowance=-1s"},
			[]string{"--reap-grace", "--clock-skew-allowance"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if err == nil {
				t.Fatalf("parseOptions(%q) = %+v, want an error", tt.args, o)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestParseOptionsHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseOptions([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"metrics-bind-address", "metrics-secure", "health-probe-bind-address",
		"leader-elect", "namespaces", "clock-skew-allowance", "reap-grace", "max-concurrent-reconciles",
		"kube-api-qps", "kube-api-burst", "reap-event-qps", "reap-event-burst", "memory-limit-ratio", "memory-limit", "zap-log-level", "kubeconfig"} {
		if !strings.Contains(out.String(), "-"+name) {
			t.Errorf("usage lacks -%s:\n%s", name, out.String())
		}
	}
}

// --memory-limit and --memory-limit-ratio set the Go runtime's soft memory
// limit: 60% of 256Mi by default.
func TestMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set in the environment: the manager leaves it alone")
	}
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	var mib256 int64 = 256 << 20
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"--memory-limit=256Mi"}, int64(float64(mib256) * 0.6)},
		{[]string{"--memory-limit=1Gi", "--memory-limit-ratio=0.5"}, 512 << 20},
	} {
		o, err := parseOptions(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		got, err := o.setMemoryLimit(logr.Discard())
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got != tc.want || debug.SetMemoryLimit(-1) != tc.want {
			t.Errorf("%v: limit %d (runtime %d), want %d", tc.args, got, debug.SetMemoryLimit(-1), tc.want)
		}
	}
}

// trimsLocks reports whether the cache options transform DistributedLocks.
func trimsLocks(byObject map[client.Object]cache.ByObject) bool {
	for obj, opts := range byObject {
		if _, ok := obj.(*locksv1alpha1.DistributedLock); ok && opts.Transform != nil {
			return true
		}
	}
	return false
}
