package kubernetes_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// TestPermissionDenied runs the backend as a user the API server's RBAC
// refuses: with the rules of config/rbac's lock-viewer ClusterRole (read
// only) an acquire is ErrPermissionDenied naming the verb and the
// resource, not a retryable ErrUnavailable; with no role at all, opening
// the backend is refused the same way.
func TestPermissionDenied(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)

	viewer := readClusterRole(t, "distributedlock_viewer_role.yaml")
	viewer.Name = "test-permission-lock-viewer-" + ns
	mustCreate(t, &viewer)
	user := "lock-reader-" + ns
	mustCreate(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "lock-reader", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewer.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	})

	as := func(name string) *rest.Config {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: name}
		return c
	}

	b, err := kubernetes.NewForConfig(ctx, as(user), kubernetes.WithNamespace(ns))
	if err != nil {
		t.Fatalf("NewForConfig as a viewer (list is allowed): %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	_, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "jobs/nightly", Holder: "viewer", LeaseDuration: time.Minute})
	if !errors.Is(err, backends.ErrPermissionDenied) || errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Acquire as a viewer: %v; want ErrPermissionDenied and not ErrUnavailable", err)
	}
	for _, want := range []string{`acquiring "jobs/nightly"`, "permission denied", user, `cannot create resource "distributedlocks"`,
		ns, "leasehold-lock-editor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := b.Get(ctx, "jobs/nightly"); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("Get as a viewer: %v; want ErrNotFound (reads are allowed)", err)
	}

	_, err = kubernetes.NewForConfig(ctx, as("nobody-"+ns), kubernetes.WithNamespace(ns))
	if !errors.Is(err, backends.ErrPermissionDenied) || !strings.Contains(err.Error(), `cannot list resource "distributedlocks"`) {
		t.Fatalf("NewForConfig without a role: %v; want ErrPermissionDenied naming list on distributedlocks", err)
	}
}

// readClusterRole reads a ClusterRole from config/rbac.
func readClusterRole(t *testing.T, file string) rbacv1.ClusterRole {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(raw, &role); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return role
}

func mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
}
