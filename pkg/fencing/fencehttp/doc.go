// Package fencehttp fences HTTP requests with Leasehold's fencing tokens.
//
// The client sends the lock's key and its token in two headers,
// Leasehold-Lock and Leasehold-Fencing-Token ([SetHeaders], or a
// [Transport] that sets them on every request, for example from a
// lockmanager.Session). The server's [Middleware] admits each request
// through a fencing.Store, which keeps the highest token seen per lock: a
// request with a lower token gets 409 Conflict, naming the lock and both
// tokens, and never reaches the handler.
//
// Where "highest seen" is kept is the Store's choice, and it decides what
// survives a restart of the service: fencing.NewMemoryStore (the simplest)
// forgets everything when the process exits; fencing.NewFileStore keeps a
// file for one process; fencesql.NewStore keeps a table that replicas of a
// service share.
//
// The middleware orders admissions, not the handlers' effects: a stale
// request refused is never handled, but two requests admitted in turn (token
// 5, then 7) run their handlers concurrently, and the older one's write can
// land last. A resource that must order the writes themselves checks the
// token in the write (fencesql.Do, fenceredis.Set).
package fencehttp
