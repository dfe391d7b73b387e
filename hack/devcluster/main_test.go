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
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/gobuild"
	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// runDevEnv makes the test binary run main() instead of the tests, so that
// the test starts devcluster as a real process without a separate build.
const runDevEnv = "LEASEHOLD_TEST_RUN_DEVCLUSTER"

func TestMain(m *testing.M) {
	if os.Getenv(runDevEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// readyTimeout bounds the start of the control plane and the manager (and
// the manager's build); -race on two cores is slow.
const readyTimeout = 3 * time.Minute

// TestDevClusterStartsAndStopsCleanly runs `make dev`'s program as a
// process: it waits for the ready line, lists the samples with kubectl and
// the printed KUBECONFIG, sends SIGINT, and checks that devcluster exits 0
// having stopped etcd, kube-apiserver and the manager and removed their
// folders and the kubeconfig.
//
//nolint:gocyclo // one run of devcluster, step by step, each step checked where it happens
func TestDevClusterStartsAndStopsCleanly(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	assets, err := kubeenv.AssetsDir(root)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	manager := filepath.Join(tmp, "manager")
	build := exec.Command("go", append(append([]string{"build", "-o", manager}, gobuild.Flags()...), "./cmd/manager")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(tmp, "dev", "kubeconfig")

	devArgs := []string{
		"--kubeconfig-out", kubeconfig,
		"--metrics-bind-address", freeAddr(t),
		"--health-probe-bind-address", freeAddr(t),
	}
	dev := exec.Command(os.Args[0], append([]string{"--assets", assets, "--manager", manager}, devArgs...)...)
	dev.Dir = root // the default --crd-dir and --samples are relative to it
	dev.Env = append(os.Environ(), runDevEnv+"=1")
	logs := &lockedBuffer{}
	dev.Stderr = logs
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- dev.Wait() // after the pipe is drained, as Wait requires
	}()
	t.Cleanup(func() {
		if dev.ProcessState == nil {
			_ = dev.Process.Kill()
		}
		if t.Failed() {
			t.Logf("devcluster log:\n%s", logs.String())
		}
	})

	var printed []string
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
waitReady:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("devcluster ended before its ready line: %v\nstdout:\n%s", <-exited, strings.Join(printed, "\n"))
			}
			printed = append(printed, line)
			if strings.Contains(line, "Press Ctrl-C") {
				break waitReady
			}
		case <-deadline.C:
			t.Fatalf("no ready line from devcluster within %s; stdout:\n%s", readyTimeout, strings.Join(printed, "\n"))
		}
	}
	out := strings.Join(printed, "\n")
	if !strings.Contains(out, "ready") || !strings.Contains(out, "export KUBECONFIG="+kubeconfig) {
		t.Errorf("ready message lacks the ready line or the KUBECONFIG export:\n%s", out)
	}

	// kubectl as the ready message says, with the printed KUBECONFIG.
	get := exec.Command(filepath.Join(assets, "kubectl"), "get", "dlock", "--namespace", "default")
	get.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	table, err := get.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get dlock: %v\n%s", err, table)
	}
	for _, want := range []string{"KEY", "HOLDER", "TOKEN", "LEASE", "RENEWED", "PHASE",
		"scheduler:background:lease", "orders-db-migration", "reports/nightly-export"} {
		if !strings.Contains(string(table), want) {
			t.Errorf("kubectl get dlock lacks %q:\n%s", want, table)
		}
	}

	// The demo lock is held, and renewed while devcluster runs.
	checkDemoLockRenewed(t, kubeconfig)

	// A second devcluster with the same kubeconfig path and addresses
	// refuses to start, naming each, and leaves the first one's files.
	second := exec.Command(os.Args[0], append([]string{"--assets", assets, "--manager", manager}, devArgs...)...)
	second.Dir = root
	second.Env = append(os.Environ(), runDevEnv+"=1")
	refusal, err := second.CombinedOutput()
	if err == nil {
		t.Errorf("a second devcluster on the same kubeconfig and addresses started:\n%s", refusal)
	}
	for _, want := range []string{"not starting", kubeconfig, "another devcluster (pid " + strconv.Itoa(dev.Process.Pid) + ")", devArgs[3], devArgs[5]} {
		if !strings.Contains(string(refusal), want) {
			t.Errorf("the second devcluster's refusal does not name %q:\n%s", want, refusal)
		}
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		t.Errorf("the first devcluster's kubeconfig is gone after a second one was refused: %v", err)
	}

	children := childProcesses(t, dev.Process.Pid)
	for _, name := range []string{"etcd", "kube-apiserver", "manager"} {
		if !hasProcess(children, name) {
			t.Errorf("no %s child of devcluster among %v", name, children)
		}
	}

	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until devcluster closes stdout
	}
	if err := <-exited; err != nil {
		t.Fatalf("devcluster exited with %v after SIGINT, want status 0", err)
	}

	for _, p := range children {
		if err := syscall.Kill(p.pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after devcluster exited (kill -0: %v)", p.name, p.pid, err)
		}
		for _, dir := range p.dataDirs {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s's folder %s still exists after devcluster exited (stat: %v)", p.name, dir, err)
			}
		}
	}
	if _, err := os.Stat(kubeconfig); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("kubeconfig %s still exists after devcluster exited (stat: %v)", kubeconfig, err)
	}
}

