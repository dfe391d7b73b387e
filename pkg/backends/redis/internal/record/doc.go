// Package record encodes a lock's metadata for the Redis backend's scripts
// and decodes the records and grants they reply with (scripts.go in
// package redis describes the replies). What EncodeMetadata writes is
// stored verbatim as the record's m field: persisted data, read back by
// every later version of the backend.
//
// It is its own package, free of the Redis client, so that its fuzz target
// builds in seconds and runs without the Redis server that the redis
// package's tests start in TestMain (which every fuzz worker process
// would run).
package record
