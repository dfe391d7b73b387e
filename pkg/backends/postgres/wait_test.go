package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leasehold/leasehold/pkg/backends/postgres"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// A waiting Acquire of a free key is what a try is: one statement, and no
// LISTEN (the listening connection is never opened), however many in a
// row.
func TestWaitingAcquireOfFreeKeyIsOneStatement(t *testing.T) {
	tracer := &countingTracer{}
	pool := newPool(t, func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = tracer // the listening connection is made from this config too
		c.MaxConns = 1
	})
	m := lockmanager.New(migrated(t, pool, postgres.WithNamespace("wait-free")))
	defer m.Close()
	ctx := context.Background()
	round := func(o lockmanager.AcquireOptions) []string {
		t.Helper()
		tracer.take()
		l, err := m.Acquire(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		queries, _ := tracer.take()
		if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: l.Key, Holder: l.Holder, Version: l.Version}); err != nil {
			t.Fatal(err)
		}
		return queries
	}
	// Warm the connection's statement cache.
	round(lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Hour})
	all := make([]string, 0, 20) // one statement per waiting Acquire
	for i := range 20 {
		queries := round(lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Hour, Wait: lockmanager.MaxWait})
		if len(queries) != 1 {
			t.Fatalf("waiting Acquire %d of a free key sent %d statements %v, want 1", i, len(queries), queries)
		}
		all = append(all, queries...)
	}
	queries, _ := tracer.take()
	if all = append(all, queries...); slices.Contains(all, "LISTEN") {
		t.Fatalf("waiting Acquires of a free key listened: %v", all)
	}
}
