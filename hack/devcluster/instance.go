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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// instance is this devcluster's claim on its kubeconfig path: an flock on
// KUBECONFIG.lock, held while it runs, which also records the pid and the
// SHA-256 of the kubeconfig it wrote, so that a later devcluster can tell a
// kubeconfig left by a killed devcluster (replaced) from anybody else's
// file (never touched).
type instance struct {
	kubeconfig string
	lock       *os.File
	wrote      string // SHA-256 of the kubeconfig written, "" before
}

// claim refuses to start when another devcluster uses the kubeconfig path
// or the manager's addresses are taken, naming each, and when a file that
// devcluster did not write is in the kubeconfig's place.
func claim(kubeconfig string, addrs map[string]string) (*instance, error) {
	in := &instance{kubeconfig: kubeconfig}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(kubeconfig+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	var problems []string
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		pid, _ := readLock(kubeconfig + ".lock")
		problems = append(problems, fmt.Sprintf("kubeconfig %s is in use by another devcluster (pid %d); "+
			"stop it (Ctrl-C in its terminal) or pass --kubeconfig-out", kubeconfig, pid))
		lock = nil
	}
	for _, name := range []string{"--metrics-bind-address", "--health-probe-bind-address"} {
		addr := addrs[name]
		l, err := net.Listen("tcp", addr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s is taken (another make dev, or another program): %v", name, addr, err))
			continue
		}
		_ = l.Close()
	}
	if lock != nil {
		if b, err := os.ReadFile(kubeconfig); err == nil {
			_, sum := readLock(kubeconfig + ".lock")
			if sum == "" || sum != digest(b) {
				problems = append(problems,
					fmt.Sprintf("%s exists and was not written by devcluster; move it away or pass --kubeconfig-out", kubeconfig))
			}
			// Otherwise a devcluster that was killed left it: it is
			// replaced.
		}
	}
	if len(problems) > 0 {
		if lock != nil {
			_ = lock.Close()
		}
		return nil, fmt.Errorf("not starting: %s", strings.Join(problems, "; "))
	}
	in.lock = lock
	return in, nil
}

// writeKubeconfig writes the kubeconfig and records that devcluster wrote it.
func (in *instance) writeKubeconfig(b []byte) error {
	if err := os.WriteFile(in.kubeconfig, b, 0o600); err != nil {
		return err
	}
	in.wrote = digest(b)
	if err := in.lock.Truncate(0); err != nil {
		return err
	}
	_, err := in.lock.WriteAt([]byte(fmt.Sprintf("%d\n%s\n", os.Getpid(), in.wrote)), 0)
	return err
}

// release removes the kubeconfig if it is still the one this devcluster
// wrote, and lets the next devcluster start. The lock file stays: removing
// it would let two later devclusters lock two different files.
func (in *instance) release() error {
	var errs []error
	if in.wrote != "" {
		if b, err := os.ReadFile(in.kubeconfig); err == nil && digest(b) == in.wrote {
			errs = append(errs, os.Remove(in.kubeconfig))
		}
	}
	return errors.Join(append(errs, in.lock.Close())...)
}

// readLock reads the pid and kubeconfig digest a devcluster recorded.
func readLock(path string) (pid int, sum string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, ""
	}
	pid, _ = strconv.Atoi(fields[0])
	return pid, fields[1]
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
