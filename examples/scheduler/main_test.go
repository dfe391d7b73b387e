package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two schedulers on one SQLite file: exactly one processes jobs.
func TestOnlyOneSchedulerProcesses(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "locks.db")
	var logs bytes.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 2)
	for _, holder := range []string{"node-1", "node-2"} {
		go func() { done <- run(ctx, url, "jobs", holder, 10*time.Second, 50*time.Millisecond) }()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "msg=Leading"); n != 1 {
		t.Fatalf("%d instances led, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "msg=\"Processed job\"") {
		t.Fatalf("no job processed:\n%s", out)
	}
}
