package kubernetes_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// writeKubeconfig points $KUBECONFIG at a file naming server (with the
// envtest credentials) for the rest of the test.
func writeKubeconfig(t *testing.T, server string) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)
}

func TestOpenByURL(t *testing.T) {
	writeKubeconfig(t, cfg.Host)
	ctx := context.Background()
	ns := freshNamespace(t)
	one, err := backends.Open(ctx, "kubernetes://"+ns)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer one.Close()
	two, err := backends.Open(ctx, "kubernetes://"+ns)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	if _, err := one.Acquire(ctx, &backends.AcquireRequest{Key: "url-k", Holder: "a", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Acquire(ctx, &backends.AcquireRequest{Key: "url-k", Holder: "b", LeaseDuration: time.Minute}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("second client of the same namespace: %v, want ErrLockHeld", err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	writeKubeconfig(t, cfg.Host)
	for _, tc := range []struct{ url, want string }{
		{"kubernetes://user:secret@team-a", "no user or password"},
		{"kubernetes://team-a:6443", "not a host and port"},
		{"kubernetes://team-a/locks", "without path"},
		{"kubernetes://team-a?x=1", "without path"},
		{"kubernetes://Team_A", "not a valid Kubernetes namespace"},
	} {
		_, err := backends.Open(context.Background(), tc.url)
		if !errors.Is(err, backends.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v; want ErrInvalidArgument saying %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error %q shows the password", tc.url, err)
		}
	}
}

func TestOpenReportsUnreachableServer(t *testing.T) {
	writeKubeconfig(t, "https://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := backends.Open(ctx, "kubernetes://team-a")
	if !errors.Is(err, backends.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Open against a closed port = %v; want ErrUnavailable naming the server", err)
	}
}

// A program with a *rest.Config gets a working backend in one call, and
// bad arguments are refused by name.
func TestNewForConfig(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	b, err := kubernetes.NewForConfig(ctx, cfg, kubernetes.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	l := mustAcquire(t, b, "from-config", "me", lease)
	if got, err := b.Get(ctx, "from-config"); err != nil || got.Version != l.Version || !got.Held {
		t.Fatalf("Get after Acquire = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name  string
		cfg   *rest.Config
		ns    string
		field string
	}{
		{"nil config", nil, "default", "cfg"},
		{"bad namespace", cfg, "Team_A", "namespace"},
	} {
		if _, err := kubernetes.NewForConfig(ctx, tc.cfg, kubernetes.WithNamespace(tc.ns)); !errors.Is(err, backends.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v; want ErrInvalidArgument naming %s", tc.name, err, tc.field)
		}
	}
}
