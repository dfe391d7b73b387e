package workload

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	_ Server             = (*KubeServer)(nil)
	_ clock.PassiveClock = (*SkewClock)(nil)
)

// RestConfigVia returns a copy of base whose requests go to proxyAddr (a
// faultproxy in front of base's API server) while TLS still verifies the
// API server's own name: the proxy passes the TLS bytes through untouched.
func RestConfigVia(base *rest.Config, proxyAddr string) (*rest.Config, error) {
	u, err := url.Parse(base.Host)
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(base)
	if cfg.TLSClientConfig.ServerName == "" {
		host := u.Hostname()
		if net.ParseIP(host) == nil {
			// An IP address is verified against the certificate's IP
			// SANs by address; only a name goes into ServerName.
			cfg.TLSClientConfig.ServerName = host
		}
	}
	u.Host = proxyAddr
	cfg.Host = u.String()
	return cfg, nil
}

// KubeServerOptions configures StartKubeServer.
type KubeServerOptions struct {
	// CRDDirectoryPaths are the folders of CustomResourceDefinitions to
	// install once the control plane is up (envtest's CRDDirectoryPaths);
	// a missing folder is an error.
	CRDDirectoryPaths []string
	// BinaryAssetsDirectory holds kube-apiserver and etcd; the environment
	// variable KUBEBUILDER_ASSETS, when set, takes precedence (envtest's
	// rule).
	BinaryAssetsDirectory string
}

// KubeServer is a throwaway Kubernetes control plane on loopback (envtest:
// etcd and kube-apiserver) as a restartable Server. Stop and Start stop and
// start the kube-apiserver process only, on the same address and with the
// same serving and client certificates, while etcd keeps every object:
// clients, directly or through a faultproxy, reconnect to the same cluster
// as they would after an API server restart in production, with no new
// credentials and no lost data.
type KubeServer struct {
	env     *envtest.Environment
	cfg     *rest.Config
	addr    string
	certDir string

	mu      sync.Mutex // serialises Start, Stop and Close
	stopErr error      // from a Stop, reported by the next Start or Close
}

// StartKubeServer starts etcd and kube-apiserver and installs the CRDs.
// Close stops both.
func StartKubeServer(opts KubeServerOptions) (*KubeServer, error) {
	// A certificate folder of our own: envtest removes a folder it created
	// itself on every stop, and the next start would then mint a new
	// serving CA that no existing client trusts.
	certDir, err := os.MkdirTemp("", "leasehold-kube-apiserver-")
	if err != nil {
		return nil, err
	}
	noExisting := false
	env := &envtest.Environment{
		CRDDirectoryPaths:     opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: opts.BinaryAssetsDirectory,
		// USE_EXISTING_CLUSTER would point the clients at a cluster this
		// type cannot restart.
		UseExistingCluster: &noExisting,
		// A stop is a SIGTERM; on a machine busy with other builds the API
		// server's shutdown, and its start again, have taken longer than
		// envtest's 20 s defaults, which failed the restart scenario.
		ControlPlane: envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: certDir,
			StartTimeout: time.Minute, StopTimeout: time.Minute}},
	}
	// Without a grace period for watches, a stopping API server waits for
	// open watches, which never end on their own, until envtest kills it.
	env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	cfg, err := env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting the envtest control plane (KUBEBUILDER_ASSETS or %s): %w", opts.BinaryAssetsDirectory, err),
			env.Stop(), os.RemoveAll(certDir))
	}
	// Fault scenarios run many clients at once: a client-side rate limiter
	// would add waits of its own, and a client Timeout would end requests
	// on a clock that knows nothing of the caller's lease. Requests are
	// bounded by their context only.
	cfg.QPS, cfg.Burst, cfg.Timeout = -1, -1, 0
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, errors.Join(err, env.Stop(), os.RemoveAll(certDir))
	}
	return &KubeServer{env: env, cfg: cfg, addr: u.Host, certDir: certDir}, nil
}

// Addr implements Server: the API server's host:port.
func (s *KubeServer) Addr() string { return s.addr }

// Config returns a copy of the cluster administrator's client config,
// reaching the API server directly, with no rate limit and no client
// timeout (requests end with their context). RestConfigVia turns it into a
// config through a faultproxy.
func (s *KubeServer) Config() *rest.Config { return rest.CopyConfig(s.cfg) }

// WriteKubeconfig writes a kubeconfig file for the administrator to path,
// for processes of their own (holder processes).
func (s *KubeServer) WriteKubeconfig(path string) error {
	return os.WriteFile(path, s.env.KubeConfig, 0o600)
}

