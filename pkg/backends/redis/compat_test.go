package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leasehold/leasehold/pkg/backends"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
)

// A store written by the earlier format (a hash per record) keeps working
// after an upgrade: records are read as they are, a held lock stays held
// by its holder (whose version still matches), the next write converts
// the record to the current format, and tokens keep rising across
// release, delete and the conversion.
//
//nolint:gocyclo // one upgrade story, step by step, each step checked where it happens
func TestRecordsOfTheEarlierFormatKeepWorking(t *testing.T) {
	b := newBackend(t, client, lhredis.WithNamespace("compat-"+t.Name()))
	ctx := context.Background()
	recordType := func(key string) string {
		t.Helper()
		typ, err := client.Type(ctx, lhredis.RecordKeyOf(b, key)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return typ
	}
	legacy := func(key, holder, md string) (string, uint64) {
		t.Helper()
		v, tok, err := lhredis.LegacyAcquire(ctx, b, &backends.AcquireRequest{Key: key, Holder: holder, LeaseDuration: time.Minute}, md)
		if err != nil {
			t.Fatalf("legacy acquire of %q: %v", key, err)
		}
		if typ := recordType(key); typ != "hash" {
			t.Fatalf("legacy acquire wrote a %s, want a hash (the earlier format)", typ)
		}
		return v, tok
	}

	// A lock held in the earlier format: read, refused to others, renewed
	// and released by its holder with the version it was given before.
	v0, t0 := legacy("held", "old-holder", `{"owner":"team-a"}`)
	got, err := b.Get(ctx, "held")
	if err != nil {
		t.Fatalf("Get of an old-format record: %v", err)
	}
	want := backends.Lock{Key: "held", Holder: "old-holder", Version: v0, FencingToken: t0, Held: true,
		LeaseDuration: time.Minute, Metadata: map[string]string{"owner": "team-a"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(backends.Lock{}, "AcquiredAt", "RenewedAt", "ExpiresAt")); diff != "" {
		t.Fatalf("Get of an old-format held record (-want +got):\n%s", diff)
	}
	if !got.ExpiresAt.After(got.AcquiredAt) {
		t.Fatalf("old-format record read with AcquiredAt %v, ExpiresAt %v", got.AcquiredAt, got.ExpiresAt)
	}
	_, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "held", Holder: "other", LeaseDuration: time.Minute})
	var held *backends.HeldError
	if !errors.As(err, &held) || held.Holder != "old-holder" {
		t.Fatalf("Acquire of an old-format held lock by another holder: %v, want held by old-holder", err)
	}
	if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "held", Holder: "old-holder", Version: "1.0", LeaseDuration: time.Minute}); !errors.Is(err, backends.ErrVersionMismatch) {
		t.Fatalf("Renew of an old-format lock with a wrong version: %v, want ErrVersionMismatch", err)
	}
	if typ := recordType("held"); typ != "hash" {
		t.Fatalf("a refused renewal converted the record to a %s; nothing should be written", typ)
	}
	renewed, err := b.Renew(ctx, &backends.RenewRequest{Key: "held", Holder: "old-holder", Version: v0, LeaseDuration: time.Minute})
	if err != nil {
		t.Fatalf("Renew of an old-format lock with its old version: %v", err)
	}
	if renewed.FencingToken != t0 || renewed.Version == v0 || renewed.Metadata["owner"] != "team-a" || !renewed.AcquiredAt.Equal(got.AcquiredAt) {
		t.Fatalf("renewal of an old-format lock = %+v; want token %d, a new version, the metadata and acquired-at kept", renewed, t0)
	}
	if typ := recordType("held"); typ != "string" {
		t.Fatalf("after a renewal the record is a %s, want a string (converted)", typ)
	}
	release(t, b, renewed, false)
	next := acquire(t, b, "held", "new-holder", nil)
	if next.FencingToken <= t0 {
		t.Fatalf("token after the converted lock's release %d, want above %d", next.FencingToken, t0)
	}

	// A held old-format lock released directly by a new Release.
	v1, t1 := legacy("release-me", "old-holder", "")
	if err := b.Release(ctx, &backends.ReleaseRequest{Key: "release-me", Holder: "old-holder", Version: v1}); err != nil {
		t.Fatalf("Release of an old-format lock with its old version: %v", err)
	}
	got, err = b.Get(ctx, "release-me")
	if err != nil || got.Held || got.Holder != "" || got.FencingToken != t1 {
		t.Fatalf("Get after releasing an old-format lock = %+v, %v; want released with token %d", got, err, t1)
	}

	// Records released, and deleted, in the earlier format: the next
	// grants' tokens are above the old ones.
	for _, del := range []bool{false, true} {
		key := map[bool]string{false: "old-released", true: "old-deleted"}[del]
		v, tok := legacy(key, "a", "")
		if err := lhredis.LegacyRelease(ctx, b, &backends.ReleaseRequest{Key: key, Holder: "a", Version: v, Delete: del}); err != nil {
			t.Fatalf("legacy release of %q: %v", key, err)
		}
		if !del {
			got, err := b.Get(ctx, key)
			if err != nil || got.Held || got.Holder != "" || got.FencingToken != tok {
				t.Fatalf("Get of an old-format released record = %+v, %v; want released with token %d", got, err, tok)
			}
		} else if _, err := b.Get(ctx, key); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Get of an old-format deleted record: %v, want ErrNotFound", err)
		}
		l := acquire(t, b, key, "b", nil)
		if l.FencingToken <= tok {
			t.Fatalf("%s: token of the first grant after the upgrade %d, want above %d", key, l.FencingToken, tok)
		}
		if _, err := b.Renew(ctx, &backends.RenewRequest{Key: key, Holder: "b", Version: l.Version, LeaseDuration: time.Minute}); err != nil {
			t.Fatalf("%s: renewing the converted record: %v", key, err)
		}
	}

	// List reads both formats side by side.
	legacy("list-old", "x", "")
	acquire(t, b, "list-new", "y", nil)
	page, err := b.List(ctx, &backends.ListRequest{Prefix: "list-", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	holders := make([]string, 0, len(page.Locks))
	for _, l := range page.Locks {
		holders = append(holders, l.Key+"="+l.Holder)
	}
	if diff := cmp.Diff([]string{"list-new=y", "list-old=x"}, holders); diff != "" {
		t.Fatalf("List over both formats (-want +got):\n%s", diff)
	}
}
