// Package cli is lockctl's command logic: the cobra commands, their flags,
// output formats, exit codes and the run supervisor. cmd/lockctl only
// registers the backends and calls Main; the user documentation is in
// cmd/lockctl's package comment and in the commands' help.
//
// What it promises:
//
//   - Every failure is one line on stderr starting with "lockctl: ", and an
//     exit code per kind of failure (see ExitCode and the Exit constants;
//     the help prints the same table, generated from them). Parsing
//     errors, bad flag values and ErrInvalidArgument are ExitUsage; backend
//     URLs are never repeated in messages (they may hold passwords).
//   - Stdout carries only the requested output (table, JSON or YAML); the
//     status line while waiting goes to stderr, and only when stderr is a
//     terminal and --quiet is not set.
//   - run never lets its command work past the lease as lockctl counts it:
//     the lock manager's Session cancels its context at the holder-side safe
//     deadline (the send time of the last confirmed renewal, on this
//     process's monotonic clock, plus the lease minus a safety margin), so
//     whose clock decides expiry in the backend (see each backend's package)
//     can only make run stop the command early, never late. On that signal
//     the command gets SIGTERM, then SIGKILL after the grace period, and
//     lockctl exits with the lease-lost code.
//   - Fencing tokens come from the backend and are strictly increasing per
//     key; run hands the grant's token to the command (LEASEHOLD_FENCING_TOKEN)
//     unchanged, and acquire prints it.
package cli
