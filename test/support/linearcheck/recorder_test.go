package linearcheck_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/test/support/linearcheck"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const hour = time.Hour

// The recorder turns calls into operations: answers as the model's
// outputs, a lost reply as an ambiguous outcome returning after every
// other operation, a failed read left out.
func TestRecorderRecordsOutcomes(t *testing.T) {
	ctx := context.Background()
	rec := linearcheck.NewRecorder()
	faulty := backendtest.NewFaulty(memory.NewStore().Backend("ns"))
	c := rec.Client(3, faulty)

	l, err := c.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: hour, Metadata: map[string]string{"m": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: hour}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("Acquire by b: %v, want ErrLockHeld", err)
	}
	faulty.SetNext(backendtest.LoseReplies, 1)
	if _, err := c.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: hour}); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Renew with a lost reply: %v, want ErrUnavailable", err)
	}
	faulty.SetNext(backendtest.FailFast, 1)
	if _, err := c.Get(ctx, "k"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("failing Get: %v, want ErrUnavailable", err)
	}
	if err := c.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); !errors.Is(err, backends.ErrVersionMismatch) {
		t.Fatalf("Release with the version the lost renewal replaced: %v, want ErrVersionMismatch", err)
	}

	ops := rec.Operations()
	type row struct {
		Client int
		Input  linearcheck.Input
		Output linearcheck.Output
	}
	got := make([]row, 0, len(ops))
	for _, op := range ops {
		out := op.Output.(linearcheck.Output)
		out.Err = "" // the error's text is for people
		got = append(got, row{op.ClientId, op.Input.(linearcheck.Input), out})
	}
	meta := linearcheck.EncodeMeta(map[string]string{"m": "x"})
	want := []row{
		{3, linearcheck.Input{Kind: linearcheck.Acquire, Key: "k", Holder: "a", SetMeta: true, Meta: meta},
			linearcheck.Output{Result: linearcheck.OK, Holder: "a", Version: l.Version, Token: l.FencingToken, Held: true, Meta: meta}},
		{3, linearcheck.Input{Kind: linearcheck.Acquire, Key: "k", Holder: "b"}, linearcheck.Output{Result: linearcheck.LockHeld, Holder: "a"}},
		{3, linearcheck.Input{Kind: linearcheck.Renew, Key: "k", Holder: "a", Version: l.Version}, linearcheck.Output{Result: linearcheck.Unknown}},
		{3, linearcheck.Input{Kind: linearcheck.Release, Key: "k", Holder: "a", Version: l.Version}, linearcheck.Output{Result: linearcheck.VersionMismatch}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("operations (-want +got):\n%s", diff)
	}
	for i, op := range ops {
		if i == 2 {
			continue
		}
		if op.Return < op.Call || op.Return >= ops[2].Return {
			t.Errorf("operation %d: call %d, return %d; the ambiguous renewal returns at %d, which must be after every other", i, op.Call, op.Return, ops[2].Return)
		}
	}
	if diff := cmp.Diff(linearcheck.Stats{Operations: 4, Unknown: 1, FailedGets: 1}, rec.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if v := linearcheck.Check(ops, time.Minute, linearcheck.Options{}); v.Result != porcupine.Ok {
		t.Errorf("Check = %s, want Ok", v.Result)
	}
}

// An error outside the contract's set is reported, and recorded as an
// ambiguous outcome.
func TestRecorderReportsUnexpectedErrors(t *testing.T) {
	rec := linearcheck.NewRecorder()
	c := rec.Client(0, closedBackend{memory.NewStore().Backend("ns")})
	_, err := c.Acquire(context.Background(), &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: hour})
	if !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Acquire: %v, want ErrClosed", err)
	}
	st := rec.Stats()
	if st.Unknown != 1 || len(st.Unexpected) != 1 || !errors.Is(st.Unexpected[0], backends.ErrClosed) {
		t.Fatalf("Stats = %+v, want one ambiguous operation and ErrClosed as unexpected", st)
	}
}

type closedBackend struct{ backends.Backend }

func (closedBackend) Acquire(context.Context, *backends.AcquireRequest) (backends.Lock, error) {
	return backends.Lock{}, backends.ErrClosed
}

// staleRenewals is a broken backend: a renewal with an outdated version
// succeeds when the holder still matches, as if compare-and-swap compared
// only the holder.
type staleRenewals struct{ backends.Backend }

func (b staleRenewals) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	l, err := b.Backend.Renew(ctx, req)
	if errors.Is(err, backends.ErrVersionMismatch) {
		cur, gerr := b.Get(ctx, req.Key)
		if gerr != nil {
			return l, gerr
		}
		fixed := *req
		fixed.Version = cur.Version
		return b.Backend.Renew(ctx, &fixed)
	}
	return l, err
}

// The check finds a real backend's fault end to end, and the visualization
// of the failure is written.
func TestCheckFindsBrokenBackend(t *testing.T) {
	ctx := context.Background()
	rec := linearcheck.NewRecorder()
	c := rec.Client(0, staleRenewals{memory.NewStore().Backend("ns")})
	l, err := c.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: hour}); err != nil {
			t.Fatal(err)
		}
	}
	v := linearcheck.Check(rec.Operations(), time.Minute, linearcheck.Options{})
	if v.Result != porcupine.Illegal {
		t.Fatalf("Check = %s, want Illegal", v.Result)
	}
	path, err := v.Visualize(t.TempDir(), "broken")
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `Renew(\"k\", \"a\", v=`) {
		t.Errorf("the visualization %s does not describe the renewals", path)
	}
}
