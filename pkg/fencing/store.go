package fencing

import (
	"context"
	"sync"
)

// Store keeps the highest fencing token seen per lock, for a resource that
// checks tokens outside of its own storage (package fencehttp does).
//
// Admit accepts token for lock when it is at least the highest token seen
// for lock, recording it as the highest; a lower token changes nothing and
// returns a [*StaleTokenError]. Check and record are one atomic step, so two
// concurrent Admits never both pass with the lower token recorded last.
//
// Where the store keeps its numbers decides what fencing survives: a
// [NewMemoryStore] forgets them when the process exits, so after a restart
// a late write from a former holder is accepted until the current holder
// writes again. [NewFileStore] and fencesql.NewStore keep them.
type Store interface {
	Admit(ctx context.Context, lock string, token uint64) error
}

// MemoryStore is a Store in the process's memory. Its zero value is not
// usable; call NewMemoryStore.
type MemoryStore struct {
	mu      sync.Mutex
	highest map[string]uint64
}

// NewMemoryStore returns an empty Store kept in memory.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{highest: map[string]uint64{}}
}

// Admit implements Store.
func (s *MemoryStore) Admit(ctx context.Context, lock string, token uint64) error {
	if err := checkAdmit(ctx, lock, token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.highest[lock]; token < h {
		return &StaleTokenError{Lock: lock, Token: token, Highest: h}
	}
	s.highest[lock] = token
	return nil
}

func checkAdmit(ctx context.Context, lock string, token uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckLock("lock", lock); err != nil {
		return err
	}
	return CheckToken("token", token)
}
