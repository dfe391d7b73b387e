package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leasehold/leasehold/pkg/backends"
)

func init() {
	open := func(ctx context.Context, u *url.URL) (backends.Backend, error) {
		return openURL(ctx, u)
	}
	backends.Register("postgres", open)
	backends.Register("postgresql", open)
}

// URL query parameters this package reads and removes before the URL is
// handed to pgx.
const (
	paramNamespace = "leasehold_namespace"
	paramSchema    = "leasehold_schema"
	paramTable     = "leasehold_table"
	paramMigrate   = "leasehold_migrate"
)

// Open opens the backend a postgres:// or postgresql:// URL names, with TLS
// and authentication as pgx supports them (sslmode, sslrootcert, passfile,
// ...). These query parameters are Leasehold's and are removed before the
// URL reaches pgx: leasehold_namespace (default "default"),
// leasehold_schema (default "public"), leasehold_table (default
// "leasehold_locks"), leasehold_migrate (default true). opts apply after
// them. Open connects, and creates or upgrades the schema unless
// migrations are disabled, in which case it checks that the schema exists.
//
// Errors: a URL that cannot be parsed, a bad Leasehold parameter, or a
// connection parameter the server does not know is ErrInvalidArgument; a
// server that cannot be reached or refuses the credentials, a missing
// database, or a missing schema with migrations disabled is
// ErrUnavailable. No error contains the password.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Backend, error) {
	u, err := backends.ParseURL(rawURL, "postgres", "postgresql")
	if err != nil {
		return nil, err
	}
	return openURL(ctx, u, opts...)
}

func openURL(ctx context.Context, u *url.URL, opts ...Option) (*Backend, error) {
	password, _ := u.User.Password()
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "query cannot be parsed")
	}
	var urlOpts []Option
	if v := q.Get(paramNamespace); v != "" {
		urlOpts = append(urlOpts, WithNamespace(v))
	}
	if q.Has(paramSchema) {
		urlOpts = append(urlOpts, WithSchema(q.Get(paramSchema)))
	}
	if q.Has(paramTable) {
		urlOpts = append(urlOpts, WithTable(q.Get(paramTable)))
	}
	if q.Has(paramMigrate) {
		migrate, err := strconv.ParseBool(q.Get(paramMigrate))
		if err != nil {
			return nil, backends.InvalidArgument("backend URL", "%s=%q is not a boolean", paramMigrate, q.Get(paramMigrate))
		}
		urlOpts = append(urlOpts, WithMigrations(migrate))
	}
	for _, p := range []string{paramNamespace, paramSchema, paramTable, paramMigrate} {
		q.Del(p)
	}
	stripped := *u
	stripped.RawQuery = q.Encode()

	poolCfg, err := pgxpool.ParseConfig(stripped.String())
	if err != nil {
		// ParseConfigError repeats the connection string; only its cause is
		// shown, and redacted.
		cause := err
		var pce *pgconn.ParseConfigError
		if errors.As(err, &pce) && pce.Unwrap() != nil {
			cause = pce.Unwrap()
		}
		return nil, backends.InvalidArgument("backend URL", "not a valid PostgreSQL connection URL: %s", redact(cause.Error(), password))
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "%s", redact(err.Error(), password))
	}
	b, err := New(pool, append(urlOpts, opts...)...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	b.ownsPool = true
	// Connect first, so that a failure to reach or log in to the server is
	// reported as such, not as a failed migration.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectError(err, poolCfg.ConnConfig, password)
	}
	if b.cfg.migrate {
		err = b.Migrate(ctx)
	} else {
		err = b.CheckSchema(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, connectError(err, poolCfg.ConnConfig, password)
	}
	return b, nil
}

// connectError classifies a failure to reach and use the server at Open:
// a refused login, a missing database and an unreachable server are
// ErrUnavailable (the URL is well formed; the server says no, or is not
// there), an unknown connection parameter is ErrInvalidArgument. It keeps
// errors.Is for the sentinels and drops the chain otherwise, so that no
// wrapped error can print the password.
func connectError(err error, cfg *pgx.ConnConfig, password string) error {
	if errors.Is(err, backends.ErrInvalidArgument) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return &sentinelError{
				msg: fmt.Sprintf("%s: the server refused the login of user %q: %s",
					backends.ErrUnavailable, cfg.User, redact(pgErr.Message, password)),
				sentinel: backends.ErrUnavailable,
			}
		case "3D000": // invalid_catalog_name
			return &sentinelError{
				msg:      fmt.Sprintf("%s: database %q does not exist on the server", backends.ErrUnavailable, cfg.Database),
				sentinel: backends.ErrUnavailable,
			}
		case "42704", "22023": // undefined_object (unknown parameter), invalid_parameter_value
			return backends.InvalidArgument("backend URL", "the server refused a connection parameter: %s", redact(pgErr.Message, password))
		}
	}
	msg := redact(flatten(err.Error()), password)
	if !errors.Is(err, backends.ErrUnavailable) {
		msg = fmt.Sprintf("%s: connecting to %s:%d: %s", backends.ErrUnavailable, cfg.Host, cfg.Port, msg)
	}
	return &sentinelError{msg: msg, sentinel: backends.ErrUnavailable}
}

// flatten makes one line of a driver message that lists each connection
// attempt on a line of its own, dropping repeated attempts (TLS, then
// plain, to the same address fail the same way).
func flatten(msg string) string {
	var parts []string
	seen := map[string]bool{}
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimSuffix(line, ":")
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		parts = append(parts, line)
	}
	return strings.Join(parts, ": ")
}

// sentinelError is a redacted message that still matches its sentinel.
type sentinelError struct {
	msg      string
	sentinel error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

// minRedactedPassword is the shortest password redact looks for: a
// shorter one would be found inside ordinary words and garble the message
// ("p" in "public"), and the drivers' messages do not quote passwords.
const minRedactedPassword = 4

// redact removes password from msg, in case a driver message quoted it.
func redact(msg, password string) string {
	if len(password) < minRedactedPassword {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}
