package postgres

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"text/template"

	"github.com/jackc/pgx/v5"

	"github.com/leasehold/leasehold/pkg/backends"
)

// migrations holds the schema, one file per version, applied in name
// order. Each is a text/template over idents, so that schema and table
// names are configurable; the names are validated and quoted first.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration struct {
	version string
	sql     string
}

func (b *Backend) migrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for _, name := range names {
		tmpl, err := template.ParseFS(migrations, name)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, b.ident); err != nil {
			return nil, err
		}
		out = append(out, migration{
			version: strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql"),
			sql:     buf.String(),
		})
	}
	return out, nil
}

// Migrate creates or upgrades the schema. It is idempotent and safe when
// many processes start at once: it runs in one transaction that first takes
// a transaction-scoped advisory lock for this schema and table
// (pg_advisory_xact_lock), so concurrent callers run one after another and
// each applies only the migrations still missing. The lock ends with the
// transaction, even if the process dies.
func (b *Backend) Migrate(ctx context.Context) error {
	ms, err := b.migrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, b.lockKey); err != nil {
			return err
		}
		// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
		// database even when the schema exists; ask first.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, b.cfg.schema).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+b.ident.Schema); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+b.ident.Migrations+` (
  version text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		for _, m := range ms {
			var applied bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+b.ident.Migrations+` WHERE version = $1)`, m.version).Scan(&applied)
			if err != nil {
				return err
			}
			if applied {
				continue
			}
			// The simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("migration %s: %w", m.version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+b.ident.Migrations+` (version) VALUES ($1)`, m.version); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrating %s: %w", b.ident.Table, storeFailure(ctx, err))
	}
	b.schemaReady.Store(true)
	return nil
}

// CheckSchema reports whether the schema is there and has every migration
// this version of the package knows, without changing anything: Open uses
// it when migrations are disabled. A missing or outdated schema is
// ErrUnavailable, since another process may yet migrate it.
func (b *Backend) CheckSchema(ctx context.Context) error {
	ms, err := b.migrations()
	if err != nil {
		return err
	}
	versions := make([]string, len(ms))
	for i, m := range ms {
		versions[i] = m.version
	}
	var table, migrationsTable *string
	err = b.pool.QueryRow(ctx, `SELECT to_regclass($1)::text, to_regclass($2)::text`, b.ident.Table, b.ident.Migrations).
		Scan(&table, &migrationsTable)
	if err != nil {
		return fmt.Errorf("checking schema %s: %w", b.ident.Table, storeFailure(ctx, err))
	}
	if table == nil || migrationsTable == nil {
		return fmt.Errorf("%w: table %s does not exist and migrations are disabled "+
			"(enable them, or run Migrate once with a role that may create it)",
			backends.ErrUnavailable, b.ident.Table)
	}
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM `+b.ident.Migrations+` WHERE version = ANY($1)`, versions).Scan(&n); err != nil {
		return fmt.Errorf("checking schema %s: %w", b.ident.Table, storeFailure(ctx, err))
	}
	if n != len(versions) {
		return fmt.Errorf("%w: table %s lacks %d of %d migrations and migrations are disabled "+
			"(enable them, or run Migrate once with a role that may change it)",
			backends.ErrUnavailable, b.ident.Table, len(versions)-n, len(versions))
	}
	b.schemaReady.Store(true)
	return nil
}

// storeFailure marks err as ErrUnavailable unless it is the caller's own
// cancellation.
func storeFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
}
