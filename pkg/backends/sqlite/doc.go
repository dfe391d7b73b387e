// Package sqlite keeps Leasehold's lock records in a SQLite database, on
// modernc.org/sqlite (pure Go, no cgo). Importing it registers the URL
// scheme "sqlite" with package backends:
//
//	sqlite:///var/lib/leasehold/locks.db?namespace=team-a   absolute path
//	sqlite:locks.db                                          relative path
//	sqlite://:memory:?namespace=team-a                       private, in memory
//
// The namespace comes from the "namespace" query parameter (default
// "default") and is part of the primary key, so one file serves many
// namespaces; "busy_timeout" (a Go duration, default 5s) bounds how long a
// statement waits for another writer. New wraps a caller-built *sql.DB (see
// DSN for the settings it should have); Open builds one and creates the
// schema. Migrations are embedded and applied with Migrate inside BEGIN
// IMMEDIATE, so processes starting together apply each one once.
//
// # Several processes on one file
//
// The file runs in WAL mode (readers never block the writer; Migrate sets
// it once, and it persists in the file) with
// synchronous=FULL (a committed grant survives a power cut, so a fencing
// token is never handed out twice) and a busy timeout on every connection.
// Every acquire, renew and release is one statement that decides and writes
// at once: INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING for
// acquire, UPDATE ... WHERE ... RETURNING for renew, UPDATE ... WHERE for
// release. SQLite runs a writing statement under the database's write lock
// from its first read, so no other connection or process can change the
// record between the decision and the write. Exactly one of any number of
// concurrent acquirers of a free key gets a row back. The success path sends
// exactly that one statement (a test counts them through a wrapping driver);
// only a refused operation reads the record once more to say which error
// applies (held by whom, not found, not the holder, version mismatch,
// expired).
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
// The local clock of the process that sends a statement decides: it reads
// time.Now once and passes it into the statement as a parameter, which both
// judges expiry and stamps the new times. All processes sharing a file run
// on one machine and so share that clock; a wall-clock step on that machine
// moves every lease with it. Times are stored as Unix milliseconds, the
// contract's precision.
//
// # Fencing tokens
//
// A record is never physically removed: Release with Delete turns it into a
// tombstone (no holder, hidden from Get and List) that keeps its fencing
// token. A grant sets the token to the stored token + 1 in the same
// statement that grants, so a key's tokens rise strictly across releases,
// deletes and takeovers, with no shared counter to contend on. The price is
// one small row per key ever used. Renewals keep the token. Versions are
// random 128-bit values, new on every grant, renewal and release, so even a
// same-holder re-acquire changes the version.
//
// # Waking waiters
//
// SQLite cannot push one connection's writes to another. Backends in one
// process that share a *sql.DB, or that were opened with Open on the same
// file, signal each other's waiters (Subscribe) on release, delete and
// takeover of an expired lease at once. For commits by other processes, a
// Backend opened with Open on a file asks SQLite every ChangeCheckPeriod
// (10 ms), while any of its waiters subscribes, whether the database
// changed (PRAGMA data_version, answered from shared memory without reading
// a table); only when it did does it read the awaited keys' rows and signal
// those released, deleted or taken over. So `lockctl run` in one terminal
// hands over to `lockctl run --wait` in another in tens of milliseconds
// (bench/cli/handoff.sh). Backends built with New on a caller's *sql.DB do
// not watch (they cannot know it is a file that others share); their waiters
// in other processes fall back to the Manager's polling, which is always
// correct.
//
// # In memory
//
// sqlite://:memory: gives a database private to the Backend that lives as
// long as it. Open limits it to one connection, because each new connection
// to :memory: would be a different, empty database; statements from
// concurrent callers queue for that connection. To share one in-memory
// database between namespaces, open a *sql.DB on DSN(":memory:", ...) with
// SetMaxOpenConns(1) and call New for each namespace.
package sqlite
