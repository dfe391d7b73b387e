package linearize

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/test/support/linearcheck"
)

var (
	duration     = flag.Duration("linearize.duration", 2*time.Second, "how long each run's clients work")
	checkTimeout = flag.Duration("linearize.check-timeout", 30*time.Second, "how long porcupine may search; running out fails the test")
	seed         = flag.Uint64("linearize.seed", 0, "seed of the clients' random choices (0: a new one, logged)")
)

const (
	clients = 8
	holders = 3 // per client
	// lease is long enough that no lease expires during a run: expiry
	// depends on real time, which the model leaves out.
	lease = time.Hour
	// callTimeout bounds every call, so that a call stuck on a broken
	// connection ends (as an ambiguous outcome) instead of hanging the run.
	callTimeout = 5 * time.Second
	// maxOps bounds each client's calls, so that a fast store (memory makes
	// tens of thousands in two seconds) yields a history porcupine checks
	// in well under a second rather than many.
	maxOps = 600
	// minOps is how many calls each client makes at the least, however
	// long that takes beyond -linearize.duration (a loaded machine or a
	// slow store), so that every history says something; liveness bounds
	// that wait and only stops a stuck run.
	minOps   = 25
	liveness = time.Minute
)

// keys contend; the separator checks that nothing splits on it.
var keys = []string{"lin:a", "lin:b"}

// target is one run's backends, one per client, and the fault that can be
// injected into all of them at once (nil: none).
type target struct {
	clients []backends.Backend
	fault   func(rng *rand.Rand)
	// faultEvery is the least time between faults (default 100 ms); the
	// most is twice that.
	faultEvery time.Duration
	// opts are the backend's documented deviations from the strict model.
	opts linearcheck.Options
}

