package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Environment variables run gives the command.
const (
	EnvKey          = "LEASEHOLD_KEY"
	EnvHolder       = "LEASEHOLD_HOLDER"
	EnvFencingToken = "LEASEHOLD_FENCING_TOKEN"
)

const (
	// DefaultGrace is how long run waits after SIGTERM before SIGKILL.
	DefaultGrace = 10 * time.Second
	// releaseTimeout bounds the release after the command has exited.
	releaseTimeout = 10 * time.Second
	// stragglerPoll is how often run checks whether the processes a lost
	// command left behind in its group have gone.
	stragglerPoll = 50 * time.Millisecond
)

type runFlags struct {
	grantFlags
	grace    time.Duration
	lostCode int
}

func newRunCommand(o *options) *cobra.Command {
	var r runFlags
	cmd := &cobra.Command{
		Use:   "run --key KEY [--wait D] [--lease D] [--holder H] [--grace D] -- COMMAND [ARG...]",
		Short: "Hold a lock while a command runs",
		Long: `Acquire the lock (waiting up to --wait), run COMMAND while renewing the lease
in the background, then release the lock and exit with the command's status.

The command gets LEASEHOLD_KEY, LEASEHOLD_HOLDER and LEASEHOLD_FENCING_TOKEN in
its environment. Pass the fencing token with every write to the resource the
lock protects, and have the resource refuse tokens lower than the highest it
has seen: that is what stops a paused former holder from doing damage.

If the lease is lost (taken over, deleted, or not renewable before it would
expire), lockctl sends the command SIGTERM at once, SIGKILL after --grace,
and exits with --lost-exit-code (75) whatever the command's status. A lease
found lost as the command exits counts as lost too: the command may have
outlived it.

SIGINT, SIGTERM and SIGHUP that lockctl receives are forwarded to the command,
which decides when to exit; lockctl then releases the lock. Without a terminal
the command runs in a process group of its own and signals go to the whole
group, so that its children stop too. When lockctl runs in the foreground of
a terminal, the command shares lockctl's process group so that it can use the
terminal; Ctrl-C then reaches the command directly, and lockctl forwards only
SIGTERM (a second SIGINT would make many programs quit without cleaning up).
On Linux, the command gets SIGKILL if lockctl itself is killed, because
nobody renews the lease any more.

Exit status: the command's own (128+N if signal N killed it), or 75 when the
lease was lost; before the command starts, lockctl's own codes (see
'lockctl --help': 3 when --wait ran out, 126/127 when the command cannot be
started). A command that itself exits with 75, or with one of lockctl's
codes, cannot be told apart by the status alone: choose another
--lost-exit-code, or read lockctl's "lockctl: ..." line on stderr, which it
prints whenever the status is its own.`,
		Example: `  lockctl run --key nightly-backup --wait 10m -- ./backup.sh
  lockctl run --key deploy --lease 1m --grace 30s -- sh -c 'deploy --fencing-token "$LEASEHOLD_FENCING_TOKEN"'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("run needs a command to run after --")
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := r.check(); err != nil {
				return err
			}
			if r.grace < 0 {
				return usagef("--grace must not be negative, got %s", r.grace)
			}
			if r.lostCode < 1 || r.lostCode > 255 {
				return usagef("--lost-exit-code must be between 1 and 255, got %d", r.lostCode)
			}
			return o.run(cmd.Context(), &r, args)
		}),
	}
	r.add(cmd)
	cmd.Flags().DurationVar(&r.grace, "grace", DefaultGrace, "how long the command has to exit after SIGTERM before SIGKILL")
	cmd.Flags().IntVar(&r.lostCode, "lost-exit-code", ExitLeaseLost, "exit code when the lease is lost while the command runs")
	// Flags after the first argument belong to the command, with or
	// without "--".
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// run holds the lock for as long as the command runs.
func (o *options) run(ctx context.Context, r *runFlags, args []string) error {
	// Signals end the wait for the lock; once the command runs they are
	// forwarded instead, so the session's context must not depend on them.
	waitCtx, stopSignals := o.signalContext(ctx)
	m, err := o.openManager(waitCtx)
	if err != nil {
		stopSignals()
		return withCause(waitCtx, err)
	}
	defer func() { _ = m.Close() }()

	sessCtx, cancelSess := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSess()
	type held struct {
		s   *lockmanager.Session
		err error
	}
	heldc := make(chan held, 1)
	go func() {
		s, err := lockmanager.Hold(sessCtx, m, r.acquireOptions())
		heldc <- held{s, err}
	}()
	stopStatus := o.startStatus(waitCtx, m, r.key, r.holder, r.wait)
	var h held
	select {
	case h = <-heldc:
	case <-waitCtx.Done():
		// Interrupted while waiting: give up, and give back a grant that
		// raced with the signal.
		cancelSess()
		h = <-heldc
		if h.err == nil {
			_ = h.s.Release(context.Background()) // best effort: the lease expires anyway
			h.err = fmt.Errorf("waiting for lock %q: %w", r.key, context.Cause(waitCtx))
		}
	}
	stopStatus()
	stopSignals()
	var sig *signalError
	if h.err == nil && errors.As(context.Cause(waitCtx), &sig) {
		// The grant and a signal arrived together: the caller asked to stop
		// before the command started, so do not start it.
		_ = h.s.Release(context.Background())
		h.err = fmt.Errorf("waiting for lock %q: %w", r.key, sig)
	}
	if h.err != nil {
		return withCause(waitCtx, h.err)
	}
	sess := h.s

	code, lost := o.runCommand(sess, r, args)
	if lost {
		<-sess.Done()
		return &exitStatus{code: r.lostCode}
	}
	rctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := sess.Release(rctx); err != nil {
		// The command has finished; its status is what the caller asked
		// for. The lease will end by expiry.
		fmt.Fprintf(o.env.Stderr, "lockctl: releasing %q after the command exited: %s\n", r.key, oneLine(err.Error()))
	}
	return &exitStatus{code: code}
}

// runCommand starts the command and waits for it, forwarding signals and
// stopping it if the lease is lost. It returns the command's exit status
// (or 126/127 if it could not start) and whether the lease was lost.
func (o *options) runCommand(sess *lockmanager.Session, r *runFlags, args []string) (code int, lost bool) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.env.Stdin, o.env.Stdout, o.env.Stderr
	cmd.Env = append(withoutLeaseholdVars(os.Environ()),
		EnvKey+"="+r.key,
		EnvHolder+"="+r.holder,
		EnvFencingToken+"="+strconv.FormatUint(sess.FencingToken(), 10),
	)
	interactive := inTerminalForeground(o.env.Stdin)
	cmd.SysProcAttr = sysProcAttr(!interactive)
	if err := cmd.Start(); err != nil {
		code := ExitCannotExecute
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			code = ExitCommandNotFound
		}
		fmt.Fprintf(o.env.Stderr, "lockctl: starting %q: %s\n", args[0], oneLine(err.Error()))
		return code, false
	}
	pid := cmd.Process.Pid
	signal := func(sig syscall.Signal) {
		if interactive {
			_ = cmd.Process.Signal(sig)
			return
		}
		// The command leads its own process group: signal all of it.
		_ = syscall.Kill(-pid, sig)
	}

	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	lostc := sess.Context().Done()
	var (
		killc    <-chan time.Time
		deadline time.Time // when SIGKILL is due after a loss
		waitErr  error
	)
loop:
	for {
		select {
		case waitErr = <-waitc:
			break loop
		case sig := <-o.env.Signals:
			s, ok := sig.(syscall.Signal)
			if !ok || (interactive && s != syscall.SIGTERM) {
				continue // the terminal sent it to the command as well
			}
			signal(s)
		case <-lostc:
			lostc, lost = nil, true
			deadline = time.Now().Add(r.grace)
			killc = time.After(r.grace)
			fmt.Fprintf(o.env.Stderr, "lockctl: lease on %q lost (%s); sending SIGTERM to the command, SIGKILL in %s\n",
				r.key, oneLine(sess.Err().Error()), r.grace)
			signal(syscall.SIGTERM)
		case <-killc:
			killc = nil
			fmt.Fprintf(o.env.Stderr, "lockctl: the command is still running %s after SIGTERM; sending SIGKILL\n", r.grace)
			signal(syscall.SIGKILL)
		}
	}
	if !lost && sess.Context().Err() != nil {
		// The lease ended as the command exited: it may have outlived it.
		lost = true
		fmt.Fprintf(o.env.Stderr, "lockctl: lease on %q lost (%s) as the command exited\n", r.key, oneLine(sess.Err().Error()))
	}
	if lost && !interactive {
		// Work must stop with the lease, including what the command
		// started: the rest of its group gets what is left of the grace
		// period, then SIGKILL.
		if deadline.IsZero() {
			deadline = time.Now().Add(r.grace)
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		}
		stopGroup(pid, deadline)
	}
	return commandStatus(cmd.ProcessState, waitErr), lost
}

// stopGroup waits until no process is left in process group pgid, sending
// it SIGKILL from deadline on.
func stopGroup(pgid int, deadline time.Time) {
	for syscall.Kill(-pgid, 0) == nil {
		if !time.Now().Before(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		time.Sleep(stragglerPoll)
	}
}

// commandStatus is the exit status a shell would report for the command.
func commandStatus(ps *os.ProcessState, waitErr error) int {
	if ps == nil {
		if waitErr != nil {
			return ExitError
		}
		return ExitOK
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExitSignalBase + int(ws.Signal())
	}
	return ps.ExitCode()
}

// withoutLeaseholdVars drops the variables run sets, so that a command run
// inside another lockctl run sees only its own lock's.
func withoutLeaseholdVars(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == EnvKey || name == EnvHolder || name == EnvFencingToken {
			continue
		}
		out = append(out, kv)
	}
	return out
}
