// Package sqlite keeps Leasehold's lock records in a SQLite database, on
// modernc.org/sqlite (pure Go, no cgo). Importing it registers the URL
// scheme "sqlite" with package backends:
//
//	sqlite:///var/lib/leasehold/locks.db?namespace=team-a   absolute path
//	sqlite:locks.db                                          relative path
//	sqlite://:memory:?namespace=team-a                       private, in memory
//
// [Open] takes the query parameters namespace (default "default") and
// busy_timeout (a Go duration, default 5s: how long a statement waits for
// another writer), opens the file and creates or upgrades the schema.
// [New] wraps a *sql.DB on the "sqlite" driver that the caller built and
// keeps owning, and does no I/O: call [Backend.Migrate] once before use,
// and build the database from [DSN] to get the settings below. Options:
// [WithNamespace]. One file serves many namespaces: the namespace is part
// of the primary key.
//
// # One file, several processes
//
// All processes that share a file run on one machine. [Backend.Migrate]
// puts the file in WAL mode, so readers never block the writer, and
// applies the embedded migrations inside BEGIN IMMEDIATE, so processes
// that start together apply each one once. DSN sets synchronous=FULL, so
// a committed grant survives a power cut and no fencing token is handed
// out twice, and a busy timeout on every connection. Every acquire, renew
// and release is one statement that decides and writes under the
// database's write lock, so exactly one of many concurrent acquirers of a
// free key wins.
//
// The clock of the process that sends a statement decides expiry: it reads
// time.Now once and passes it into the statement. All processes on one
// file share the machine's clock, and a step of that clock moves every
// lease with it. Times are stored as Unix milliseconds.
//
// # Fencing tokens and versions
//
// A grant sets the token to the stored token + 1 in the statement that
// grants. Rows are never removed: Release with Delete leaves a tombstone
// (no holder, hidden from Get and List) that keeps the token, so a key's
// tokens rise across deletes too, at the price of one small row per key
// ever used. Versions are random 128-bit values, new on every grant,
// renewal and release.
//
// # Notifications
//
// Backends of one process that share a *sql.DB, or that were opened with
// Open on the same file, wake each other's waiters at once on release,
// delete and takeover. SQLite cannot tell other processes of a commit, so
// a Backend opened with Open on a file checks PRAGMA data_version every
// [ChangeCheckPeriod] (10 ms) while it has waiters, and wakes those whose
// key was released, deleted or taken over. A Backend from New on a
// caller's *sql.DB does not watch (it cannot know that other processes
// share the file), so its waiters learn of other processes' releases by
// polling.
//
// # In memory
//
// sqlite://:memory: is a database private to the Backend that lives as
// long as it, on one connection, since every new connection to :memory:
// would be a new, empty database. To share one between namespaces, open a
// *sql.DB on DSN(":memory:", ...) with SetMaxOpenConns(1) and call New for
// each namespace.
package sqlite