// check runs the workload against tg and checks its history.
func check(t *testing.T, tg target) {
	t.Helper()
	s := *seed
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (-linearize.seed to repeat the clients' choices)", s)

	rec := linearcheck.NewRecorder()
	live, stop := context.WithTimeout(context.Background(), liveness)
	defer stop()
	ctx, cancel := context.WithTimeout(live, *duration)
	defer cancel()
	var wg, faulter sync.WaitGroup
	for i, b := range tg.clients {
		c := &client{id: i, b: rec.Client(i, b), rng: rand.New(rand.NewPCG(s, uint64(i)))}
		wg.Go(func() { c.run(ctx, live) })
	}
	faults := 0
	faultCtx, stopFaults := context.WithCancel(live)
	if tg.fault != nil {
		rng := rand.New(rand.NewPCG(s, clients))
		every := cmp.Or(tg.faultEvery, 100*time.Millisecond)
		faulter.Go(func() {
			for {
				timer := time.NewTimer(every + rand.N(every))
				select {
				case <-faultCtx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
				tg.fault(rng)
				faults++
			}
		})
	}
	wg.Wait()
	stopFaults()
	faulter.Wait()

	ops := rec.Operations()
	st := rec.Stats()
	for _, err := range st.Unexpected {
		t.Errorf("error outside the contract: %v", err)
	}
	v := linearcheck.Check(ops, *checkTimeout, tg.opts)
	t.Logf("%d operations (%d with an ambiguous outcome; %d failed reads left out; %d faults injected) checked in %s: %s",
		st.Operations, st.Unknown, st.FailedGets, faults, v.Took.Round(time.Millisecond), v.Result)
	switch v.Result {
	case porcupine.Ok:
		// Every client makes minOps calls unless the liveness bound cut the
		// run short; failed reads are calls too, though the history leaves
		// them out (under connection resets they are many).
		if calls := st.Operations + st.FailedGets; calls < len(tg.clients)*minOps {
			t.Errorf("only %d calls within %s: too few to say anything", calls, liveness)
		}
		return
	case porcupine.Unknown:
		t.Errorf("the check ran out of time after %s (-linearize.check-timeout): not proven linearizable", v.Took)
	case porcupine.Illegal:
		t.Errorf("the history is not linearizable:\n%s", v.Explain(ops))
	}
	dir, err := os.MkdirTemp("", "leasehold-linearize-")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(t.Name())
	if path, err := v.Visualize(dir, name); err != nil {
		t.Errorf("writing the visualization: %v", err)
	} else {
		t.Errorf("porcupine's visualization (longest linearizable prefix per key, then the operation that cannot follow it): %s", path)
	}
	text := filepath.Join(dir, name+"-history.txt")
	if err := os.WriteFile(text, []byte(linearcheck.Format(ops)), 0o644); err != nil {
		t.Errorf("writing the history: %v", err)
	} else {
		t.Errorf("the history in call order: %s", text)
	}
}

// client is one client's workload: a random mix of operations by its
// holders on the shared keys, remembering the versions it saw so that it
// presents current ones mostly and stale ones sometimes.
type client struct {
	id  int
	b   backends.Backend
	rng *rand.Rand
	// current is the last version each of this client's holders got, by
	// key and holder.
	current map[string]map[string]string
	// seen are recent versions of each key this client saw, current or not.
	seen map[string][]string
	ops  int
}

// run calls until maxOps, or until ctx ends once it has made minOps, or
// until live ends.
func (c *client) run(ctx, live context.Context) {
	c.current, c.seen = map[string]map[string]string{}, map[string][]string{}
	for _, k := range keys {
		c.current[k] = map[string]string{}
	}
	for n := 0; n < maxOps && live.Err() == nil && (ctx.Err() == nil || n < minOps); n++ {
		c.step()
	}
}

func (c *client) holder() string {
	return fmt.Sprintf("client-%d/holder-%d", c.id, c.rng.IntN(holders))
}

// metadata is nil mostly (keep the record's) and otherwise a value unique
// to the call, so that the model can tell whose metadata a record shows.
func (c *client) metadata() map[string]string {
	c.ops++
	if c.rng.IntN(4) > 0 {
		return nil
	}
	return map[string]string{"op": strconv.Itoa(c.id) + "." + strconv.Itoa(c.ops)}
}

// version picks what holder presents for key: its current version mostly,
// otherwise any version seen for the key; ok is false when it knows none.
func (c *client) version(key, holder string) (string, bool) {
	if v, ok := c.current[key][holder]; ok && c.rng.IntN(5) > 0 {
		return v, true
	}
	if seen := c.seen[key]; len(seen) > 0 {
		return seen[c.rng.IntN(len(seen))], true
	}
	return "", false
}

func (c *client) saw(key string, l backends.Lock) {
	if l.Holder != "" {
		c.current[key][l.Holder] = l.Version
	}
	c.seen[key] = append(c.seen[key], l.Version)
	if n := len(c.seen[key]); n > 8 {
		c.seen[key] = c.seen[key][n-8:]
	}
}

func (c *client) step() {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	key, holder := keys[c.rng.IntN(len(keys))], c.holder()
	switch r := c.rng.IntN(100); {
	case r < 35:
		l, err := c.b.Acquire(ctx, &backends.AcquireRequest{Key: key, Holder: holder, LeaseDuration: lease, Metadata: c.metadata()})
		if err == nil {
			c.saw(key, l)
		}
	case r < 60:
		version, ok := c.version(key, holder)
		if !ok {
			c.get(ctx, key)
			return
		}
		l, err := c.b.Renew(ctx, &backends.RenewRequest{Key: key, Holder: holder, Version: version, LeaseDuration: lease, Metadata: c.metadata()})
		if err == nil {
			c.saw(key, l)
		}
	case r < 80:
		version, ok := c.version(key, holder)
		if !ok {
			c.get(ctx, key)
			return
		}
		if err := c.b.Release(ctx, &backends.ReleaseRequest{Key: key, Holder: holder, Version: version, Delete: c.rng.IntN(2) == 0}); err == nil {
			delete(c.current[key], holder)
		}
	default:
		c.get(ctx, key)
	}
}

func (c *client) get(ctx context.Context, key string) {
	if l, err := c.b.Get(ctx, key); err == nil {
		c.saw(key, l)
	}
}
