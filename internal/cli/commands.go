package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// DefaultLease is the lease duration when --lease is not given.
const DefaultLease = 30 * time.Second

// DefaultHolder is the holder identity when --holder is not given:
// the host name, a colon and the process ID of lockctl.
func DefaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// grantFlags are the flags of the commands that ask for a lease.
type grantFlags struct {
	key      string
	holder   string
	lease    time.Duration
	wait     time.Duration
	metadata map[string]string
}

func (g *grantFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&g.key, "key", "", "lock key (required)")
	f.StringVar(&g.holder, "holder", "", "holder identity (default HOSTNAME:PID of lockctl)")
	f.DurationVar(&g.lease, "lease", DefaultLease, "lease duration, 1s to 24h")
	f.DurationVar(&g.wait, "wait", 0, "how long to wait while another holder has the lock (0: fail at once)")
	f.StringToStringVar(&g.metadata, "metadata", nil, "metadata stored with the grant, as k=v pairs (repeatable)")
	_ = cmd.MarkFlagRequired("key")
}

// check validates the flags that lockctl names better than the lock
// manager would (it reports fields, not flags), and fills in the default
// holder.
func (g *grantFlags) check() error {
	if err := checkKey(g.key); err != nil {
		return err
	}
	if err := checkLease(g.lease); err != nil {
		return err
	}
	if g.wait < 0 || g.wait > lockmanager.MaxWait {
		return usagef("--wait must be between 0 and %s, got %s", lockmanager.MaxWait, g.wait)
	}
	if g.holder == "" {
		g.holder = DefaultHolder()
	}
	return nil
}

func (g *grantFlags) acquireOptions() lockmanager.AcquireOptions {
	return lockmanager.AcquireOptions{
		Key:           g.key,
		Holder:        g.holder,
		LeaseDuration: g.lease,
		Wait:          g.wait,
		Metadata:      g.metadata,
	}
}

func checkKey(key string) error {
	if err := lockmanager.ValidateKey(key); err != nil {
		return &usageError{err: fmt.Errorf("--key: %w", err)}
	}
	return nil
}

func checkLease(d time.Duration) error {
	if d < lockmanager.MinLeaseDuration || d > lockmanager.MaxLeaseDuration || d%time.Millisecond != 0 {
		return usagef("--lease must be between %s and %s in whole milliseconds, got %s",
			lockmanager.MinLeaseDuration, lockmanager.MaxLeaseDuration, d)
	}
	return nil
}

// withManager opens the backend under a context that SIGINT and SIGTERM
// cancel, runs f, closes the manager, and reports f's error with the
// signal as its cause where one ended the command.
func (o *options) withManager(cmd *cobra.Command, f func(ctx context.Context, m *lockmanager.Manager) error) error {
	ctx, stop := o.signalContext(cmd.Context())
	defer stop()
	m, err := o.openManager(ctx)
	if err != nil {
		return withCause(ctx, err)
	}
	defer func() { _ = m.Close() }()
	return withCause(ctx, f(ctx, m))
}

// withCause makes sure an error caused by a signal says so, whichever layer
// noticed the cancelled context first.
func withCause(ctx context.Context, err error) error {
	var sig *signalError
	if err == nil || errors.As(err, &sig) {
		return err
	}
	if cause := context.Cause(ctx); errors.As(cause, &sig) {
		return fmt.Errorf("%w: %w", err, sig)
	}
	return err
}

func newAcquireCommand(o *options) *cobra.Command {
	var g grantFlags
	var format string
	cmd := &cobra.Command{
		Use:   "acquire --key KEY [--holder H] [--lease D] [--wait D]",
		Short: "Acquire a lock and print the grant",
		Long: `Acquire a lock and print the grant: key, holder, fencing token, expiry and
version. Renew and release need the holder and version: use -o json and read
.holder and .version. Acquiring a lock the same holder already has renews it.

With --wait, lockctl keeps trying while another holder has the lock; on a
terminal it shows who holds the lock and until when (not with --quiet).`,
		Example: `  lease=$(lockctl acquire --key nightly-backup --holder "$HOSTNAME" --lease 5m -o json)
  version=$(printf '%s' "$lease" | jq -r .version)`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if err := g.check(); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				stopStatus := o.startStatus(ctx, m, g.key, g.holder, g.wait)
				l, err := m.Acquire(ctx, g.acquireOptions())
				stopStatus()
				if err != nil {
					return err
				}
				return printLocks(o.env.Stdout, format, []lockmanager.Lock{l}, true)
			})
		}),
	}
	g.add(cmd)
	addOutputFlag(cmd, &format)
	return cmd
}

