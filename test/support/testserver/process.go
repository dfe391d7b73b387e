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

package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	// startTimeout bounds how long a server may take to answer after it was
	// started; generous because -race test runs share two cores.
	startTimeout = 60 * time.Second
	// stopTimeout bounds a graceful shutdown before the process is killed.
	stopTimeout = 15 * time.Second
	// pollInterval is how often readiness is probed while a server starts.
	pollInterval = 25 * time.Millisecond
	// portAttempts is how many free ports are tried when another process
	// takes the chosen one between choosing and binding.
	portAttempts = 5
	// logTailBytes is how much of a server's log an error message carries.
	logTailBytes = 4096
)

// errAddrInUse marks a start that failed because the port was taken, so
// the caller picks another port instead of failing.
var errAddrInUse = errors.New("address already in use")

// process is one running server process.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result, valid after exited is closed
}

// startProcess starts cmd with its output appended to logPath. The child
// receives deathSignal if the test process dies, so that no server outlives
// a crashed test.
func startProcess(cmd *exec.Cmd, logPath string, deathSignal syscall.Signal) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening server log: %w", err)
	}
	// The child keeps its own copy of the descriptor.
	defer func() { _ = logFile.Close() }()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = deathSignal
	// Its own process group: a Ctrl-C in the terminal reaches the test
	// binary, which then stops the server in order, rather than the server
	// directly.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop sends sig and waits for the process to exit, killing it if it takes
// longer than stopTimeout.
func (p *process) stop(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitReady calls probe until it succeeds, the process exits or
// startTimeout passes. A process that exited because its port was taken
// yields errAddrInUse.
func (p *process) waitReady(name, logPath string, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		probeCtx, probeCancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = probe(probeCtx)
		probeCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.exited:
			log := logTail(logPath)
			if strings.Contains(log, "Address already in use") || strings.Contains(log, "could not bind") {
				return fmt.Errorf("%s exited: %w\n%s", name, errAddrInUse, log)
			}
			exitErr := p.waitErr
			if exitErr == nil {
				exitErr = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited before answering (%w); log:\n%s", name, exitErr, log)
		case <-ctx.Done():
			p.stop(syscall.SIGKILL)
			return fmt.Errorf("%s did not answer within %s (last error: %w); log:\n%s", name, startTimeout, lastErr, logTail(logPath))
		case <-ticker.C:
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago. Callers
// retry with another port if a server then fails to bind it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last logTailBytes of the file at path.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// tempDir makes a private folder for one server. Unix socket paths are
// limited to about 100 bytes, so a long TMPDIR falls back to /tmp.
func tempDir(prefix string) (string, error) {
	parent := ""
	if len(os.TempDir()) > 40 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", fmt.Errorf("creating a folder for the server: %w", err)
	}
	return dir, nil
}
