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
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// memSample is the manager process's memory at one moment.
type memSample struct {
	Held int64 `json:"heldLocks"`
	// VmRSS and VmHWM (peak RSS) from /proc/PID/status, in MiB.
	RSSMiB  float64 `json:"rssMiB"`
	PeakMiB float64 `json:"peakRssMiB"`
	// From the manager's own Prometheus metrics (runtime.MemStats as of the
	// scrape), in MiB.
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	HeapAllocMiB float64 `json:"heapAllocMiB"`
	// NextGCMiB is the heap size at which the next GC starts: with GOGC=100
	// about twice the heap live after the last GC.
	NextGCMiB float64 `json:"nextGCMiB"`
	SysMiB    float64 `json:"goSysMiB"`
}

type memoryResult struct {
	Locks    int     `json:"locks"`
	CreatedS float64 `json:"createdSeconds"`
	// Empty is the manager with an empty cache; Loaded after it watched
	// every lock being created; Restarted after a fresh manager listed them
	// all at start.
	Empty     *memSample `json:"empty,omitempty"`
	Loaded    *memSample `json:"loaded,omitempty"`
	Restarted *memSample `json:"restarted,omitempty"`
	// RestartSyncS is how long the fresh manager took until it had
	// reconciled every lock.
	RestartSyncS float64 `json:"restartSyncSeconds,omitempty"`
}

func (m *memoryResult) summary() string {
	s := fmt.Sprintf("**%.0f MiB** after watching them created (Go heap in use %.0f MiB)", m.Loaded.RSSMiB, m.Loaded.HeapInuseMiB)
	if m.Restarted != nil {
		s += fmt.Sprintf("; **%.0f MiB** after a restart listed them (peak %.0f MiB)", m.Restarted.RSSMiB, m.Restarted.PeakMiB)
	}
	return s
}

func (m *memoryResult) markdown(b *bytes.Buffer) {
	fmt.Fprintf(b, "## Memory\n\n")
	fmt.Fprintf(b, "The manager binary (`go build ./cmd/manager`) as a separate process with its default flags, `--zap-devel=false` "+
		"and `--memory-limit` set to the container's limits.memory as config/manager deploys it (no leader election; the "+
		"Go runtime's soft limit is then --memory-limit-ratio of it, 60%% by default), against the same control plane; %d "+
		"held locks (leases of an hour, so every one is in the cache, the observation table and the workqueue's timers), "+
		"created in %.0f s. Earlier runs' locks were deleted first. RSS from /proc/PID/status; the Go figures from its "+
		"/metrics (runtime.MemStats at the scrape, not after a forced GC; next GC ≈ 2 × the heap live after the last GC "+
		"with GOGC=100, or sooner near the soft limit).\n\n", m.Locks, m.CreatedS)
	fmt.Fprintf(b, "| Manager | Held locks | RSS | Peak RSS | Heap in use | Heap alloc | Next GC | Go sys |\n"+
		"|---|---|---|---|---|---|---|---|\n")
	row := func(name string, s *memSample) {
		if s == nil {
			return
		}
		fmt.Fprintf(b, "| %s | %d | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB |\n",
			name, s.Held, s.RSSMiB, s.PeakMiB, s.HeapInuseMiB, s.HeapAllocMiB, s.NextGCMiB, s.SysMiB)
	}
	row("empty cache", m.Empty)
	row("after watching the creates", m.Loaded)
	row(fmt.Sprintf("restarted, listed them (synced in %.0f s)", m.RestartSyncS), m.Restarted)
	if m.Empty != nil && m.Loaded != nil && m.Loaded.Held > 0 {
		per := (m.Loaded.RSSMiB - m.Empty.RSSMiB) * 1024 / float64(m.Loaded.Held)
		fmt.Fprintf(b, "\nRSS per held lock, (after watching − empty) ÷ locks: %.2f KiB; at 100,000 locks that would be %.0f MiB.\n",
			per, m.Empty.RSSMiB+per*100000/1024)
	}
	fmt.Fprintln(b)
}

// managerProc is the manager binary running as a child process.
type managerProc struct {
	cmd     *exec.Cmd
	metrics string
	pprof   string // the heap profile's URL
	done    chan error
}

