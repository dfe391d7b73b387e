package fencing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// FileStore is a Store kept in a JSON file (an object of lock names to
// tokens), so that the highest tokens survive a restart of the resource.
// Every raise rewrites the file: a temporary file, fsync, rename over the
// old one, fsync of the directory; an Admit returns only once the new
// number is on disk. A token equal to the highest seen writes nothing.
//
// One process owns the file: two processes sharing it would each keep
// their own copy in memory. Replicas of a service share a SQL table
// instead (fencesql.NewStore). Rewriting the whole file suits up to a few
// thousand locks.
type FileStore struct {
	path string

	mu      sync.Mutex
	highest map[string]uint64
}

// NewFileStore opens the store in the file at path, creating it on the
// first raise if it does not exist.
func NewFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path, highest: map[string]uint64{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("reading fencing store: %w", err)
	}
	if err := json.Unmarshal(data, &s.highest); err != nil {
		return nil, fmt.Errorf("reading fencing store %s: %w", path, err)
	}
	return s, nil
}

// Admit implements Store.
func (s *FileStore) Admit(ctx context.Context, lock string, token uint64) error {
	if err := checkAdmit(ctx, lock, token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.highest[lock]
	if token < h {
		return &StaleTokenError{Lock: lock, Token: token, Highest: h}
	}
	if token == h {
		return nil
	}
	s.highest[lock] = token
	if err := s.write(); err != nil {
		// Not on disk: not admitted, so memory must not claim it either.
		if h == 0 {
			delete(s.highest, lock)
		} else {
			s.highest[lock] = h
		}
		return fmt.Errorf("recording fencing token %d for lock %q: %w", token, lock, err)
	}
	return nil
}

func (s *FileStore) write() error {
	data, err := json.Marshal(s.highest)
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