// Stop implements Server: it stops kube-apiserver gracefully (SIGTERM,
// then SIGKILL after envtest's stop timeout). etcd keeps running. An error
// is reported by the next Start or Close.
func (s *KubeServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.env.ControlPlane.APIServer.Stop(); err != nil {
		s.stopErr = errors.Join(s.stopErr, fmt.Errorf("stopping kube-apiserver: %w", err))
	}
}

// Start implements Server: it starts kube-apiserver again on the same
// address and returns once the API server serves every installed CRD
// again, so that a client's first request after Start does not meet a
// NotFound for a resource the cluster has.
func (s *KubeServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stopErr
	s.stopErr = nil
	if serr := s.env.ControlPlane.APIServer.Start(); serr != nil {
		return errors.Join(err, fmt.Errorf("starting kube-apiserver: %w", serr))
	}
	return errors.Join(err, s.awaitCRDs())
}

// Restart implements Server.
func (s *KubeServer) Restart() error {
	s.Stop()
	return s.Start()
}

// Close stops kube-apiserver and etcd and removes the certificates.
func (s *KubeServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(s.stopErr, s.env.Stop(), os.RemoveAll(s.certDir))
	s.stopErr = nil
	return err
}

// crdWait bounds how long Start waits for the CRDs to be served again.
const crdWait = time.Minute

// awaitCRDs waits until discovery lists every installed CRD's resource in
// each of its served versions: the API server's health check passes
// before its CRD handler has caught up with etcd.
func (s *KubeServer) awaitCRDs() error {
	dc, err := discovery.NewDiscoveryClientForConfig(s.cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(crdWait)
	for _, crd := range s.env.CRDs {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := crd.Spec.Group + "/" + v.Name
			for {
				list, err := dc.ServerResourcesForGroupVersion(gv)
				if err == nil && slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == crd.Spec.Names.Plural }) {
					break
				}
				if time.Now().After(deadline) {
					if err == nil {
						return fmt.Errorf("kube-apiserver served %s without %s within %s of its start", gv, crd.Spec.Names.Plural, crdWait)
					}
					return fmt.Errorf("kube-apiserver did not serve %s %s within %s of its start: %w", gv, crd.Spec.Names.Plural, crdWait, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	return nil
}

// SkewClock is a client's clock (k8s.io/utils/clock.PassiveClock) whose
// wall time runs a settable offset ahead of the true time (behind when
// negative), for stores where clients' clocks decide expiry. Like a wall
// clock stepped by an administrator, the offset moves wall time only:
// Since on a time this clock returned measures the real time elapsed, even
// across a change of offset. The zero value has offset zero and is ready
// to use; it is safe for concurrent use.
//
// Times read under an offset carry a Location of their own, which tells
// Since the offset to take out; moving a time to a Location drops its
// monotonic reading, so the elapsed time of such a reading is measured on
// the machine's wall clock, which a test assumes steady. Before the first
// Set, Now is time.Now, monotonic reading included.
type SkewClock struct {
	cur atomic.Pointer[skewEpoch]
	// epochs maps each offset's Location to the offset (one entry per
	// Set).
	epochs sync.Map // *time.Location → time.Duration
}

// skewEpoch is one offset and the Location that marks the times read
// while it was in force.
type skewEpoch struct {
	offset time.Duration
	loc    *time.Location
}

// Set makes the clock run d ahead of the true time from now on.
func (c *SkewClock) Set(d time.Duration) {
	// A Location of its own per Set marks the times read under this
	// offset; its name says the offset, its zone is UTC.
	e := &skewEpoch{offset: d, loc: time.FixedZone("UTC"+d.String(), 0)}
	c.epochs.Store(e.loc, d)
	c.cur.Store(e)
}

// Offset returns the clock's current offset.
func (c *SkewClock) Offset() time.Duration {
	if e := c.cur.Load(); e != nil {
		return e.offset
	}
	return 0
}

// Now returns the true time plus the offset.
func (c *SkewClock) Now() time.Time {
	e := c.cur.Load()
	if e == nil {
		return time.Now()
	}
	return time.Now().Add(e.offset).In(e.loc)
}

// Since returns the time elapsed since t. For a time this clock returned,
// or any time with a monotonic reading, that is the real time elapsed,
// whatever offsets were in force; for any other time (a timestamp read
// from the store), it is this clock's wall time minus t.
func (c *SkewClock) Since(t time.Time) time.Duration {
	if off, ok := c.epochs.Load(t.Location()); ok {
		// Read by this clock under offset off: a wall reading off ahead
		// of the true one.
		return time.Since(t) + off.(time.Duration)
	}
	if t != t.Round(0) {
		// A monotonic reading (Round(0) strips only that): true time.
		return time.Since(t)
	}
	return c.Now().Sub(t)
}
