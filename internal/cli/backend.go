package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// BackendEnv is the environment variable that names the backend when
// --backend is not given.
const BackendEnv = "LEASEHOLD_BACKEND"

// backendURL returns the backend URL the flags and environment select,
// checked against the registered schemes. It does not create the default
// file's folder; openManager does, when it is about to use it.
func (o *options) backendURL() (rawURL string, isDefault bool, err error) {
	rawURL = o.backend
	source := "--backend"
	if rawURL == "" {
		rawURL = o.env.Getenv(BackendEnv)
		source = "$" + BackendEnv
	}
	if rawURL == "" {
		path, err := DefaultDatabasePath(o.env.Getenv)
		if err != nil {
			return "", false, err
		}
		return (&url.URL{Scheme: "sqlite", Path: path}).String(), true, nil
	}
	// The URL may hold a password: name its source, never repeat it.
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false, usagef("%s: the backend URL cannot be parsed", source)
	}
	schemes := backends.Schemes()
	if u.Scheme == "" {
		return "", false, usagef("%s: the backend URL needs a scheme, one of %s", source, strings.Join(schemes, ", "))
	}
	if !slices.Contains(schemes, u.Scheme) {
		return "", false, usagef("%s: unknown backend scheme %q; lockctl supports %s", source, u.Scheme, strings.Join(schemes, ", "))
	}
	return rawURL, false, nil
}

// DefaultDatabasePath is the SQLite file lockctl uses when no backend is
// named: $XDG_STATE_HOME/leasehold/locks.db, or
// $HOME/.local/state/leasehold/locks.db when XDG_STATE_HOME is unset or not
// absolute (the XDG Base Directory rule for relative values).
func DefaultDatabasePath(getenv func(string) string) (string, error) {
	state := getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(state) {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("finding the default lock database: %w; set --backend or $%s", err, BackendEnv)
			}
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "leasehold", "locks.db"), nil
}

// openManager opens the selected backend. The default database's folder is
// created (0700: lock records name hosts and processes) on first use.
// A program's own Store, when it has one, opens the store instead.
func (o *options) openManager(ctx context.Context) (*lockmanager.Manager, error) {
	if s := o.program.Store; s != nil {
		m, err := s.Open(ctx)
		if err != nil {
			if errors.Is(err, lockmanager.ErrInvalidArgument) {
				return nil, err
			}
			return nil, &openError{err: err}
		}
		return m, nil
	}
	rawURL, isDefault, err := o.backendURL()
	if err != nil {
		return nil, err
	}
	if isDefault {
		u, _ := url.Parse(rawURL)
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o700); err != nil {
			return nil, &openError{err: fmt.Errorf("creating the folder of the default lock database: %w", err)}
		}
	}
	m, err := lockmanager.Open(ctx, rawURL)
	if err != nil {
		if errors.Is(err, lockmanager.ErrInvalidArgument) {
			return nil, err
		}
		return nil, &openError{err: err}
	}
	return m, nil
}
