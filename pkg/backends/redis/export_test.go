package redis

import goredis "github.com/redis/go-redis/v9"

// ClientOf exposes the go-redis client behind b to the external tests.
func ClientOf(b *Backend) goredis.UniversalClient { return b.client }

// RecordKeyOf exposes the name of key's record to the external tests.
func RecordKeyOf(b *Backend, key string) string { return b.recordKey(key) }
