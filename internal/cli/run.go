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

	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Environment variables run gives the command, named in package fencing,
// whose FromEnv reads them.
const (
	EnvKey          = fencing.EnvKey
	EnvHolder       = fencing.EnvHolder
	EnvFencingToken = fencing.EnvFencingToken
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
	waitFlags
	grace    time.Duration
	lostCode int
}

func newRunCommand(o *options) *cobra.Command {
	var r runFlags
	cmd := &cobra.Command{
		Use:   "run KEY [flags] -- COMMAND [ARG...]",
		Short: "Hold a lock while a command runs",
		Long: `Wait until the lock is free and acquire it, run COMMAND while renewing the
lease in the background, then release the lock and exit with the command's
status. --no-wait (-n) fails at once (exit 3) if another holder has the lock;
--wait D gives up after D. The command is looked up before the wait: one that
does not exist exits 127 at once, without taking the lock.

Flags go before "--" (before COMMAND); everything after it is the command and
its arguments. The older form "lockctl run --key KEY [flags] COMMAND" works
too: with --key, every argument is the command.

The command gets LEASEHOLD_KEY, LEASEHOLD_HOLDER and LEASEHOLD_FENCING_TOKEN in
its environment. Pass the fencing token with every write to the resource the
lock protects, and have the resource refuse tokens lower than the highest it
has seen: that is what stops a paused former holder from doing damage.

If the lease is lost (taken over, broken, deleted, or not renewable before
it would expire), lockctl sends the command SIGTERM at once, SIGKILL after
--grace, and exits with --lost-exit-code (75) whatever the command's status.
A lease found lost as the command exits counts as lost too: the command may
have outlived it.

SIGINT, SIGTERM and SIGHUP that lockctl receives are forwarded to the command,
which decides when to exit; lockctl then releases the lock. Without a terminal
the command runs in a process group of its own and signals go to the whole
group, so that its children stop too; when the command exits, lockctl waits
up to --grace for the rest of its group (children it left running in the
background), then sends them SIGTERM and, --grace later, SIGKILL, and only
then releases the lock. When lockctl runs in the foreground of a terminal,
the command shares lockctl's process group so that it can use the terminal;
Ctrl-C then reaches the command directly, lockctl forwards only SIGTERM, and
it does NOT wait for children the command left in the background: the lock
is released when the command itself exits. On Linux, the command gets
SIGKILL if lockctl itself is killed, because nobody renews the lease any more.

Exit status: the command's own (128+N if signal N killed it), or 75 when the
lease was lost; before the command starts, lockctl's own codes (see
'lockctl --help': 3 when the lock is held and --no-wait or --wait ran out,
126/127 when the command cannot be started). A command that itself exits
with 75, or with one of lockctl's codes, cannot be told apart by the status
alone: choose another --lost-exit-code, or read lockctl's "lockctl: ..." line
on stderr, which it prints whenever the status is its own.`,
		Example: `  lockctl run nightly-backup -- ./backup.sh
  lockctl run nightly-backup --wait 10m -- ./backup.sh
  lockctl run deploy --no-wait --lease 1m --grace 30s -- sh -c 'deploy --fencing-token "$LEASEHOLD_FENCING_TOKEN"'`,
		// Flags after the key or the command are parsed in RunE: those
		// after the command belong to it.
		Args: cobra.ArbitraryArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			keyArgs, command, err := splitRunArgs(cmd)
			if err != nil {
				return err
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			if err := r.check(cmd, keyArgs); err != nil {
				return err
			}
			if err := r.readPod(o.env.Getenv); err != nil {
				return err
			}
			if len(command) == 0 {
				return usagef("run needs a command to run: %s KEY -- COMMAND [ARG...]", cmd.CommandPath())
			}
			if r.grantFlags.wait, err = r.resolve(cmd); err != nil {
				return err
			}
			if r.grace < 0 {
				return usagef("--grace must not be negative, got %s", r.grace)
			}
			if r.lostCode < 1 || r.lostCode > 255 {
				return usagef("--lost-exit-code must be between 1 and 255, got %d", r.lostCode)
			}
			return o.run(cmd.Context(), &r, command)
		}),
	}
	r.grantFlags.add(cmd)
	r.waitFlags.add(o, cmd)
	cmd.Flags().DurationVar(&r.grace, "grace", DefaultGrace,
		"how long the command (and what it left running) has to exit after SIGTERM before SIGKILL")
	cmd.Flags().IntVar(&r.lostCode, "lost-exit-code", ExitLeaseLost, "exit code when the lease is lost while the command runs, 1 to 255")
	// Parsing stops at the first argument (the key, or with --key the
	// command); splitRunArgs parses the flags after the key.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// splitRunArgs splits run's arguments into the key (none when --key is
