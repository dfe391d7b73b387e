package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

func newHoldCommand(o *options) *cobra.Command {
	var g grantFlags
	var w waitFlags
	var format string
	cmd := &cobra.Command{
		Use:   "hold KEY [flags]",
		Short: "Hold a lock until interrupted (Ctrl-C, SIGTERM)",
		Long: `Wait until the lock is free and acquire it, print the grant (fencing token
and version) on stdout, then keep the lease renewed until lockctl gets
SIGINT (Ctrl-C), SIGTERM or SIGHUP, and release it.

--no-wait (-n) fails at once (exit 3) if another holder has the lock; --wait D
gives up after D. The version printed is the grant's; renewals change it, so
read the current one with 'lockctl get KEY' if you need it.

Exit status: 0 after releasing on a signal; 75 if the lease was lost while
held (taken over, broken, deleted, or not renewable in time); lockctl's own
codes before the grant (see 'lockctl --help').`,
		Example: `  lockctl hold maintenance-window          # Ctrl-C to release
  lockctl hold deploy -o json > grant.json &`,
		Args: atMostOne("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := g.prepare(o, cmd, args, format); err != nil {
				return err
			}
			var err error
			if g.wait, err = w.resolve(cmd); err != nil {
				return err
			}
			return o.hold(cmd.Context(), &g, format)
		}),
	}
	g.add(cmd)
	w.add(o, cmd)
	o.addOutputFlag(cmd, &format)
	return cmd
}

// hold acquires the lock, prints the grant and keeps the lease until a
// signal, then releases it.
func (o *options) hold(ctx context.Context, g *grantFlags, format string) error {
	ctx, stop := o.signalContext(ctx)
	defer stop()
	m, err := o.openManager(ctx)
	if err != nil {
		return withCause(ctx, err)
	}
	defer func() { _ = m.Close() }()

	// The session outlives the signal that ends the hold, so that the
	// release is a release, not an abandoned lease.
	sessCtx, cancelSess := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSess()
	stopStatus := o.startStatus(ctx, m, g.key, g.holder, g.wait)
	type held struct {
		s   *lockmanager.Session
		err error
	}
	heldc := make(chan held, 1)
	go func() {
		s, err := lockmanager.Hold(sessCtx, m, g.acquireOptions())
		heldc <- held{s, err}
	}()
	var h held
	select {
	case h = <-heldc:
	case <-ctx.Done():
		cancelSess()
		h = <-heldc
		if h.err == nil {
			_ = h.s.Release(context.Background()) // best effort: the lease expires anyway
			h.err = fmt.Errorf("waiting for lock %q: %w", g.key, context.Cause(ctx))
		}
	}
	stopStatus()
	if h.err != nil {
		return withCause(ctx, h.err)
	}
	sess := h.s
	if err := o.printLocks(format, []lockmanager.Lock{sess.Lock()}, true); err != nil {
		_ = sess.Release(context.Background())
		return err
	}

	select {
	case <-ctx.Done():
	case <-sess.Done():
	}
	if sess.Context().Err() != nil {
		// Ended by itself: only a lost lease ends a session nobody released.
		fmt.Fprintf(o.env.Stderr, "%slease on %q lost (%s)\n", o.prefix(), g.key, oneLine(sess.Err().Error()))
		return &exitStatus{code: ExitLeaseLost}
	}
	rctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := sess.Release(rctx); err != nil {
		return fmt.Errorf("releasing %q: %w", g.key, err)
	}
	return nil
}
