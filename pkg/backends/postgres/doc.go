// Package postgres keeps Leasehold's lock records in a PostgreSQL table, on
// pgx/v5 (pgxpool). Importing it registers the URL schemes "postgres" and
// "postgresql" with package backends:
//
//	postgres://user:password@db.example.com:5432/app?sslmode=verify-full&leasehold_namespace=team-a
//
// [Open] builds a pool from the URL, with TLS and authentication as pgx
// does them (sslmode, sslrootcert, passfile, service files, ...), and
// takes Leasehold's own query parameters out of it first:
// leasehold_namespace (default "default"), leasehold_schema (default
// "public"), leasehold_table (default "leasehold_locks") and
// leasehold_migrate (default true). [New] wraps a *pgxpool.Pool the caller
// built and keeps owning, and does no I/O. The options [WithNamespace],
// [WithSchema], [WithTable] and [WithMigrations] do what the parameters
// do. A malformed URL, a bad parameter or a connection parameter the
// server does not know is ErrInvalidArgument; an unreachable server,
// refused credentials or a missing database is ErrUnavailable. No error
// contains the password.
//
// # Schema
//
// One table serves many namespaces: the namespace is part of the primary
// key. Schema and table names are 1 to 40 ASCII letters, digits and
// underscores, quoted (so case matters); the table's sequence and
// migrations table are named after it. The migrations are embedded in the
// package. [Backend.Migrate] applies those still missing in one
// transaction under pg_advisory_xact_lock, so any number of processes may
// start at once; Open runs it, and a Backend from New runs it before its
// first operation unless the caller did. With WithMigrations(false)
// (leasehold_migrate=false), for a role that may not create objects,
// [Backend.CheckSchema] runs instead: a missing or outdated schema is
// ErrUnavailable, saying to run Migrate.
//
// # Clock
//
// The server's clock decides: every statement judges expiry and stamps
// the times it writes with now(), one instant for the whole statement, so
// the two always agree. Times are timestamptz, in microseconds.
//
// # Fencing tokens and versions
//
// Tokens come from the table's sequence, drawn while the grant holds the
// key's row lock, so each is greater than every earlier grant's for the
// key. Rows are never removed: Release with Delete leaves a tombstone (no
// holder, hidden from Get and List), so that a deleted key is granted
// again through the same row-locked path. The price is one small row per
// key ever used. Versions are sequence values too, new on every grant,
// renewal and release.
//
// # Notifications
//
// Release, delete and a takeover of an expired lease call pg_notify in
// the same statement, delivered on commit, on one channel per table. A
// Backend with subscribers holds one LISTEN connection, made from the
// pool's configuration outside the pool; after a failure it reconnects
// with backoff and wakes every subscriber, since notifications may have
// been lost meanwhile.
package postgres
