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
	flagKey  string
	key      string // KEY or --key, set by check
	holder   string
	lease    time.Duration
	wait     time.Duration
	metadata metadataFlag
	pod      *lockmanager.PodRef // the holder's Pod, from the environment (see readPod)
}

func (g *grantFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	addKeyFlag(cmd, &g.flagKey)
	f.StringVar(&g.holder, "holder", "", "who holds the lock (default HOSTNAME:PID of this lockctl)")
	f.DurationVar(&g.lease, "lease", DefaultLease, "how long the lease lasts unless renewed, 1s to 24h")
	f.Var(&g.metadata, "metadata", "store KEY=VALUE with the grant; repeat the flag for several pairs")
}

// check validates the key and flags that lockctl names better than the
// lock manager would (it reports fields, not flags), and fills in the
// default holder.
func (g *grantFlags) check(cmd *cobra.Command, args []string) error {
	key, err := keyArg(cmd, args, g.flagKey)
	if err != nil {
		return err
	}
	g.key = key
	if err := checkLease(g.lease); err != nil {
		return err
	}
	if g.holder == "" {
		g.holder = DefaultHolder()
	}
	return nil
}

// prepare checks the output format and the grant's flags, and reads the
// holder's Pod (readPod): what acquire and hold do before they send
// anything.
func (g *grantFlags) prepare(o *options, cmd *cobra.Command, args []string, format string) error {
	if err := o.checkFormat(format); err != nil {
		return err
	}
	if err := g.check(cmd, args); err != nil {
		return err
	}
	return g.readPod(o.env.Getenv)
}

// readPod reads the holder's Pod from LEASEHOLD_POD_NAME,
// LEASEHOLD_POD_NAMESPACE and LEASEHOLD_POD_UID (the downward API), so
// that on Kubernetes the grant is freed as soon as the Pod is gone.
func (g *grantFlags) readPod(getenv func(string) string) error {
	pod, err := lockmanager.PodFromEnvFunc(getenv)
	if err != nil {
		return usagef("%v", err)
	}
	g.pod = pod
	return nil
}

func (g *grantFlags) acquireOptions() lockmanager.AcquireOptions {
	return lockmanager.AcquireOptions{
		Key:           g.key,
		Holder:        g.holder,
		LeaseDuration: g.lease,
		Wait:          g.wait,
		Metadata:      g.metadata.value(),
		HolderPod:     g.pod,
	}
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
		Use:   "acquire KEY [flags]",
		Short: "Acquire a lock and print the grant",
		Long: `Acquire a lock and print the grant: key, holder, fencing token, expiry and
version. Renew and release need the holder and version: use -o json and read
.holder and .version. Acquiring a lock the same holder already has renews it.

acquire fails at once (exit 3) if another holder has the lock; with --wait it
keeps trying that long. On a terminal it shows who holds the lock and until
when while it waits (not with --quiet). To hold a lock until Ctrl-C, use
'lockctl hold'; to hold it while a command runs, 'lockctl run'.`,
		Example: `  lease=$(lockctl acquire nightly-backup --holder "$HOSTNAME" --lease 5m -o json)
  version=$(printf '%s' "$lease" | jq -r .version)`,
		Args: atMostOne("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := g.prepare(o, cmd, args, format); err != nil {
				return err
			}
			if err := checkWait(g.wait); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				stopStatus := o.startStatus(ctx, m, g.key, g.holder, g.wait)
				l, err := m.Acquire(ctx, g.acquireOptions())
				stopStatus()
				if err != nil {
					return err
				}
				return o.printLocks(format, []lockmanager.Lock{l}, true)
			})
		}),
	}
	g.add(cmd)
	cmd.Flags().DurationVar(&g.wait, "wait", 0, "keep trying this long while another holder has the lock, e.g. 30s (default: fail at once)")
	o.addOutputFlag(cmd, &format)
	return cmd
}

// holderFlags are the flags that name a lease someone holds.
type holderFlags struct {
	flagKey, key, holder, version string
}

func (h *holderFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	addKeyFlag(cmd, &h.flagKey)
	f.StringVar(&h.holder, "holder", "", "who the lock was granted to (required)")
	f.StringVar(&h.version, "version", "", "the version printed by the last acquire or renew (required)")
	_ = cmd.MarkFlagRequired("holder")
	_ = cmd.MarkFlagRequired("version")
}

