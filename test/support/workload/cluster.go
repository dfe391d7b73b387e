package workload

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sync/atomic"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/faultproxy"
)

// Cluster is n clients of one store, each with a Locker of its own, and
// the faults that can be injected between them and the store. A nil
// fault hook means the cluster cannot inject that fault; scenarios that
// need it do not apply.
type Cluster struct {
	// Locker names the lock library ("leasehold", "redislock", ...) and
	// Store the store it runs on ("redis", "kubernetes", ...).
	Locker, Store string
	Lockers       []Locker
	// Isolate partitions client i from the store in both directions.
	Isolate func(i int)
	// Slow adds latency d in each direction for every client.
	Slow func(d time.Duration)
	// Reset breaks every client's open connections (network stores) or
	// loses the replies of each client's next call (API-level stores).
	Reset func()
	// Restart takes the store away and brings it back. fast restarts as
	// quickly as the store can; otherwise the store stays down for longer
	// than the lease.
	Restart func(fast bool) error
	// Heal removes every fault.
	Heal func()
	// LosesData: a restart empties the store (Redis without persistence),
	// so a fast restart lets a new holder in while the old one still
	// believes it holds the lease.
	LosesData bool
	// Skew sets client i's wall clock to run d ahead of the true time
	// (behind when negative): for stores where the clients' clocks decide
	// expiry (Kubernetes).
	Skew func(i int, d time.Duration)
	// Spawn returns a command that runs a holder process on the same store
	// (a program that calls RunHolderProcess when HolderProcess reports
	// true). The scenario adds the holder's settings to the command's
	// environment.
	Spawn func() *exec.Cmd
	// Resource is the store's real protected resource (a table guarded
	// by fencesql, a Redis key by fenceredis, a Kubernetes object by the
	// admission policy), for the scenarios that write to it; the holder
	// process opens its own on the same store. The cluster closes it.
	Resource Resource

	closers []func() error
}

// OnClose registers f to run when the cluster closes, before the
// functions registered earlier.
func (c *Cluster) OnClose(f func() error) { c.closers = append(c.closers, f) }

// Close closes every Locker, then runs the OnClose functions, last
// registered first.
func (c *Cluster) Close() error {
	var errs []error
	for _, l := range c.Lockers {
		errs = append(errs, l.Close())
	}
	if c.Resource != nil {
		errs = append(errs, c.Resource.Close())
		c.Resource = nil
	}
	for _, f := range slices.Backward(c.closers) {
		errs = append(errs, f())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// Server is a store's server process: restartable, on a fixed loopback
// address (test/support/testserver's servers are).
type Server interface {
	Addr() string
	Start() error
	Stop()
	Restart() error
}

// NetCluster is a cluster on network faults: every client reaches srv
// through a faultproxy of its own; dial opens client i's Locker against
// the proxy's address. A slow restart keeps the server down for longer
// than cfg.Lease plus its safety margin, so that every holder's lease has
// ended before the server comes back.
func NetCluster(cfg Config, lockerName, store string, srv Server, dial func(i int, addr string) (Locker, error)) (*Cluster, error) {
	cfg = cfg.WithDefaults()
	c := &Cluster{Locker: lockerName, Store: store}
	proxies := make([]*faultproxy.Proxy, 0, cfg.Clients)
	for i := range cfg.Clients {
		p, err := faultproxy.Start(srv.Addr())
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.OnClose(p.Close)
		proxies = append(proxies, p)
		l, err := dial(i, p.Addr())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening client %d: %w", i, err), c.Close())
		}
		c.Lockers = append(c.Lockers, l)
	}
	c.Isolate = func(i int) { proxies[i].Blackhole(faultproxy.Both) }
	c.Slow = func(d time.Duration) {
		for _, p := range proxies {
			p.SetLatency(faultproxy.Both, d)
		}
	}
	c.Reset = func() {
		for _, p := range proxies {
			p.ResetAll()
		}
	}
	c.Restart = func(fast bool) error {
		if fast {
			return srv.Restart()
		}
		srv.Stop()
		time.Sleep(cfg.Lease + cfg.SafetyMargin)
		return srv.Start()
	}
	c.Heal = func() {
		for _, p := range proxies {
			p.Heal()
		}
	}
	return c, nil
}

// APICluster is a cluster of Leasehold clients on API-level faults, for
// stores with no network to break (memory, SQLite): every client's backend
// is a backendtest.Faulty over a SlowBackend over its own client of the
// store, opened by open. A restart is an outage: every call fails for a
// while (fast: 200 ms; otherwise longer than the lease).
func APICluster(cfg Config, store string, open func() (backends.Backend, error)) (*Cluster, error) {
	cfg = cfg.WithDefaults()
	c := &Cluster{Locker: "leasehold", Store: store}
	faulty := make([]*backendtest.Faulty, 0, cfg.Clients)
	slows := make([]*SlowBackend, 0, cfg.Clients)
	for range cfg.Clients {
		b, err := open()
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		s := &SlowBackend{Backend: b}
		f := backendtest.NewFaulty(s)
		slows, faulty = append(slows, s), append(faulty, f)
		c.Lockers = append(c.Lockers, Leasehold(lockmanager.New(f), cfg))
	}
	set := func(f backendtest.Fault) {
		for _, fb := range faulty {
			fb.Set(f)
		}
	}
	c.Isolate = func(i int) { faulty[i].Set(backendtest.Hang) }
	c.Slow = func(d time.Duration) {
		for _, s := range slows {
			s.Set(d)
		}
	}
	c.Reset = func() {
		for _, f := range faulty {
			f.SetNext(backendtest.LoseReplies, 1)
		}
	}
	c.Restart = func(fast bool) error {
		set(backendtest.FailFast)
		outage := cfg.Lease + cfg.SafetyMargin
		if fast {
			outage = 200 * time.Millisecond
		}
		time.Sleep(outage)
		set(backendtest.NoFault)
		return nil
	}
	c.Heal = func() {
		set(backendtest.NoFault)
		for _, s := range slows {
			s.Set(0)
		}
	}
	return c, nil
}

// namespaces gives every scenario a namespace of its own.
var namespaces atomic.Int64

// Namespace returns a namespace no other scenario of this process uses.
func Namespace(store, scenario string) string {
	return fmt.Sprintf("chaos-%s-%s-%d", store, scenario, namespaces.Add(1))
}
