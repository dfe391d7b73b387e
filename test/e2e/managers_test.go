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
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/leasehold/leasehold/test/support/gobuild"
)

// manager is one running manager, as the specs see it.
type manager interface {
	// Name identifies it in logs.
	Name() string
	// Metrics returns the text of its /metrics endpoint, scraped with a
	// token that leasehold-metrics-reader allows.
	Metrics(ctx context.Context) (string, error)
	// Scrape GETs its /metrics endpoint over HTTPS with token as the bearer
	// token (none when empty) and returns the status code and body.
	Scrape(ctx context.Context, token string) (int, string, error)
	// Logs returns its log so far.
	Logs(ctx context.Context) string
}

// localManager is the manager binary run as a child process.
type localManager struct {
	name        string
	binary      string
	kubeconfig  string
	extraArgs   []string
	metricsAddr string
	probeAddr   string

	logs   *lockedBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

func newLocalManager(name, binary, kubeconfig string, extraArgs ...string) *localManager {
	return &localManager{
		name: name, binary: binary, kubeconfig: kubeconfig, extraArgs: extraArgs,
		metricsAddr: freeAddr(), probeAddr: freeAddr(), logs: &lockedBuffer{},
	}
}

func (m *localManager) Name() string { return m.name }

func (m *localManager) Logs(context.Context) string { return m.logs.String() }

// Start runs the manager and waits until it is ready.
func (m *localManager) Start(ctx context.Context) {
	GinkgoHelper()
	args := append([]string{
		"--kubeconfig", m.kubeconfig,
		"--metrics-bind-address", m.metricsAddr,
		"--health-probe-bind-address", m.probeAddr,
	}, m.extraArgs...)
	m.cmd = exec.Command(m.binary, args...)
	fmt.Fprintf(m.logs, "=== %s %s\n", m.binary, strings.Join(args, " "))
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	// Killed with the test process, so nothing outlives a crashed run.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	Expect(m.cmd.Start()).To(Succeed())
	exited := make(chan struct{})
	m.exited = exited
	cmd := m.cmd
	go func() {
		_ = cmd.Wait()
		fmt.Fprintf(m.logs, "=== exited: %v\n", cmd.ProcessState)
		close(exited)
	}()
	Eventually(func(g Gomega) {
		g.Expect(m.running()).To(BeTrue(), "the manager exited; its log:\n%s", m.logs.String())
		resp, err := httpGet(ctx, "http://"+m.probeAddr+"/readyz")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp).To(Equal("ok"))
	}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(poll).Should(Succeed())
}

func (m *localManager) running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig and waits for the process to exit.
func (m *localManager) Signal(sig syscall.Signal) *os.ProcessState {
	GinkgoHelper()
	if m.cmd == nil || !m.running() {
		return m.cmdState()
	}
	Expect(m.cmd.Process.Signal(sig)).To(Succeed())
	Eventually(m.exited).WithTimeout(stopTimeout).Should(BeClosed())
	return m.cmd.ProcessState
}

func (m *localManager) cmdState() *os.ProcessState {
	if m.cmd == nil {
		return nil
	}
	return m.cmd.ProcessState
}

func (m *localManager) Metrics(ctx context.Context) (string, error) {
	return metricsOf(ctx, m)
}

func (m *localManager) Scrape(ctx context.Context, token string) (int, string, error) {
	return scrape(ctx, "https://"+m.metricsAddr+"/metrics", token)
}

// deployedManager is a pod of the manager Deployment that make deploy
// installed (E2E_KIND=1).
type deployedManager struct {
	pod string
}

func (m deployedManager) Name() string { return m.pod }

func (m deployedManager) Metrics(ctx context.Context) (string, error) {
	return metricsOf(ctx, m)
}

// Scrape reaches the pod through kubectl port-forward: the API server's pod
// proxy does not pass the caller's bearer token on.
func (m deployedManager) Scrape(ctx context.Context, token string) (int, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, kubectlPath, "--kubeconfig", kubeconfig, "port-forward",
		"--namespace", deployNamespace, "pod/"+m.pod, ":8443")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return 0, "", err
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	// "Forwarding from 127.0.0.1:PORT -> 8443"
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Forwarding from 127.0.0.1:"); ok {
			port, _, _ := strings.Cut(rest, " ")
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return scrape(ctx, "https://127.0.0.1:"+port+"/metrics", token)
		}
	}
	return 0, "", fmt.Errorf("kubectl port-forward pod/%s did not say where it listens", m.pod)
}

func (m deployedManager) Logs(ctx context.Context) string {
	out, err := kubectlE(ctx, "logs", "--namespace", deployNamespace, m.pod, "--all-containers")
	if err != nil {
		return fmt.Sprintf("kubectl logs %s: %v\n%s", m.pod, err, out)
	}
	return out
}

// deployedManagers lists the manager's ready pods.
func deployedManagers(ctx context.Context) ([]manager, error) {
	out, err := kubectlE(ctx, "get", "pods", "--namespace", deployNamespace,
		"--selector", "control-plane=controller-manager", "--output", "json")
	if err != nil {
		return nil, fmt.Errorf("listing manager pods: %w: %s", err, out)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string  `json:"name"`
				DeletionTimestamp *string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	var ms []manager
	for _, p := range list.Items {
		if p.Metadata.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				ms = append(ms, deployedManager{pod: p.Metadata.Name})
			}
		}
	}
	return ms, nil
}

// metricSum adds up the samples of the metric name (all label sets) in
// Prometheus text format; found is false when there is none.
func metricSum(text, name string) (sum float64, found bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if strings.IndexByte(line, '}') < 0 {
			fields = strings.Fields(rest)
		}
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// metricsOf scrapes m as the suite's metrics reader and fails unless the
// answer is 200.
func metricsOf(ctx context.Context, m manager) (string, error) {
	code, body, err := m.Scrape(ctx, scraperToken)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("scraping %s: status %d: %s", m.Name(), code, body)
	}
	return body, nil
}

// scrape GETs url with token as the bearer token (none when empty). The
// manager's certificate is self-signed, as deployed without
// --metrics-cert-dir, so it is not verified.
func scrape(ctx context.Context, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// kubectlE runs kubectl against the suite's cluster from the repository
// root and returns its combined output.
func kubectlE(ctx context.Context, args ...string) (string, error) {
	return kubectlStdin(ctx, "", args...)
}

func kubectlStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, kubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl runs kubectl and fails the spec if it fails.
func kubectl(ctx context.Context, args ...string) string {
	GinkgoHelper()
	out, err := kubectlE(ctx, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s:\n%s", strings.Join(args, " "), out)
	return out
}

func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// goBuild builds pkg into dir and returns the binary's path.
func goBuild(dir, pkg, name string) string {
	GinkgoHelper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, gobuild.Flags()...), pkg)...)
	cmd.Dir = repoRoot
	b, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build %s:\n%s", pkg, b)
	return out
}

// lockedBuffer collects a process's output for the specs to read.
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
