package kubernetes

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends"
)

func init() {
	backends.Register("kubernetes", func(ctx context.Context, u *url.URL) (backends.Backend, error) {
		b, err := openURL(ctx, u)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return b, nil
	})
}

// Scheme returns a runtime scheme that knows the DistributedLock types,
// for callers building their own client for New.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := locksv1alpha1.AddToScheme(s); err != nil {
		panic(err) // static registration: fails only on a programming error
	}
	return s
}

// Open connects to the cluster the default kubeconfig loading rules find
// (--kubeconfig, $KUBECONFIG, in-cluster config, ~/.kube/config) and returns
// a backend for the namespace rawURL names: kubernetes://NAMESPACE, or
// kubernetes:// for "default". opts apply after the URL's namespace. Like
// NewForConfig, it lists the namespace's DistributedLocks once, so that a
// missing CRD, missing permissions or an unreachable server are reported
// now, by name.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Backend, error) {
	u, err := backends.ParseURL(rawURL, "kubernetes")
	if err != nil {
		return nil, err
	}
	return openURL(ctx, u, opts...)
}

func openURL(ctx context.Context, u *url.URL, opts ...Option) (*Backend, error) {
	ns := u.Host
	if ns == "" {
		ns = strings.TrimPrefix(u.Opaque, "//")
	}
	switch {
	case u.User != nil:
		return nil, backends.InvalidArgument("kubernetes URL", "takes no user or password (credentials come from the kubeconfig)")
	case u.Port() != "":
		return nil, backends.InvalidArgument("kubernetes URL", "takes a namespace, not a host and port (the server comes from the kubeconfig)")
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return nil, backends.InvalidArgument("kubernetes URL", "must be kubernetes://NAMESPACE, without path, query or fragment")
	}
	opts = append([]Option{WithNamespace(ns)}, opts...)
	// Refused before the kubeconfig is read, naming the URL.
	if err := newConfig(opts).validate("kubernetes URL"); err != nil {
		return nil, err
	}
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return NewForConfig(ctx, cfg, opts...)
}

// NewForConfig returns a backend that talks to the cluster cfg names, for
// programs that already have a *rest.Config (in-cluster, or their own
// kubeconfig handling): it builds the client New needs (the DistributedLock
// scheme, reads straight from the API server, watches) and lists the
// namespace's DistributedLocks once, so that a missing CRD, missing
// permissions or an unreachable server are reported now, by name. cfg is
// not modified.
func NewForConfig(ctx context.Context, cfg *rest.Config, opts ...Option) (*Backend, error) {
	if cfg == nil {
		return nil, backends.InvalidArgument("cfg", "must not be nil")
	}
	bc := newConfig(opts)
	if err := bc.validate("namespace"); err != nil {
		return nil, err
	}
	ns := bc.namespace
	c, err := client.NewWithWatch(rest.CopyConfig(cfg), client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("building a client for %s: %w", cfg.Host, err)
	}
	var list locksv1alpha1.DistributedLockList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.Limit(1)); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster at %s does not serve DistributedLocks (%s): install the CRD from config/crd: %w",
				cfg.Host, locksv1alpha1.GroupVersion, err)
		}
		class := backends.ErrUnavailable
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			class = backends.ErrPermissionDenied
		}
		return nil, fmt.Errorf("listing DistributedLocks in namespace %q at %s: %w: %w", ns, cfg.Host, class, err)
	}
	return newBackend(c, bc), nil
}
