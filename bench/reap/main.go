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

// Command reap measures the DistributedLock controller on a local control
// plane (envtest), run the way cmd/manager runs it: the API requests it
// sends per reaped lease, how fast it reaps a burst of leases that expire
// together beside the rate of guarded updates the same server accepts from
// a client with the same limits, the reap delay when expiries are spread
// out, and the memory of the manager process with many locks in its cache.
// See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// The manager's defaults (cmd/manager/options.go), replicated because a
// main package cannot be imported: --kube-api-qps, --kube-api-burst,
// --max-concurrent-reconciles. The memory run starts the manager binary
// itself with its defaults.
const (
	managerQPS     = 200
	managerBurst   = 400
	managerWorkers = 8
)

type config struct {
	locks       int
	writers     int
	workers     int
	minLease    int
	leaseSpread int
	burst       int
	rawFree     bool
	spread      int
	spreadLease int
	over        time.Duration
	memory      int
	heapProfile string
	qps         float64
	qpsBurst    int
	assets      string
	crds        string
	out         string
	name        string
	managerBin  string
	noEvents    bool
	deadline    time.Duration
}

func main() {
	var c config
	flag.IntVar(&c.locks, "locks", 0,
		"Delay run: held locks with leases of -min-lease to -min-lease + -lease-spread - 1 s, half Release, half Delete, "+
			"created while the first ones expire (the run bench/compare makes). With no run selected, 1000.")
	flag.IntVar(&c.writers, "writers", 8, "Clients creating the locks in parallel.")
	flag.IntVar(&c.workers, "workers", managerWorkers, "The controller's MaxConcurrentReconciles (the manager's --max-concurrent-reconciles).")
	flag.IntVar(&c.minLease, "min-lease", 1, "Delay run: the shortest lease, in seconds.")
	flag.IntVar(&c.leaseSpread, "lease-spread", 3, "Delay run: leases last min-lease to min-lease + lease-spread - 1 seconds.")
	flag.IntVar(&c.burst, "burst", 0,
		"Burst run: this many held locks whose leases all expire within one second, reaps/s from the first reap to the "+
			"last beside the rate of the same number of guarded updates from a client with the manager's limits.")
	flag.BoolVar(&c.rawFree, "raw-unlimited", true, "Burst run: also measure the guarded updates without a client-side rate limit.")
	flag.IntVar(&c.spread, "spread", 0, "Spread run: this many held locks whose expiries are spread over -over.")
	flag.IntVar(&c.spreadLease, "spread-lease", 10, "Spread run: every lease, in seconds.")
	flag.DurationVar(&c.over, "over", 100*time.Second, "Spread run: the span of the expiries.")
	flag.StringVar(&c.heapProfile, "heap-profile", "",
		"Memory run: write the manager's heap profile (go tool pprof) to this file once it has reconciled every lock.")
	flag.IntVar(&c.memory, "memory", 0,
		"Memory run: this many held locks, then the manager binary (cmd/manager, its defaults) as a separate process; "+
			"its RSS and Go heap.")
	flag.Float64Var(&c.qps, "kube-api-qps", managerQPS, "The manager's --kube-api-qps, for the in-process manager and the raw client.")
	flag.IntVar(&c.qpsBurst, "kube-api-burst", managerBurst, "The manager's --kube-api-burst, likewise.")
	flag.StringVar(&c.assets, "assets", "",
		"Folder with kube-apiserver and etcd; default: $KUBEBUILDER_ASSETS, else where make setup-envtest puts them.")
	flag.StringVar(&c.crds, "crds", filepath.Join("config", "crd", "bases"), "Folder with the DistributedLock CRD.")
	flag.StringVar(&c.out, "out", "", "Write reap.md and reap.json into this folder (e.g. bench/results); empty: print only.")
	flag.StringVar(&c.name, "name", "reap", "The report's file name in -out, without .md or .json.")
	flag.StringVar(&c.managerBin, "manager", "", "The manager binary for the memory run; empty: go build ./cmd/manager.")
	flag.BoolVar(&c.noEvents, "discard-events", false,
		"Diagnostic: the in-process manager's Events are dropped instead of sent, to see what they cost the reaps.")
	flag.DurationVar(&c.deadline, "timeout", 60*time.Minute, "Give up after this long.")
	flag.Parse()
	if c.locks == 0 && c.burst == 0 && c.spread == 0 && c.memory == 0 {
		c.locks = 1000
	}
	if c.locks < 0 || c.burst < 0 || c.spread < 0 || c.memory < 0 || c.writers < 1 || c.workers < 1 ||
		c.minLease < 1 || c.leaseSpread < 1 || c.spreadLease < 1 || c.over <= 0 || c.qps <= 0 || c.qpsBurst < 1 {
		fmt.Fprintln(os.Stderr, "reap: counts must not be negative; -writers, -workers, -min-lease, -lease-spread, -spread-lease, "+
			"-kube-api-burst at least 1; -over and -kube-api-qps positive")
		os.Exit(2)
	}
	if c.assets == "" {
		root, err := kubeenv.Root()
		if err == nil {
			c.assets, err = kubeenv.AssetsDir(root)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "reap: finding the control plane (-assets):", err)
			os.Exit(2)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
	defer cancel()
	rep, err := run(ctx, c)
	if rep != nil && c.out != "" {
		rep.Command = "go run ./bench/reap " + strings.Join(os.Args[1:], " ")
		if werr := rep.write(c.out, c.name); werr != nil {
			fmt.Fprintln(os.Stderr, "reap:", werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reap:", err)
		os.Exit(1)
	}
}
