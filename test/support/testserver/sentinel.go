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
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// SentinelOptions tunes how quickly a Sentinel acts. Zero values take the
// defaults below, far shorter than Redis's own so that a fail-over test
// takes seconds.
type SentinelOptions struct {
	// Quorum is how many sentinels must agree that the master is down
	// (default 1).
	Quorum int
	// DownAfter is how long the master must not answer before a sentinel
	// deems it down (default 500ms).
	DownAfter time.Duration
	// FailoverTimeout bounds one fail-over attempt (default 10s).
	FailoverTimeout time.Duration
}

// Sentinel is a throwaway `redis-server --sentinel` on a loopback port,
// watching one master.
type Sentinel struct {
	port int
	dir  string
	proc *process
}

// StartSentinel starts a sentinel watching the master at masterAddr
// (127.0.0.1:PORT) under the name master, and stops it when t ends. It
// returns once the sentinel answers PING; it finds the master's replicas
// itself, through the master.
func StartSentinel(t testing.TB, master, masterAddr string, opts SentinelOptions) *Sentinel {
	t.Helper()
	s, err := startSentinel(master, masterAddr, opts)
	if err != nil {
		t.Fatalf("starting Redis Sentinel: %v", err)
	}
	t.Cleanup(s.close)
	return s
}

func startSentinel(master, masterAddr string, opts SentinelOptions) (*Sentinel, error) {
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		return nil, fmt.Errorf("master address %q: %w", masterAddr, err)
	}
	if opts.Quorum == 0 {
		opts.Quorum = 1
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = 500 * time.Millisecond
	}
	if opts.FailoverTimeout == 0 {
		opts.FailoverTimeout = 10 * time.Second
	}
	bin, err := redisServerBinary()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("leasehold-sentinel-")
	if err != nil {
		return nil, err
	}
	s := &Sentinel{dir: dir}
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		// Sentinel rewrites its configuration file as it learns, so each
		// start gets a fresh one.
		conf := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
daemonize no
dir %s
loglevel warning
sentinel monitor %s %s %s %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, s.port, dir, master, host, port, opts.Quorum,
			master, opts.DownAfter.Milliseconds(), master, opts.FailoverTimeout.Milliseconds(), master)
		confPath := filepath.Join(dir, "sentinel.conf")
		if err = os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			break
		}
		cmd := exec.Command(bin, confPath, "--sentinel")
		cmd.Dir = dir
		logPath := filepath.Join(dir, "sentinel.log")
		var proc *process
		if proc, err = startProcess(cmd, logPath, syscall.SIGKILL); err != nil {
			break
		}
		err = proc.waitReady("redis-server --sentinel", logPath, s.ping)
		if err == nil {
			s.proc = proc
			break
		}
		proc.stop(syscall.SIGKILL)
		if !errors.Is(err, errAddrInUse) || attempt == portAttempts {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Addr returns the sentinel's address, 127.0.0.1:PORT.
func (s *Sentinel) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *Sentinel) ping(ctx context.Context) error { return pingRedis(ctx, s.Addr()) }

func (s *Sentinel) close() {
	if s.proc != nil {
		s.proc.stop(syscall.SIGTERM)
	}
	_ = os.RemoveAll(s.dir)
}
