package main

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/leasehold/leasehold/test/support/kubeenv"
	"github.com/leasehold/leasehold/test/support/workload"
)

// startKubernetes starts the local control plane both Kubernetes
// libraries use: workload.KubeServer (envtest with Leasehold's CRDs; its
// kube-apiserver restarts on the same address while etcd keeps the data),
// whose client config has no client-side rate limit and no client
// timeout, so that requests end with their context only.
func startKubernetes(o options) (*store, func(), error) {
	env, err := kubeenv.EnvironmentIn(o.repo)
	if err != nil {
		return nil, nil, err
	}
	srv, err := workload.StartKubeServer(workload.KubeServerOptions{
		CRDDirectoryPaths:     env.CRDDirectoryPaths,
		BinaryAssetsDirectory: env.BinaryAssetsDirectory,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w (make setup-envtest builds the control plane)", err)
	}
	stop := func() { _ = srv.Close() }
	admin, err := kubernetes.NewForConfig(srv.Config())
	if err != nil {
		stop()
		return nil, nil, err
	}
	st := &store{
		name: storeKubernetes, srv: srv, restartable: true,
		base: target{Store: storeKubernetes, Kube: newKubeTarget(srv.Config())},
		prepare: func(ctx context.Context, t target) error {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.Namespace}}
			_, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			return err
		},
	}
	return st, stop, nil
}

// leaseName maps a chaos key ("chaos:key-0") to a valid Lease name.
func leaseName(key string) string {
	return strings.NewReplacer(":", "-", "_", "-").Replace(key)
}
