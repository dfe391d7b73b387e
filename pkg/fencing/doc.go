// Package fencing checks Leasehold's fencing tokens at the resource a lock
// protects: the part of the lock contract that the lock service cannot do
// itself.
//
// Every grant of a key carries a fencing token strictly greater than every
// earlier grant's (see docs/contract.md). A holder sends its token with each
// write; the resource remembers the highest token it has seen for the lock
// and refuses a write whose token is lower. A former holder that was paused
// or partitioned past its lease, and writes late, is refused, because the
// next holder's writes have raised the highest token seen.
//
// This package holds what every resource shares: the error a refused write
// returns ([ErrStaleToken], with a [*StaleTokenError] naming the lock and
// both tokens), the [Store] of highest tokens seen ([NewMemoryStore],
// [NewFileStore]; package fencesql has one in a SQL table), and the
// environment variables `lockctl run` gives its command ([FromEnv]). The
// helpers for particular resources live in its subpackages:
//
//   - fencesql: a SQL row that keeps the highest token (PostgreSQL, SQLite)
//   - fenceredis: a Redis key written by a script only with a token at least
//     the highest seen
//   - fencehttp: HTTP middleware checking a token header, and the client
//     side that sets it
//   - fencekube: the annotations a Kubernetes object carries for the
//     ValidatingAdmissionPolicy in config/fencing
//
// A write with a token equal to the highest seen is accepted: it is the
// current holder's, or the last holder's after it released. Only a lower
// token is refused.
package fencing
