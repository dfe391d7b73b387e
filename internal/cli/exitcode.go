package cli

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Exit codes. They are part of lockctl's interface: scripts branch on them,
// so a code never changes meaning.
const (
	ExitOK          = 0 // success
	ExitError       = 1 // any error not listed below
	ExitUsage       = 2 // bad flags or arguments, invalid argument, malformed backend URL or unknown parameter
	ExitHeld        = 3 // lock held by another holder (also: --wait ran out)
	ExitNotFound    = 4 // no record for the key
	ExitConflict    = 5 // not the holder, version mismatch, or lease expired
	ExitUnavailable = 6 // backend unreachable, login refused, database missing, or failed
	// ExitLeaseLost is run's default code for a lease lost while the command
	// ran (--lost-exit-code changes it). 75 is EX_TEMPFAIL of sysexits.h,
	// "temporary failure, retry later", which is what a lost lease is; small
	// codes are the ones programs use for themselves, so this is unlikely to
	// be mistaken for the command's own status.
	ExitLeaseLost = 75
	// ExitCannotExecute and ExitCommandNotFound are run's codes for a command
	// that could not be started, as in POSIX shells and env(1).
	ExitCannotExecute   = 126
	ExitCommandNotFound = 127
	// ExitSignalBase + N is the code after signal N ended the wait for the
	// lock (SIGINT: 130, SIGTERM: 143), or killed run's command, as in
	// shells.
	ExitSignalBase = 128
)

// exitCodeTable is the table printed in lockctl's help, generated from the
// constants so that the two cannot drift apart.
var exitCodeTable = fmt.Sprintf(`Exit codes:
  %[1]d    success
  %[2]d    error not listed below
  %[3]d    usage: bad flag, argument, backend URL or URL parameter
  %[4]d    lock held by another holder (--no-wait, or --wait ran out)
  %[5]d    lock not found
  %[6]d    not the holder, version mismatch, or lease expired
  %[7]d    backend unreachable, login refused, database missing, or failed
  %[8]d   run, hold: the lease was lost while held (run: --lost-exit-code)
  %[9]d  run: the command was found but could not be started
  %[10]d  run: the command was not found
  128+N  interrupted by signal N while waiting (130 SIGINT, 143 SIGTERM);
         run: the command was killed by signal N
  Otherwise run exits with the command's own status.`,
	ExitOK, ExitError, ExitUsage, ExitHeld, ExitNotFound, ExitConflict, ExitUnavailable,
	ExitLeaseLost, ExitCannotExecute, ExitCommandNotFound)

// usageError is a mistake in how lockctl was invoked. It is reported with a
// hint to the command's help.
type usageError struct {
	err     error
	command string // the command path, for the --help hint
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// opError marks an error returned by a command's own logic, as opposed to
// one cobra returned while parsing (which is always a usage error).
type opError struct{ err error }

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// openError is a failure to open the backend.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// exitStatus ends lockctl with a code and no further message (run uses it
// to pass the command's status through, having said what it had to say).
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return "interrupted by " + signalName(e.sig) }

// ExitCode maps an error from a lockctl command to its exit code (see the
// table in the package documentation).
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var st *exitStatus
	if errors.As(err, &st) {
		return st.code
	}
	var usage *usageError
	var op *opError
	if errors.As(err, &usage) || !errors.As(err, &op) {
		// Everything cobra reports before a command runs is about usage.
		return ExitUsage
	}
	var sig *signalError
	switch {
	case errors.As(err, &sig):
		return ExitSignalBase + int(sig.sig)
	case errors.Is(err, lockmanager.ErrInvalidArgument):
		return ExitUsage
	case errors.Is(err, lockmanager.ErrLockHeld):
		return ExitHeld
	case errors.Is(err, lockmanager.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, lockmanager.ErrNotHolder),
		errors.Is(err, lockmanager.ErrVersionMismatch),
		errors.Is(err, lockmanager.ErrLeaseExpired):
		return ExitConflict
	case errors.Is(err, lockmanager.ErrUnavailable),
		errors.Is(err, lockmanager.ErrPermissionDenied):
		// Refused by the store, like a refused login: the same exit.
		return ExitUnavailable
	case errors.Is(err, exec.ErrNotFound):
		return ExitCommandNotFound
	}
	var open *openError
	if errors.As(err, &open) {
		// Not an invalid URL (handled above): the backend is there but
		// cannot be used (no kubeconfig, unreadable file, refused login).
		return ExitUnavailable
	}
	return ExitError
}

// signalName names the signals lockctl handles the way kill(1) does.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return sig.String()
}