func (b *bench) memoryRun(ctx context.Context, n int) (*memoryResult, error) {
	fmt.Printf("== memory: the manager process with %d held locks\n", n)
	tmp, err := os.MkdirTemp("", "reap-memory-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	bin := b.c.managerBin
	if bin == "" {
		bin = filepath.Join(tmp, "manager")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/manager")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("building cmd/manager: %w", err)
		}
	}
	user, err := b.env.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}

	// Only this run's locks in the cache.
	for _, ns := range b.namespaces {
		if err := b.cl.DeleteAllOf(ctx, &locksv1alpha1.DistributedLock{}, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("deleting earlier runs' locks: %w", err)
		}
	}
	for {
		list := &locksv1alpha1.DistributedLockList{}
		if err := b.cl.List(ctx, list, client.Limit(1)); err != nil {
			return nil, err
		}
		if len(list.Items) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	res := &memoryResult{Locks: n}
	m, err := startManagerProc(bin, kubeconfig, filepath.Join(tmp, "manager-1.log"))
	if err != nil {
		return nil, err
	}
	if err := m.waitHeld(ctx, 0); err != nil {
		m.stop()
		return nil, err
	}
	time.Sleep(2 * time.Second)
	if res.Empty, err = m.sample(); err != nil {
		m.stop()
		return nil, err
	}
	fmt.Printf("manager, empty cache: %s\n", res.Empty.line())

	_, created, err := b.createLocks(ctx, "memory", n, func(int, time.Time) (int, locksv1alpha1.ReapPolicy) {
		return 3600, locksv1alpha1.ReapPolicyRelease
	})
	if err != nil {
		m.stop()
		return res, err
	}
	res.CreatedS = created.Seconds()
	fmt.Printf("created %d locks in %.0f s\n", n, res.CreatedS)
	if err := m.waitHeld(ctx, n); err != nil {
		m.stop()
		return res, err
	}
	time.Sleep(5 * time.Second)
	if res.Loaded, err = m.sample(); err != nil {
		m.stop()
		return res, err
	}
	fmt.Printf("manager after watching the creates: %s\n", res.Loaded.line())
	if b.c.heapProfile != "" {
		if err := m.saveHeapProfile(ctx, b.c.heapProfile); err != nil {
			m.stop()
			return res, err
		}
		fmt.Printf("wrote the manager's heap profile to %s\n", b.c.heapProfile)
	}
	m.stop()

	start := time.Now()
	m, err = startManagerProc(bin, kubeconfig, filepath.Join(tmp, "manager-2.log"))
	if err != nil {
		return res, err
	}
	defer m.stop()
	if err := m.waitHeld(ctx, n); err != nil {
		return res, err
	}
	res.RestartSyncS = time.Since(start).Seconds()
	time.Sleep(5 * time.Second)
	if res.Restarted, err = m.sample(); err != nil {
		return res, err
	}
	fmt.Printf("manager restarted (all %d reconciled after %.0f s): %s\n", n, res.RestartSyncS, res.Restarted.line())
	return res, nil
}

func (s *memSample) line() string {
	return fmt.Sprintf("held %d, RSS %.0f MiB (peak %.0f), heap in use %.0f MiB, heap alloc %.0f MiB, next GC %.0f MiB",
		s.Held, s.RSSMiB, s.PeakMiB, s.HeapInuseMiB, s.HeapAllocMiB, s.NextGCMiB)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// deployedMemoryLimit is the manager container's limits.memory in
// config/manager/manager.yaml, which the Deployment passes to the manager
// as --memory-limit.
func deployedMemoryLimit() (string, error) {
	const file = "config/manager/manager.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var d appsv1.Deployment
	for doc := range strings.SplitSeq(string(data), "\n---") {
		if err := yaml.Unmarshal([]byte(doc), &d); err == nil && d.Kind == "Deployment" {
			break
		}
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && c.Name == "manager" {
			return q.String(), nil
		}
	}
	return "", fmt.Errorf("%s: no limits.memory for the manager container", file)
}

func startManagerProc(bin, kubeconfig, logFile string) (*managerProc, error) {
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	probePort, err := freePort()
	if err != nil {
		return nil, err
	}
	pprofPort, err := freePort()
	if err != nil {
		return nil, err
	}
	logs, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	limit, err := deployedMemoryLimit()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPort),
		"--zap-devel=false", "--memory-limit="+limit,
		// Plain HTTP for this scraper on loopback; deployed, metrics are HTTPS.
		"--metrics-secure=false")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &managerProc{cmd: cmd, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		pprof: fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", pprofPort), done: make(chan error, 1)}
	go func() { m.done <- cmd.Wait(); _ = logs.Close() }()
	return m, nil
}

// saveHeapProfile writes the manager's heap profile to file.
func (m *managerProc) saveHeapProfile(ctx context.Context, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.pprof, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the heap profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the heap profile: %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (m *managerProc) stop() {
	if m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done: //nolint:errcheck // signalled: the error only says so
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done //nolint:errcheck // killed: the error only says so
	}
}

// waitHeld waits until the manager's leasehold_distributedlocks{phase="Held"}
// gauges (one per namespace) add up to want: it has reconciled every lock.
func (m *managerProc) waitHeld(ctx context.Context, want int) error {
	for {
		select {
		case err := <-m.done:
			m.done <- err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("the manager exited: %w", err)
		default:
		}
		if v, err := m.scrape(); err == nil {
			if int(heldLocks(v)) == want {
				return nil
			}
			if _, ok := v["go_memstats_heap_inuse_bytes"]; ok && want == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the manager to hold %d locks: %w", want, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// heldLocks sums the leasehold_distributedlocks{phase="Held"} series of
// a scrape over their other labels (namespace).
func heldLocks(v map[string]float64) float64 {
	held := 0.0
	for series, x := range v {
		if strings.HasPrefix(series, "leasehold_distributedlocks{") && strings.Contains(series, `phase="Held"`) {
			held += x
		}
	}
	return held
}

// scrape reads the manager's /metrics into name{labels} → value.
func (m *managerProc) scrape() (map[string]float64, error) {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("%s: %s", m.metrics, resp.Status)
	}
	v := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		f, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			v[line[:i]] = f
		}
	}
	return v, sc.Err()
}

func (m *managerProc) sample() (*memSample, error) {
	v, err := m.scrape()
	if err != nil {
		return nil, err
	}
	const mib = 1 << 20
	s := &memSample{Held: int64(heldLocks(v)),
		HeapInuseMiB: v["go_memstats_heap_inuse_bytes"] / mib, HeapAllocMiB: v["go_memstats_heap_alloc_bytes"] / mib,
		NextGCMiB: v["go_memstats_next_gc_bytes"] / mib, SysMiB: v["go_memstats_sys_bytes"] / mib}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val) // "123456 kB"
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		switch k {
		case "VmRSS":
			s.RSSMiB = kb / 1024
		case "VmHWM":
			s.PeakMiB = kb / 1024
		}
	}
	return s, nil
}
