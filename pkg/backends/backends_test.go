package backends_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	backends.Register("failing-test", func(context.Context, *url.URL) (backends.Backend, error) {
		return nil, errors.New("refused")
	})
	for _, raw := range []string{
		"failing-test://user:s3cret-pw@host/db",
		"nosuchscheme://user:s3cret-pw@host/db",
		"://user:s3cret-pw@host:notaport",
		"user:s3cret-pw@host",
	} {
		_, err := backends.Open(context.Background(), raw)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", raw)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("Open(%q) error shows the password: %v", raw, err)
		}
	}
	_, err := backends.Open(context.Background(), "nosuchscheme://h")
	if !errors.Is(err, backends.ErrInvalidArgument) || !strings.Contains(err.Error(), `unknown scheme "nosuchscheme"`) {
		t.Fatalf("unknown scheme: %v", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	backends.Register("twice-test", func(context.Context, *url.URL) (backends.Backend, error) { return nil, nil })
	defer func() {
		if recover() == nil {
			t.Fatal("second Register did not panic")
		}
	}()
	backends.Register("twice-test", func(context.Context, *url.URL) (backends.Backend, error) { return nil, nil })
}

func TestUnavailableKeepsContextErrorsApart(t *testing.T) {
	err := backends.Unavailable("renewing", "k", context.DeadlineExceeded)
	if errors.Is(err, backends.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context error became %v", err)
	}
	cause := errors.New("connection reset")
	err = backends.Unavailable("renewing", "k", cause)
	if !errors.Is(err, backends.ErrUnavailable) || !errors.Is(err, cause) || !strings.Contains(err.Error(), `"k"`) {
		t.Fatalf("store failure became %v", err)
	}
	// errors.Is would also accept an error that wraps err again.
	if again := backends.Unavailable("renewing", "k", err); again != err { //nolint:errorlint // the same error value
		t.Fatalf("wrapping twice changed the error: %v", again)
	}
}

func TestHeldError(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	err := backends.Held("k", "node-1", at)
	var held *backends.HeldError
	if !errors.Is(err, backends.ErrLockHeld) || !errors.As(err, &held) || held.Holder != "node-1" || !held.ExpiresAt.Equal(at) {
		t.Fatalf("Held = %#v", err)
	}
	if want := `lock "k" held by "node-1" until 2026-11-26T12:00:00Z`; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	if got := backends.Held("k", "", time.Time{}).Error(); got != `lock "k" held by another holder` {
		t.Fatalf("unknown holder message %q", got)
	}
}

func TestCheckContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		want    error
		wantMsg string
	}{
		{"live", context.Background(), nil, ""},
		{"cancelled", cancelled, context.Canceled, `getting "a:b": context canceled`},
		{"deadline passed", expired, context.DeadlineExceeded, `getting "a:b": context deadline exceeded`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := backends.CheckContext(tc.ctx, "getting", "a:b")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckContext = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || err.Error() != tc.wantMsg {
				t.Fatalf("CheckContext = %v, want %q matching %v", err, tc.wantMsg, tc.want)
			}
		})
	}
}
