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
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Redis is a throwaway redis-server on a loopback port, without persistence.
type Redis struct {
	bin       string
	dir       string
	port      int
	extraArgs []string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartRedis starts a Redis server for the test t and stops it when t ends.
// extraArgs are passed to redis-server after the defaults, for example
// "--notify-keyspace-events", "KEA". It fails t if the server cannot start.
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	r, cleanup, err := StartRedisForMain(extraArgs...)
	if err != nil {
		t.Fatalf("starting Redis: %v", err)
	}
	t.Cleanup(cleanup)
	return r
}

// StartRedisForMain starts a Redis server without a *testing.T, for a
// package's TestMain or a Ginkgo BeforeSuite that shares one server among
// all tests. The caller must call cleanup, which stops the server and removes
// its folder.
func StartRedisForMain(extraArgs ...string) (r *Redis, cleanup func(), err error) {
	bin, err := redisServerBinary()
	if err != nil {
		return nil, nil, err
	}
	dir, err := tempDir("leasehold-redis-")
	if err != nil {
		return nil, nil, err
	}
	r = &Redis{bin: bin, dir: dir, extraArgs: append([]string(nil), extraArgs...)}
	for attempt := 1; ; attempt++ {
		if r.port, err = freePort(); err != nil {
			break
		}
		err = r.Start()
		if err == nil || !errors.Is(err, errAddrInUse) || attempt == portAttempts {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return r, r.close, nil
}

// URL returns the server's URL for database 0: redis://127.0.0.1:PORT/0,
// or redis://:PASSWORD@127.0.0.1:PORT/0 when extraArgs set --requirepass.
func (r *Redis) URL() string {
	if pw := r.Password(); pw != "" {
		return (&url.URL{Scheme: "redis", User: url.UserPassword("", pw), Host: r.Addr(), Path: "/0"}).String()
	}
	return fmt.Sprintf("redis://%s/0", r.Addr())
}

// Password returns the password given with --requirepass in extraArgs, or
// "" when the server needs none.
func (r *Redis) Password() string {
	for i, a := range r.extraArgs {
		if a == "--requirepass" && i+1 < len(r.extraArgs) {
			return r.extraArgs[i+1]
		}
	}
	return ""
}

// Addr returns the server's address, 127.0.0.1:PORT.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Port returns the server's TCP port. It stays the same across restarts.
func (r *Redis) Port() int { return r.port }

// Start starts the server again after Stop, on the same port and empty.
// It returns once the server answers PING. Starting a running server is a
// no-op.
func (r *Redis) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return nil
	}
	args := make([]string, 0, 16+len(r.extraArgs))
	args = append(args,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", r.dir,
		// Tests open many short-lived connections; keep the defaults from
		// throttling them and from logging each one.
		"--maxclients", "1000",
		"--loglevel", "warning",
	)
	args = append(args, r.extraArgs...)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	logPath := filepath.Join(r.dir, "redis.log")
	proc, err := startProcess(cmd, logPath, syscall.SIGKILL)
	if err != nil {
		return err
	}
	if err := proc.waitReady("redis-server", logPath, r.ping); err != nil {
		proc.stop(syscall.SIGKILL)
		return err
	}
	r.proc = proc
	return nil
}

// Stop shuts the server down (SIGTERM, then SIGKILL after a timeout). Its
// data is lost. Stopping a stopped server is a no-op.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return
	}
	r.proc.stop(syscall.SIGTERM)
	r.proc = nil
}

// Restart stops the server and starts it again on the same port, empty.
func (r *Redis) Restart() error {
	r.Stop()
	return r.Start()
}

func (r *Redis) close() {
	r.Stop()
	_ = os.RemoveAll(r.dir)
}

// ping sends PING over a fresh connection and expects +PONG. A raw RESP
// exchange keeps this package independent of any Redis client's behaviour.
func (r *Redis) ping(ctx context.Context) error { return pingRedis(ctx, r.Addr()) }

func pingRedis(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	// A server that requires a password answers -NOAUTH: it is up.
	if reply := strings.TrimSpace(line); reply != "+PONG" && !strings.HasPrefix(reply, "-NOAUTH") {
		return fmt.Errorf("unexpected reply to PING: %q", reply)
	}
	return nil
}

func redisServerBinary() (string, error) {
	if bin := os.Getenv("LEASEHOLD_REDIS_SERVER"); bin != "" {
		return bin, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server not found on PATH: run `make test-servers` " +
			"(hack/ensure-test-servers.sh) or install the redis-server package")
	}
	return bin, nil
}
