// Package sqlrecord holds what the SQL backends (sqlite and postgres) share
// beyond their SQL: how a lock record's metadata is stored, how a refused
// guarded statement is explained, how driver errors map onto the contract's
// sentinels, how a prefix becomes an index range, and how a page of records
// is cut. Each backend keeps its own statements, clock, version source and
// notifications; this package runs no SQL and opens nothing.
//
// # Clock rule
//
// This package reads no clock. Whether a lease is live is decided by the
// backend that read the record, with the clock its doc names (the local
// clock for SQLite, the server's now() for PostgreSQL), and handed in as
// Current.Live.
//
// # Fencing tokens
//
// This package issues no fencing tokens and no versions: each backend draws
// them in the statement that grants, which is what keeps them strictly
// increasing per key. The helpers here only classify the record a refused
// statement left behind, so that no error is chosen from stale assumptions.
package sqlrecord
