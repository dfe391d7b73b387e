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

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
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

// FencingObjects returns the ValidatingAdmissionPolicy and binding that
// config/fencing's kustomization lists, as `kubectl apply -k
// config/fencing` would create them, for the repository at root. The folder
// uses no transformations: any field of the kustomization but its
// resources, and any other kind of object, is an error.
func FencingObjects(root string) ([]client.Object, error) {
	dir := filepath.Join(root, "config", "fencing")
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	var objs []client.Object
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, err
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(data, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		var o client.Object
		switch meta.Kind {
		case "ValidatingAdmissionPolicy":
			o = &admissionregistrationv1.ValidatingAdmissionPolicy{}
		case "ValidatingAdmissionPolicyBinding":
			o = &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		default:
			return nil, fmt.Errorf("%s: unexpected kind %q", r, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(data, o); err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}
