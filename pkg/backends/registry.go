package backends

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Opener opens a backend from a parsed URL whose scheme it registered for.
type Opener func(ctx context.Context, u *url.URL) (Backend, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a backend available to Open under scheme. Backend packages
// call it from init; importing a backend package registers it. Register
// panics if scheme is registered twice, as database/sql.Register does,
// because that is a programming error found at start-up.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("backends: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// ParseURL parses a backend URL for a backend package's Open, which
// accepts the given schemes. Its errors are ErrInvalidArgument and never
// repeat the URL, which may hold a password.
func ParseURL(rawURL string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error would repeat the whole URL, password included.
		return nil, InvalidArgument("backend URL", "cannot be parsed")
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, InvalidArgument("backend URL", "scheme must be %s, not %q", strings.Join(schemes, " or "), u.Scheme)
	}
	return u, nil
}

// Open opens the backend that rawURL names, such as
// "sqlite:///var/lib/leasehold/locks.db" or "redis://localhost:6379/0".
// Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string) (Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error would repeat the whole URL, password included.
		return nil, InvalidArgument("backend URL", "cannot be parsed")
	}
	if u.Scheme == "" {
		return nil, InvalidArgument("backend URL", "needs a scheme, one of %s", strings.Join(Schemes(), ", "))
	}
	registryMu.RLock()
	open, ok := registry[u.Scheme]
	registryMu.RUnlock()
	if !ok {
		return nil, InvalidArgument("backend URL", "unknown scheme %q (registered: %s; import the backend's package to register it)",
			u.Scheme, strings.Join(Schemes(), ", "))
	}
	b, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("opening %s backend %s: %w", u.Scheme, u.Redacted(), err)
	}
	return b, nil
}