// holderFlags are the flags that name a lease someone holds.
type holderFlags struct {
	key, holder, version string
}

func (h *holderFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&h.key, "key", "", "lock key (required)")
	f.StringVar(&h.holder, "holder", "", "holder identity the lock was granted to (required)")
	f.StringVar(&h.version, "version", "", "version of the last acquire or renew (required)")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("holder")
	_ = cmd.MarkFlagRequired("version")
}

func newRenewCommand(o *options) *cobra.Command {
	var h holderFlags
	var lease time.Duration
	var metadata map[string]string
	var format string
	cmd := &cobra.Command{
		Use:   "renew --key KEY --holder H --version V [--lease D]",
		Short: "Extend a lease and print it with its new version",
		Long: `Extend a lease held by --holder, presenting the version of the last acquire
or renew. The lease runs for --lease from now; the fencing token stays the
same and the version changes: use the printed one next time.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if err := checkKey(h.key); err != nil {
				return err
			}
			if err := checkLease(lease); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				l, err := m.Renew(ctx, lockmanager.RenewOptions{
					Key: h.key, Holder: h.holder, Version: h.version, LeaseDuration: lease, Metadata: metadata,
				})
				if err != nil {
					return err
				}
				return printLocks(o.env.Stdout, format, []lockmanager.Lock{l}, true)
			})
		}),
	}
	h.add(cmd)
	cmd.Flags().DurationVar(&lease, "lease", DefaultLease, "new lease duration from now, 1s to 24h")
	cmd.Flags().StringToStringVar(&metadata, "metadata", nil, "replace the metadata with these k=v pairs (repeatable)")
	addOutputFlag(cmd, &format)
	return cmd
}

func newReleaseCommand(o *options) *cobra.Command {
	var h holderFlags
	var del bool
	cmd := &cobra.Command{
		Use:   "release --key KEY --holder H --version V [--delete]",
		Short: "Give a lease up",
		Long: `Give a lease up, presenting the holder and the version of the last acquire or
renew. The record stays, free, unless --delete removes it; either way the
next grant's fencing token is higher than every earlier one. Prints nothing.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkKey(h.key); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				return m.Release(ctx, lockmanager.ReleaseOptions{Key: h.key, Holder: h.holder, Version: h.version, Delete: del})
			})
		}),
	}
	h.add(cmd)
	cmd.Flags().BoolVar(&del, "delete", false, "remove the record instead of keeping it as released")
	return cmd
}

func newGetCommand(o *options) *cobra.Command {
	var key, format string
	cmd := &cobra.Command{
		Use:   "get --key KEY",
		Short: "Show one lock",
		Long: `Show one lock: holder, whether it is held (computed by the backend, expired
leases are not held), fencing token, expiry and version. A key without a
record exits with code 4.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if err := checkKey(key); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				l, err := m.Get(ctx, key)
				if err != nil {
					return err
				}
				return printLocks(o.env.Stdout, format, []lockmanager.Lock{l}, true)
			})
		}),
	}
	cmd.Flags().StringVar(&key, "key", "", "lock key (required)")
	_ = cmd.MarkFlagRequired("key")
	addOutputFlag(cmd, &format)
	return cmd
}

func newListCommand(o *options) *cobra.Command {
	var prefix, format string
	cmd := &cobra.Command{
		Use:   "list [--prefix P]",
		Short: "List locks, sorted by key",
		Long: `List the locks whose key starts with --prefix (all by default), sorted by
key, held or not. -o json and -o yaml print an array ([] when there are none).`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if prefix != "" {
				if err := lockmanager.ValidateKey(prefix); err != nil {
					return &usageError{err: fmt.Errorf("--prefix: %w", err)}
				}
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				locks := []lockmanager.Lock{}
				opts := lockmanager.ListOptions{Prefix: prefix, PageSize: lockmanager.MaxPageSize}
				for {
					page, err := m.List(ctx, opts)
					if err != nil {
						return err
					}
					locks = append(locks, page.Locks...)
					if page.NextPageToken == "" {
						return printLocks(o.env.Stdout, format, locks, false)
					}
					opts.PageToken = page.NextPageToken
				}
			})
		}),
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "list keys that start with this")
	addOutputFlag(cmd, &format)
	return cmd
}
