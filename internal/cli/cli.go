package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// quietLibraries keeps the client libraries from writing on lockctl's
// stderr, which carries one "lockctl: " line per failure and nothing else:
// go-redis logs connection failures itself (the same failure lockctl then
// reports).
func quietLibraries() {
	redis.SetLogger(discardLogger{})
}

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// Env is what a lockctl invocation talks to. Main fills it from the
// process; tests fill it themselves.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (LEASEHOLD_BACKEND, XDG_STATE_HOME,
	// HOME, and LEASEHOLD_POD_NAME, LEASEHOLD_POD_NAMESPACE and
	// LEASEHOLD_POD_UID for acquire, hold and run).
	Getenv func(string) string
	// StderrIsTerminal turns on the status line while waiting for a lock.
	StderrIsTerminal bool
	// Signals delivers SIGINT, SIGTERM and SIGHUP. While waiting for a lock
	// the first one ends the wait; run forwards them to its command. Nil
	// means no signals.
	Signals <-chan os.Signal
}

// Main runs lockctl with the process's arguments, standard streams,
// environment and signals, and returns the exit code.
func Main() int { return MainProgram(Lockctl) }

// MainProgram is Main for program p.
func MainProgram(p Program) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	quietLibraries()
	return RunProgram(context.Background(), p, os.Args[1:], Env{
		Stdin:            os.Stdin,
		Stdout:           os.Stdout,
		Stderr:           os.Stderr,
		Getenv:           os.Getenv,
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		Signals:          sigs,
	})
}

// Run runs lockctl with args (without the program name) and returns the
// exit code. Errors are printed to env.Stderr as one line starting with
// "lockctl: ".
func Run(ctx context.Context, args []string, env Env) int {
	return RunProgram(ctx, Lockctl, args, env)
}

// RunProgram is Run for program p: its error lines start with p.Name.
func RunProgram(ctx context.Context, p Program, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	root := newRootCommand(p, &env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	code := ExitCode(err)
	var st *exitStatus
	if err != nil && !errors.As(err, &st) {
		fmt.Fprintln(env.Stderr, p.Name+": "+oneLine(errorMessage(err, cmd)))
	}
	return code
}

// errorMessage adds a pointer to the help of cmd (the command cobra
// picked, or the root) to usage errors.
func errorMessage(err error, cmd *cobra.Command) string {
	msg := strings.TrimSpace(err.Error())
	if ExitCode(err) != ExitUsage {
		return msg
	}
	path := cmd.CommandPath()
	var usage *usageError
	if errors.As(err, &usage) && usage.command != "" {
		path = usage.command
	}
	return fmt.Sprintf("%s (see '%s --help')", msg, path)
}

// oneLine keeps an error to a single line: some backends' errors (the
// Kubernetes API server's, for example) span several.
func oneLine(s string) string {
	var parts []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

// options are the flags shared by every command.
type options struct {
	program Program
	env     *Env
	backend string
	quiet   bool
}

// prefix starts the program's lines on stderr.
func (o *options) prefix() string { return o.program.Name + ": " }

func newRootCommand(p Program, env *Env) *cobra.Command {
	o := &options{program: p, env: env}
	root := &cobra.Command{
		Use:   "lockctl",
		Short: "Acquire, inspect and hold Leasehold locks from the shell",
		Long: `lockctl acquires, renews, releases, inspects, holds and breaks Leasehold locks.

  lockctl run KEY -- COMMAND [ARG...]   hold the lock while COMMAND runs (waits until free)
  lockctl hold KEY                      hold the lock until Ctrl-C; prints the fencing token
  lockctl get KEY / lockctl list        show locks
  lockctl break KEY --reason TEXT       clear a lock left by a process that died
  lockctl acquire / renew / release KEY step by step, for scripts

Every command takes the key as its first argument (KEY) or as --key KEY.
"lockctl run" renews the lease in the background and stops the command if
the lease is lost.

The backend is chosen by --backend, else $LEASEHOLD_BACKEND, else an SQLite
file at $XDG_STATE_HOME/leasehold/locks.db (~/.local/state/leasehold/locks.db
when XDG_STATE_HOME is unset), whose folder is created with mode 0700:

  sqlite:///path/to/locks.db?namespace=NS
  postgres://USER:PASSWORD@HOST:5432/DB?leasehold_namespace=NS
  redis://[USER:PASSWORD@]HOST:6379/0?namespace=NS      (rediss:// for TLS)
  kubernetes://NAMESPACE                                 (uses the kubeconfig)

On Kubernetes, acquire, hold and run bind the grant to the Pod that
$LEASEHOLD_POD_NAME, $LEASEHOLD_POD_NAMESPACE and $LEASEHOLD_POD_UID name
(set them from the downward API), so that the lock is freed as soon as the
Pod is gone rather than when the lease runs out.

The default holder is HOSTNAME:PID of the lockctl process. acquire prints it
with the version (-o json), which renew and release need.

Shell completion: 'lockctl completion bash|zsh|fish|powershell --help' says
how to load it, e.g. lockctl completion bash > ~/.local/share/bash-completion/completions/lockctl

Errors are one line on stderr starting with "lockctl: ".

` + exitCodeTable,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: err, command: c.CommandPath()}
	})
	if p.Store != nil {
		root.Use = p.Name
		root.Short = "Acquire, inspect and hold Leasehold locks on Kubernetes"
		root.Long = p.Store.Help() + "\n\n" + exitCodeTable
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: p.displayName()}
		p.Store.AddFlags(root.PersistentFlags())
	} else {
		root.PersistentFlags().StringVar(&o.backend, "backend", "",
			"backend URL (default $LEASEHOLD_BACKEND, else the SQLite file in the state folder)")
	}
	root.PersistentFlags().BoolVarP(&o.quiet, "quiet", "q", false, "no status line while waiting for a lock")
	root.AddCommand(
		newAcquireCommand(o),
		newRenewCommand(o),
		newReleaseCommand(o),
		newGetCommand(o),
		newListCommand(o),
		newRunCommand(o),
		newHoldCommand(o),
		newBreakCommand(o),
		newVersionCommand(o),
	)
	if p.Store != nil {
		// The commands' examples and help speak of lockctl.
		for _, c := range root.Commands() {
			c.Example = strings.ReplaceAll(c.Example, "lockctl ", p.displayName()+" ")
			c.Long = strings.ReplaceAll(c.Long, "lockctl ", p.displayName()+" ")
		}
	}
	return root
}

// runE marks the errors of a command's own logic, so that ExitCode can tell
// them from cobra's parsing errors, and attaches the command to usage errors.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		if err == nil {
			return nil
		}
		var usage *usageError
		if errors.As(err, &usage) {
			if usage.command == "" {
				usage.command = cmd.CommandPath()
			}
			return err
		}
		var st *exitStatus
		if errors.As(err, &st) {
			return err
		}
		return &opError{err: err}
	}
}

// signalContext returns a context that a signal cancels, with a
// *signalError as its cause, for commands that do not forward signals.
func (o *options) signalContext(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case sig := <-o.env.Signals:
			if s, ok := sig.(syscall.Signal); ok {
				cancel(&signalError{sig: s})
			} else {
				cancel(fmt.Errorf("interrupted by %v", sig))
			}
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		<-stopped
		cancel(nil)
	}
}
