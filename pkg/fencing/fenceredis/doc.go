// Package fenceredis fences writes to Redis with Leasehold's fencing
// tokens: [Set] stores a value at a key together with the token that wrote
// it, in one Lua script, and only when the token is at least the token
// stored there; a lower token changes nothing and returns an error
// matching fencing.ErrStaleToken. [Get] reads the value and its token.
//
// The key holds a hash with the fields "value" and "token" (HGET key value
// reads it without this package). The check and the write are one script,
// so Redis runs them alone: no other write of the key comes in between.
//
// The script is sent at most once per call, whatever the client's
// MaxRetries, as the Redis backend's scripts are: after a network failure
// it may have run although the reply was lost, and a retry could report a
// write that landed as refused (when a newer holder wrote in between). A
// caller that retries decides so itself.
//
// The highest token is as durable as the Redis server's data: without
// persistence a restarted server has forgotten it and accepts any token.
// Run the server with appendonly yes and appendfsync always (or wait for
// replicas with WAIT) where late writes must stay refused across restarts.
package fenceredis