// process is a child process of devcluster.
type process struct {
	pid  int
	name string
	// dataDirs are the temporary folders envtest made for it (etcd's
	// --data-dir, kube-apiserver's --cert-dir).
	dataDirs []string
}

func (p process) String() string { return fmt.Sprintf("%s(%d)", p.name, p.pid) }

func hasProcess(ps []process, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

// childProcesses lists the direct children of ppid from /proc.
func childProcesses(t *testing.T, ppid int) []process {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var ps []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // it ended meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(stat)
		end := strings.LastIndexByte(s, ')')
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(ppid) {
			continue
		}
		p := process{pid: pid, name: s[strings.IndexByte(s, '(')+1 : end]}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for arg := range strings.SplitSeq(string(cmdline), "\x00") {
			for _, flag := range []string{"--data-dir=", "--cert-dir="} {
				if dir, ok := strings.CutPrefix(arg, flag); ok {
					p.dataDirs = append(p.dataDirs, dir)
				}
			}
		}
		ps = append(ps, p)
	}
	return ps
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// lockedBuffer is an io.Writer safe for the process's writes and the
// test's reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkDemoLockRenewed reads the demo lock through the Kubernetes backend:
// it is held, and its version changes (a renewal) while devcluster runs.
func checkDemoLockRenewed(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := kubernetes.NewForConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := lockmanager.New(b)
	defer func() { _ = m.Close() }()
	first, err := m.Get(ctx, demoKey)
	if err != nil {
		t.Fatalf("Get %s: %v", demoKey, err)
	}
	if !first.Held || !strings.HasPrefix(first.Holder, "devcluster:") {
		t.Fatalf("%s is %+v, want held by devcluster", demoKey, first)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		cur, err := m.Get(ctx, demoKey)
		if err != nil {
			t.Fatalf("Get %s: %v", demoKey, err)
		}
		if cur.Version != first.Version {
			if !cur.Held || cur.FencingToken != first.FencingToken {
				t.Errorf("%s after a renewal: %+v, want held with token %d", demoKey, cur, first.FencingToken)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not renewed", demoKey)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClaimKeepsOtherFiles: a file in the kubeconfig's place that
// devcluster did not write stops it and stays; one that a killed
// devcluster wrote is replaced; a clean stop removes only its own.
func TestClaimKeepsOtherFiles(t *testing.T) {
	addrs := map[string]string{"--metrics-bind-address": freeAddr(t), "--health-probe-bind-address": freeAddr(t)}
	kubeconfig := filepath.Join(t.TempDir(), "dev", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := claim(kubeconfig, addrs); err == nil || !strings.Contains(err.Error(), "was not written by devcluster") {
		t.Errorf("claim over a foreign file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(kubeconfig); string(b) != "someone else's" {
		t.Errorf("the foreign file now holds %q", b)
	}
	if err := os.Remove(kubeconfig); err != nil {
		t.Fatal(err)
	}

	// A devcluster that is killed leaves its kubeconfig and its record.
	in, err := claim(kubeconfig, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.writeKubeconfig([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := in.lock.Close(); err != nil { // as the kernel would for a killed process
		t.Fatal(err)
	}
	in, err = claim(kubeconfig, addrs)
	if err != nil {
		t.Fatalf("claim after a killed devcluster: %v, want its kubeconfig replaced", err)
	}
	if err := in.writeKubeconfig([]byte("second")); err != nil {
		t.Fatal(err)
	}
	// Someone replaces the file while devcluster runs: it is theirs now.
	if err := os.WriteFile(kubeconfig, []byte("edited"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := in.release(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(kubeconfig); string(b) != "edited" {
		t.Errorf("release removed or changed a kubeconfig it did not write: %q", b)
	}
}
