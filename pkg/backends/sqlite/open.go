package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// memoryPath is SQLite's name for a private in-memory database; a URL
// gives it as its host (sqlite://:memory:) or opaque part (sqlite::memory:).
const memoryPath = ":memory:"

func init() {
	backends.Register("sqlite", func(ctx context.Context, u *url.URL) (backends.Backend, error) {
		return openURL(ctx, u)
	})
}

// DSN returns the modernc.org/sqlite data source name Open uses for the
// database file at path: synchronous=FULL (a committed grant survives power
// loss, so no fencing token is ever handed out twice) and the given busy
// timeout on every connection. Migrate puts the file in WAL mode, which is
// persistent, rather than every new connection: two connections switching
// a fresh file to WAL at once can fail with SQLITE_BUSY without waiting.
func DSN(path string, busyTimeout time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "synchronous(FULL)")
	// The path goes into an SQLite URI, where '?', '#' and '%' would be read
	// as syntax; EscapedPath percent-encodes them and SQLite decodes them.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens the backend a URL names:
//
//	sqlite:///var/lib/leasehold/locks.db?namespace=team-a
//	sqlite:relative/locks.db
//	sqlite://:memory:?namespace=team-a
//
// Query parameters: namespace (default "default") and busy_timeout (a Go
// duration, default 5s); opts apply after them. Unknown parameters are an
// error, so that a typo is not silently ignored. The schema is created if missing. A malformed URL
// or an unknown parameter is ErrInvalidArgument; a database folder that
// does not exist, a file that cannot be opened, or a database that stays
// locked past the busy timeout, is ErrUnavailable.
//
// A :memory: database lives as long as the Backend and is private to it:
// it uses a single connection, because every new connection to :memory:
// would be a new, empty database. Share one such database between
// namespaces by opening it once and calling New for each namespace.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Backend, error) {
	u, err := backends.ParseURL(rawURL, "sqlite")
	if err != nil {
		return nil, err
	}
	return openURL(ctx, u, opts...)
}

func openURL(ctx context.Context, u *url.URL, opts ...Option) (*Backend, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "query cannot be parsed")
	}
	namespace := q.Get("namespace")
	busy := DefaultBusyTimeout
	for name, values := range q {
		switch name {
		case "namespace":
		case "busy_timeout":
			if busy, err = time.ParseDuration(values[0]); err != nil || busy < 0 {
				return nil, backends.InvalidArgument("backend URL", "busy_timeout %q is not a non-negative duration", values[0])
			}
		default:
			return nil, backends.InvalidArgument("backend URL", "unknown query parameter %q (known: namespace, busy_timeout)", name)
		}
	}

	var path string
	switch {
	case u.Host == memoryPath || u.Opaque == memoryPath:
		path = memoryPath
	case u.Opaque != "":
		path = u.Opaque
	case u.Host != "" && u.Host != "localhost":
		return nil, backends.InvalidArgument("backend URL",
			"host %q: SQLite is a local file; use sqlite:///absolute/path, sqlite:relative/path or sqlite://:memory:", u.Host)
	default:
		path = u.Path
	}
	if path == "" {
		return nil, backends.InvalidArgument("backend URL", "needs a database file path or :memory:")
	}

	memory := path == memoryPath
	var scope any
	if !memory {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, backends.InvalidArgument("backend URL", "path %q: %v", path, err)
		}
		if resolved, err := filepath.EvalSymlinks(abs); err == nil {
			abs = resolved
		}
		scope = fileScope(abs)
	}
	db, err := sql.Open("sqlite", DSN(path, busy))
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "%v", err)
	}
	if memory {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	urlOpts := []Option{WithNamespace(namespace), withOwnedDB(), withBusyTimeout(busy)}
	if scope != nil {
		urlOpts = append(urlOpts, withNotifyScope(scope))
	}
	b, err := New(db, append(urlOpts, opts...)...)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		if dir := filepath.Dir(path); !memory {
			if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
				// Like a missing database on a server: the URL is well
				// formed, what it names is not there.
				return nil, fmt.Errorf("opening database file %q: %w: its folder %q does not exist", path, backends.ErrUnavailable, dir)
			}
		}
		return nil, fmt.Errorf("opening database file %q: %w: %w", path, backends.ErrUnavailable, err)
	}
	if err := b.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// fileScope identifies a database file for in-process notifications.
type fileScope string
