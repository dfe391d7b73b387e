// Package postgres keeps Leasehold's lock records in a PostgreSQL table, on
// pgx/v5 (pgxpool). Importing it registers the URL schemes "postgres" and
// "postgresql" with package backends:
//
//	postgres://user:password@db.example.com:5432/app?sslmode=verify-full&leasehold_namespace=team-a
//
// TLS and authentication are pgx's (sslmode, sslrootcert, sslcert, passfile,
// service files, ...). Leasehold's own query parameters are removed before
// the URL reaches pgx: leasehold_namespace (default "default"),
// leasehold_schema (default "public"), leasehold_table (default
// "leasehold_locks") and leasehold_migrate (default true); the options
// WithNamespace, WithSchema, WithTable and WithMigrations do the same for
// New and Open. Schema and table names are 1 to 40 ASCII letters, digits and
// underscores, quoted with pgx.Identifier (so case matters). The namespace is
// part of the primary key: one table serves many namespaces.
//
// New wraps a caller-built *pgxpool.Pool and does no I/O; Migrate creates or
// upgrades the schema, and a Backend whose caller did not call it migrates
// on its first operation (or, with WithMigrations(false), checks the schema
// and says what to run). Open builds the pool, then migrates, or with
// leasehold_migrate=false only checks the schema (a missing one is
// ErrUnavailable, since it may yet be migrated). Migrations are embedded
// (embed.FS) and applied in one transaction under pg_advisory_xact_lock, so
// any number of processes may start at once. A malformed URL, or a
// connection parameter the server does not know, is ErrInvalidArgument; an
// unreachable server, refused credentials or a missing database are
// ErrUnavailable (the URL is well formed; the server says no, or is not
// there). No error contains the password.
//
// # One statement per operation
//
// Acquire is one INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING:
// it inserts the key's first record, or updates the existing row only if it
// is free (released or deleted), expired, or the caller's own live lease
// (a renewal with the same token). Renew is one UPDATE guarded by holder,
// version, liveness and not-deleted; Release one UPDATE guarded by holder,
// version and not-deleted. Each RETURNs what the caller needs, so the
// success path sends exactly one statement (a test counts them with a pgx
// tracer); a refused operation reads the record once more to say which
// error applies. Row locks taken by ON CONFLICT and UPDATE make concurrent
// attempts on one key run one after another, each seeing the previous one's
// committed result: exactly one of many concurrent acquirers of a free key
// wins.
//
// If a refused acquire's read finds the lock free again (released in
// between), the statement is re-run, up to ten times; each re-run means
// another caller completed a grant and a release meanwhile. Should every
// try lose that race, the answer is still ErrLockHeld, truthful at each
// try, with a HeldError whose Holder is empty because the read came too
// late to see who held it.
//
// # Clock rule
//
// The server's clock decides, inside the statement that decides: every
// statement judges expiry, and stamps the times it writes, with now(). For
// these single-statement transactions now() is the moment the server began
// the statement, one instant for the whole statement, so "expired?" and
// "expires at" never disagree, as they could with clock_timestamp(), which
// moves while the statement runs. If the statement first waited for another
// transaction's row lock, now() is slightly older than the moment of
// decision; that errs on the safe side only (a lease looks live a little
// longer to a would-be taker; a grant is stamped a little earlier, so it
// ends no later than its holder, counting from when it sent the request,
// believes). Held in every returned record is computed by the server with
// the same now(). Times are timestamptz (microseconds).
//
// # Fencing tokens
//
// Tokens come from a sequence (<table>_fencing_seq). A grant over an
// existing row draws nextval in the UPDATE's SET clause, that is after it
// holds the row lock and sees the previous grant committed, so its token is
// greater than every earlier grant's for the key. Rows are never removed:
// Release with Delete leaves a tombstone (no holder, hidden from Get and
// List) so that a deleted key is granted again through the same row-locked
// path. Without tombstones, an insert that drew its token before a
// concurrent grant-and-delete of the same key committed could reuse a lower
// token. The price is one small row per key ever used. Versions are
// sequence values too, new on every grant, renewal and release, so even a
// same-holder re-acquire gets a new version.
//
// # Waking waiters
//
// Release, delete and a takeover of an expired lease call pg_notify in the
// same statement (delivered on commit) on a channel per table, with the
// namespace and key as payload. Each Backend that has subscribers holds one
// dedicated LISTEN connection, made from the pool's configuration outside
// the pool, and fans notifications out to the subscribers of its namespace.
// The connection reconnects with jittered backoff after a failure and then
// signals every subscriber, since notifications sent meanwhile are lost; its
// goroutine ends on Close. Waiters also poll with jitter (the Manager does),
// so a lost notification costs at most one poll period.
package postgres
