package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// maxReasonBytes bounds --reason: a line for a log, not a document.
const maxReasonBytes = 1024

func newBreakCommand(o *options) *cobra.Command {
	var flagKey, reason, version string
	cmd := &cobra.Command{
		Use:   "break KEY --reason TEXT [flags]",
		Short: "Clear a lock someone else holds (a process that died)",
		Long: `Clear a lock held by someone else, for example a process that died without
releasing it. break reads the record, then releases it as its holder, guarded
by the version it read: if the lock changed in between (renewed, released,
or granted to someone new), nothing is cleared and break exits 5. It never
clears a newer grant than the one it saw. With --version, it clears only
that version (as shown by 'lockctl get KEY -o json').

The next grant's fencing token is higher than the broken holder's, so a
holder that is still alive has its writes refused by a fenced resource; its
'lockctl run' or 'lockctl hold' sees the lease lost and stops.

The lock contract keeps no metadata on a released record, so the reason is
not stored with the lock and 'lockctl get' does not show it: break prints it
on stdout with what it cleared (holder, fencing token, version), one line for
your logs. A lock that is already free is left alone (exit 0).`,
		Example: `  lockctl break nightly-backup --reason "backup host rebooted mid-run"`,
		Args:    atMostOne("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(cmd, args, flagKey)
			if err != nil {
				return err
			}
			if err := checkReason(reason); err != nil {
				return err
			}
			return o.withManager(cmd, func(ctx context.Context, m *lockmanager.Manager) error {
				return o.breakLock(ctx, m, key, version, reason)
			})
		}),
	}
	addKeyFlag(cmd, &flagKey)
	cmd.Flags().StringVar(&reason, "reason", "", "why the lock is cleared, printed with what was cleared (required)")
	cmd.Flags().StringVar(&version, "version", "", "clear the lock only if its version is still this one")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

// checkReason keeps the reason to one printable line.
func checkReason(reason string) error {
	const rule = "must be 1 to %d bytes of UTF-8 text on one line (no control characters)"
	if reason == "" || len(reason) > maxReasonBytes || !utf8.ValidString(reason) {
		return usagef("--reason "+rule+", got %d bytes", maxReasonBytes, len(reason))
	}
	for _, r := range reason {
		if unicode.IsControl(r) {
			return usagef("--reason "+rule+", got %q", maxReasonBytes, r)
		}
	}
	return nil
}

func (o *options) breakLock(ctx context.Context, m *lockmanager.Manager, key, version, reason string) error {
	cur, err := m.Get(ctx, key)
	if err != nil {
		return err
	}
	if cur.Holder == "" {
		_, err := fmt.Fprintf(o.env.Stdout, "lock %q is free (fencing token %d): nothing to break\n", key, cur.FencingToken)
		return err
	}
	if version != "" && version != cur.Version {
		return fmt.Errorf("breaking %q: its version is %s, not %s: %w", key, cur.Version, version, lockmanager.ErrVersionMismatch)
	}
	err = m.Release(ctx, lockmanager.ReleaseOptions{Key: key, Holder: cur.Holder, Version: cur.Version})
	switch {
	case errors.Is(err, lockmanager.ErrVersionMismatch), errors.Is(err, lockmanager.ErrNotHolder):
		return fmt.Errorf("breaking %q: the lock changed after it was read (renewed, released or granted anew), "+
			"so nothing was cleared; read it again with 'lockctl get': %w", key, err)
	case err != nil:
		return err
	}
	state := "expired"
	if cur.Held {
		state = "held"
	}
	_, err = fmt.Fprintf(o.env.Stdout, "broke lock %q %s by %q (fencing token %s, version %s): %s\n",
		key, state, cur.Holder, strconv.FormatUint(cur.FencingToken, 10), cur.Version, reason)
	return err
}
