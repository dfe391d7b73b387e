package sqlite

// WatchRounds is the number of checks the commit watcher has finished.
func (b *Backend) WatchRounds() int64 { return b.watch.rounds.Load() }
