// Package record encodes and decodes what the Redis backend's scripts
// store and reply (scripts.go in package redis describes the scripts):
// a lock's record, one string per lock, and the metadata inside it. Both
// are persisted data, read back by every later version of the backend.
//
// A record is
//
//	'L'  format byte
//	     then a header as Redis's struct.pack writes '>i8i8i8i8i8i8I4I4'
//	     (big-endian integers of 8 and 4 bytes):
//	i8   fencing token
//	i8   change counter (the version is "<token>.<change>")
//	i8   acquired at, i8 renewed at, i8 expires at: server µs since the
//	     Unix epoch
//	i8   lease duration in ms
//	I4   holder length, I4 key length (4 bytes each)
//	     then the holder ("" once released), the key, and the metadata
//	     (a JSON object, "" for none), verbatim
//
// It is its own package, free of the Redis client, so that its fuzz target
// builds in seconds and runs without the Redis server that the redis
// package's tests start in TestMain (which every fuzz worker process
// would run).
package record
