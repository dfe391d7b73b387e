// Package sqlrecord holds what the SQL backends (sqlite and postgres) share
// beyond their SQL: how a lock record's metadata is stored, how a refused
// guarded statement is explained, how driver errors map onto the contract's
// sentinels, how a prefix becomes an index range, and how a page of records
// is cut. Each backend keeps its own statements, clock, version source,
// fencing tokens and notifications; this package runs no SQL and opens
// nothing. Whether a lease is live is decided by the backend that read the
// record and handed in as Current.Live.
package sqlrecord
