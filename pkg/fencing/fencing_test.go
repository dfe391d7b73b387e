package fencing_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// admitSequence admits tokens in turn and returns, per token, nil or the
// stale error's highest token.
func admitSequence(t *testing.T, s fencing.Store, lock string, tokens ...uint64) []string {
	t.Helper()
	var got []string
	for _, tok := range tokens {
		err := s.Admit(context.Background(), lock, tok)
		var stale *fencing.StaleTokenError
		switch {
		case err == nil:
			got = append(got, "ok")
		case errors.As(err, &stale) && errors.Is(err, fencing.ErrStaleToken):
			got = append(got, "stale: "+stale.Error())
		default:
			t.Fatalf("Admit(%q, %d): %v", lock, tok, err)
		}
	}
	return got
}

func TestStoresRefuseLowerTokens(t *testing.T) {
	stores := map[string]func(t *testing.T) fencing.Store{
		"memory": func(*testing.T) fencing.Store { return fencing.NewMemoryStore() },
		"file": func(t *testing.T) fencing.Store {
			s, err := fencing.NewFileStore(filepath.Join(t.TempDir(), "fences.json"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			got := admitSequence(t, s, "jobs/backup", 5, 5, 7, 6, 7)
			want := []string{
				"ok", "ok", "ok",
				`stale: stale fencing token for lock "jobs/backup": the write carries token 6, lower than 7, the highest seen`,
				"ok",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("admits (-want +got):\n%s", diff)
			}
			// Locks are independent.
			if diff := cmp.Diff([]string{"ok"}, admitSequence(t, s, "other", 1)); diff != "" {
				t.Errorf("another lock (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFileStoreKeepsHighestAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fences.json")
	s, err := fencing.NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	admitSequence(t, s, "k", 9)
	reopened, err := fencing.NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	got := admitSequence(t, reopened, "k", 8, 9)
	want := []string{`stale: stale fencing token for lock "k": the write carries token 8, lower than 9, the highest seen`, "ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after reopening (-want +got):\n%s", diff)
	}
}

func TestFileStoreRefusesACorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fences.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fencing.NewFileStore(path); err == nil {
		t.Fatal("NewFileStore of a corrupt file succeeded")
	}
}

// Concurrent admits leave the highest token recorded, whatever their order.
func TestMemoryStoreConcurrentAdmits(t *testing.T) {
	s := fencing.NewMemoryStore()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { _ = s.Admit(context.Background(), "k", uint64(i+1)) })
	}
	wg.Wait()
	err := s.Admit(context.Background(), "k", 49)
	var stale *fencing.StaleTokenError
	if !errors.As(err, &stale) || stale.Highest != 50 {
		t.Fatalf("Admit(49) after tokens 1..50 = %v, want a stale error with highest 50", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	s := fencing.NewMemoryStore()
	tests := []struct {
		name  string
		lock  string
		token uint64
		want  string
	}{
		{"zero token", "k", 0, "invalid argument: token: must be at least 1 (0 is never granted), got 0"},
		{"token above int64", "k", 1 << 63, "invalid argument: token: must be at most 9223372036854775807, got 9223372036854775808"},
		{"empty lock", "", 1, `invalid argument: lock: must not be empty, got ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Admit(context.Background(), tt.lock, tt.token)
			if !errors.Is(err, lockmanager.ErrInvalidArgument) {
				t.Fatalf("Admit = %v, want ErrInvalidArgument", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseToken(t *testing.T) {
	if tok, err := fencing.ParseToken("h", "42"); err != nil || tok != 42 {
		t.Errorf(`ParseToken("42") = %d, %v; want 42`, tok, err)
	}
	for _, bad := range []string{"", "-1", "0", "1e3", "x", "9223372036854775808"} {
		if _, err := fencing.ParseToken("h", bad); !errors.Is(err, fencing.ErrInvalidArgument) {
			t.Errorf("ParseToken(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(fencing.EnvKey, "nightly-backup")
	t.Setenv(fencing.EnvFencingToken, "17")
	key, tok, err := fencing.FromEnv()
	if err != nil || key != "nightly-backup" || tok != 17 {
		t.Fatalf("FromEnv = %q, %d, %v; want nightly-backup, 17", key, tok, err)
	}
	t.Setenv(fencing.EnvFencingToken, "seventeen")
	if _, _, err := fencing.FromEnv(); err == nil || err.Error() != `invalid argument: LEASEHOLD_FENCING_TOKEN: must be a decimal fencing token, got "seventeen"` {
		t.Errorf("FromEnv with a bad token = %v", err)
	}
}