// given) and the command, parsing the flags between the key and the
// command ("run KEY --wait 1m -- COMMAND").
func splitRunArgs(cmd *cobra.Command) (keyArgs, command []string, err error) {
	args := cmd.Flags().Args()
	if cmd.Flags().Changed("key") || len(args) == 0 {
		return nil, args, nil
	}
	key, rest := args[0], args[1:]
	if err := cmd.Flags().Parse(rest); err != nil {
		return nil, nil, &usageError{err: err}
	}
	return []string{key}, cmd.Flags().Args(), nil
}

// run holds the lock for as long as the command runs.
func (o *options) run(ctx context.Context, r *runFlags, args []string) error {
	// A command that cannot be found must not take a fencing token, nor
	// wait for the lock first.
	if _, err := exec.LookPath(args[0]); err != nil {
		return &exitStatus{code: o.startFailure(args[0], err)}
	}
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
		fmt.Fprintf(o.env.Stderr, "%sreleasing %q after the command exited: %s\n", o.prefix(), r.key, oneLine(err.Error()))
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
	if !interactive {
		adoptOrphans()
	}
	if err := cmd.Start(); err != nil {
		return o.startFailure(args[0], err), false
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
			fmt.Fprintf(o.env.Stderr, "%slease on %q lost (%s); sending SIGTERM to the command, SIGKILL in %s\n", o.prefix(),
				r.key, oneLine(sess.Err().Error()), r.grace)
			signal(syscall.SIGTERM)
		case <-killc:
			killc = nil
			fmt.Fprintf(o.env.Stderr, "%sthe command is still running %s after SIGTERM; sending SIGKILL\n", o.prefix(), r.grace)
			signal(syscall.SIGKILL)
		}
	}
	if !lost && sess.Context().Err() != nil {
		// The lease ended as the command exited: it may have outlived it.
		lost = true
		fmt.Fprintf(o.env.Stderr, "%slease on %q lost (%s) as the command exited\n", o.prefix(), r.key, oneLine(sess.Err().Error()))
	}
	if !lost && !interactive {
		// The lock protects what the command started too: the rest of its
		// group (background children) may finish within the grace period,
		// then gets SIGTERM and, a grace period later, SIGKILL. A lease lost
		// meanwhile stops them at once.
		lost = o.awaitGroup(sess, r, pid)
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

// awaitGroup waits, after the command has exited, until no process is left
// in its process group pgid: up to --grace on their own, then after SIGTERM,
// then with SIGKILL. It reports whether the lease was lost meanwhile (the
// caller then stops the group).
func (o *options) awaitGroup(sess *lockmanager.Session, r *runFlags, pgid int) (lost bool) {
	if reapGroup(pgid); syscall.Kill(-pgid, 0) != nil {
		return false
	}
	termAt := time.Now().Add(r.grace)
	killAt := termAt.Add(r.grace)
	termed := false
	tick := time.NewTicker(stragglerPoll)
	defer tick.Stop()
	for reapGroup(pgid); syscall.Kill(-pgid, 0) == nil; reapGroup(pgid) {
		now := time.Now()
		switch {
		case !now.Before(killAt):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case !termed && !now.Before(termAt):
			termed = true
			fmt.Fprintf(o.env.Stderr, "%sthe command exited but left processes in its group running for %s; "+
				"sending them SIGTERM, SIGKILL in %s\n", o.prefix(), r.grace, r.grace)
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
		}
		select {
		case <-sess.Context().Done():
			fmt.Fprintf(o.env.Stderr, "%slease on %q lost (%s) while processes the command left were running\n",
				o.prefix(), r.key, oneLine(sess.Err().Error()))
			return true
		case sig := <-o.env.Signals:
			// Forwarded to what is left of the command, as while it ran.
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(-pgid, s)
			}
		case <-tick.C:
		}
	}
	return false
}

// startFailure reports a command that cannot be started and returns its
// exit code, as a shell would: 127 when it is not found, 126 otherwise.
func (o *options) startFailure(name string, err error) int {
	code := ExitCannotExecute
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = ExitCommandNotFound
	}
	fmt.Fprintf(o.env.Stderr, "%sstarting %q: %s\n", o.prefix(), name, oneLine(err.Error()))
	return code
}

// stopGroup waits until no process is left in process group pgid, sending
// it SIGKILL from deadline on.
func stopGroup(pgid int, deadline time.Time) {
	for reapGroup(pgid); syscall.Kill(-pgid, 0) == nil; reapGroup(pgid) {
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
