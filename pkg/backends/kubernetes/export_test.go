package kubernetes

// Synced reports whether a live subscription of b has delivered key's
// current state, so that b refuses watched tries from it.
func Synced(b *Backend, key string) bool { return b.synced.has(key) }
