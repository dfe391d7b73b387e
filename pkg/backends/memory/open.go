package memory

import (
	"context"
	"net/url"
	"strings"

	"github.com/leasehold/leasehold/pkg/backends"
)

func init() {
	backends.Register("memory", func(ctx context.Context, u *url.URL) (backends.Backend, error) {
		return openURL(u), nil
	})
}

// processStore backs every memory:// URL opened in this process, so that
// several Managers of one process share locks.
var processStore = NewStore()

// Open returns a client of a process-wide Store for the namespace rawURL
// names: memory://NAMESPACE, or memory:// for "default". opts apply after
// the URL's namespace (WithStore picks another Store than the process's).
// A URL that cannot be parsed or has another scheme is ErrInvalidArgument.
func Open(_ context.Context, rawURL string, opts ...Option) (*Backend, error) {
	u, err := backends.ParseURL(rawURL, "memory")
	if err != nil {
		return nil, err
	}
	return openURL(u, opts...), nil
}

func openURL(u *url.URL, opts ...Option) *Backend {
	ns := u.Host
	if ns == "" {
		ns = strings.TrimPrefix(u.Opaque, "//")
	}
	return New(append([]Option{WithNamespace(ns), WithStore(processStore)}, opts...)...)
}