func (h *holderFlags) check(cmd *cobra.Command, args []string) error {
	key, err := keyArg(cmd, args, h.flagKey)
	h.key = key
	return err
}

func newRenewCommand(o *options) *cobra.Command {
	var h holderFlags
	var lease time.Duration
	var metadata metadataFlag
	var format string
	cmd := &cobra.Command{
		Use:   "renew KEY --holder H --version V [flags]",
		Short: "Extend a lease and print it with its new version",
		Long: `Extend a lease held by --holder, presenting the version of the last acquire
or renew. The lease runs for --lease from now; the fencing token stays the
same and the version changes: use the printed one next time.`,
		Args: atMostOne("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(format); err != nil {
				return err
			}
			if err := h.check(cmd, args); err != nil {
				return err
			}
			if err := checkLease(lease); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				l, err := m.Renew(ctx, lockmanager.RenewOptions{
					Key: h.key, Holder: h.holder, Version: h.version, LeaseDuration: lease, Metadata: metadata.value(),
				})
				if err != nil {
					return err
				}
				return o.printLocks(format, []lockmanager.Lock{l}, true)
			})
		}),
	}
	h.add(cmd)
	cmd.Flags().DurationVar(&lease, "lease", DefaultLease, "how long the lease lasts from now, 1s to 24h")
	cmd.Flags().Var(&metadata, "metadata", "replace the metadata with KEY=VALUE; repeat the flag for several pairs")
	o.addOutputFlag(cmd, &format)
	return cmd
}

func newReleaseCommand(o *options) *cobra.Command {
	var h holderFlags
	var del bool
	cmd := &cobra.Command{
		Use:   "release KEY --holder H --version V [flags]",
		Short: "Give a lease up",
		Long: `Give a lease up, presenting the holder and the version of the last acquire or
renew. The record stays, free, unless --delete removes it; either way the
next grant's fencing token is higher than every earlier one. Prints nothing.
To clear a lock someone else holds (a process that died), use 'lockctl break'.`,
		Args: atMostOne("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := h.check(cmd, args); err != nil {
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
	var flagKey, format string
	cmd := &cobra.Command{
		Use:   "get KEY [flags]",
		Short: "Show one lock",
		Long: `Show one lock: holder, whether it is held (computed by the backend, expired
leases are not held), fencing token, expiry and version. A key without a
record exits with code 4. A released record shows no holder and no times
(- in the table, left out of JSON and YAML).`,
		Args: atMostOne("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(format); err != nil {
				return err
			}
			key, err := keyArg(cmd, args, flagKey)
			if err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				l, err := m.Get(ctx, key)
				if err != nil {
					return err
				}
				return o.printLocks(format, []lockmanager.Lock{l}, true)
			})
		}),
	}
	addKeyFlag(cmd, &flagKey)
	o.addOutputFlag(cmd, &format)
	return cmd
}

func newListCommand(o *options) *cobra.Command {
	var prefix, format string
	cmd := &cobra.Command{
		Use:   "list [PREFIX] [flags]",
		Short: "List locks, sorted by key",
		Long: `List the locks whose key starts with PREFIX (or --prefix; all by default),
sorted by key, held or not. -o json and -o yaml print an array ([] when there
are none).`,
		Args: atMostOne("PREFIX"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(format); err != nil {
				return err
			}
			if len(args) > 0 {
				if cmd.Flags().Changed("prefix") && args[0] != prefix {
					return usagef("the prefix is given twice and differs: %q as PREFIX and %q as --prefix; give one", args[0], prefix)
				}
				prefix = args[0]
			}
			if prefix != "" {
				if err := lockmanager.ValidateKey(prefix); err != nil {
					return &usageError{err: fmt.Errorf("PREFIX: %w", err)}
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
						return o.printLocks(format, locks, false)
					}
					opts.PageToken = page.NextPageToken
				}
			})
		}),
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "list the keys that start with this, as an alternative to the PREFIX argument")
	o.addOutputFlag(cmd, &format)
	return cmd
}
