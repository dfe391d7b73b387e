package cli

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

func TestExitCode(t *testing.T) {
	wrap := func(err error) error { return &opError{err: fmt.Errorf("doing it: %w", err)} }
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"cobra parse error", errors.New(`unknown flag: --x`), ExitUsage},
		{"usage error", usagef("--lease must be ..."), ExitUsage},
		{"invalid argument", wrap(backends.InvalidArgument("Key", "must not be empty")), ExitUsage},
		{"held", wrap(backends.Held("k", "h", time.Time{})), ExitHeld},
		{"not found", wrap(backends.KeyError("getting", "k", lockmanager.ErrNotFound)), ExitNotFound},
		{"not holder", wrap(lockmanager.ErrNotHolder), ExitConflict},
		{"version mismatch", wrap(lockmanager.ErrVersionMismatch), ExitConflict},
		{"lease expired", wrap(lockmanager.ErrLeaseExpired), ExitConflict},
		{"unavailable", wrap(backends.Unavailable("getting", "k", errors.New("connection refused"))), ExitUnavailable},
		{"open failure", &opError{err: &openError{err: errors.New("loading kubeconfig: no configuration")}}, ExitUnavailable},
		{"invalid URL on open", &opError{err: &openError{err: backends.InvalidArgument("backend URL", "bad")}}, ExitUsage},
		{"signal", wrap(&signalError{sig: syscall.SIGINT}), 130},
		{"command not found", wrap(exec.ErrNotFound), ExitCommandNotFound},
		{"closed", wrap(lockmanager.ErrClosed), ExitError},
		{"other", wrap(errors.New("boom")), ExitError},
		{"exit status", &exitStatus{code: 42}, 42},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
