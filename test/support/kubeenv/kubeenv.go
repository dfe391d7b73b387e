// Package kubeenv finds the local Kubernetes control plane that
// `make setup-envtest` builds (kube-apiserver, etcd and kubectl under
// bin/k8s/), for every test, benchmark and tool of this repository that
// starts one.
//
// The Kubernetes version is written in one place, go.mod: the control plane
// is the release whose client libraries the module uses (k8s.io/api
// v0.37.2 is Kubernetes 1.37.2). The Makefile derives K8S_VERSION the same
// way.
package kubeenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// apiModule is the module whose version names the Kubernetes release.
const apiModule = "k8s.io/api"

// Root returns the repository root: the nearest directory at or above the
// working directory whose go.mod declares this module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/leasehold/leasehold\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/leasehold/leasehold at or above the working directory")
		}
		dir = parent
	}
}

// Version returns the Kubernetes version of the control plane for the
// repository at root: k8s.io/api's version in its go.mod, v0.X.Y read as
// 1.X.Y.
func Version(root string) (string, error) {
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "require" {
			fields = fields[1:]
		}
		if len(fields) >= 2 && fields[0] == apiModule {
			v, ok := strings.CutPrefix(fields[1], "v0.")
			if !ok {
				return "", fmt.Errorf("go.mod: %s %s is not a v0.X.Y version", apiModule, fields[1])
			}
			return "1." + v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("go.mod in %s does not require %s", root, apiModule)
}

// AssetsDir returns where the control plane's binaries are: the
// KUBEBUILDER_ASSETS environment variable when set (make test sets it),
// otherwise bin/k8s/VERSION-GOOS-GOARCH under root, where
// `make setup-envtest` puts them.
func AssetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	v, err := Version(root)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "k8s", fmt.Sprintf("%s-%s-%s", v, runtime.GOOS, runtime.GOARCH)), nil
}

// Environment returns an envtest environment for the repository that
// contains the working directory: its binaries (AssetsDir) and the
// DistributedLock CRD from config/crd/bases. Callers set what else they
// need before Start.
func Environment() (*envtest.Environment, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	return EnvironmentIn(root)
}

// EnvironmentIn is Environment for the repository at root.
func EnvironmentIn(root string) (*envtest.Environment, error) {
	assets, err := AssetsDir(root)
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}, nil
}
