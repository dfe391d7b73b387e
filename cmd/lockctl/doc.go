// Command lockctl acquires, renews, releases, inspects, holds and breaks
// Leasehold locks from the shell, on any backend (SQLite, PostgreSQL,
// Redis, Kubernetes).
//
// Install it with
//
//	go install github.com/leasehold/leasehold/cmd/lockctl@latest
//
// or build it from a checkout with make build (bin/lockctl). lockctl
// version prints the version, commit and build date.
//
//	lockctl run     KEY [--no-wait | --wait D] [--lease D] [--holder H] [--grace 10s] [--lost-exit-code 75] -- CMD [ARG...]
//	lockctl hold    KEY [--no-wait | --wait D] [--lease D] [--holder H] [-o table|json|yaml]
//	lockctl get     KEY [-o ...]
//	lockctl list    [PREFIX] [-o ...]
//	lockctl break   KEY --reason TEXT [--version V]
//	lockctl acquire KEY [--holder H] [--lease 30s] [--wait D] [--metadata KEY=VALUE] [-o ...]
//	lockctl renew   KEY --holder H --version V [--lease 30s] [-o ...]
//	lockctl release KEY --holder H --version V [--delete]
//	lockctl version [-o json]
//	lockctl completion bash|zsh|fish|powershell
//
// Every command takes the key as its first argument or as --key KEY (both
// must agree when both are given); with run's older form
// "run --key KEY [flags] CMD [ARG...]" every argument is the command.
// Global flags: --backend URL and -q/--quiet.
//
// # Backend
//
// --backend, else $LEASEHOLD_BACKEND, else the SQLite file
// $XDG_STATE_HOME/leasehold/locks.db ($HOME/.local/state/leasehold/locks.db
// when XDG_STATE_HOME is unset or relative), whose folder is created with
// mode 0700. URL forms:
//
//	sqlite:///path/to/locks.db?namespace=NS
//	postgres://USER:PASSWORD@HOST:5432/DB?leasehold_namespace=NS
//	redis://[USER:PASSWORD@]HOST:6379/0?namespace=NS   (rediss:// for TLS)
//	kubernetes://NAMESPACE                              (the kubeconfig's cluster)
//
// Each backend's package documents its other options and whose clock
// decides expiry there.
//
// # Holder, version and fencing token
//
// The default holder is the host name, a colon and lockctl's process ID
// ("build-7:4242"). Since that process ends with the command, scripts that
// acquire, renew and release in separate steps pass --holder, or read the
// holder and version from acquire's JSON output:
//
//	lease=$(lockctl acquire nightly --holder "$HOSTNAME" --lease 5m -o json)
//	v=$(printf '%s' "$lease" | jq -r .version)
//	v=$(lockctl renew nightly --holder "$HOSTNAME" --version "$v" --lease 5m -o json | jq -r .version)
//	lockctl release nightly --holder "$HOSTNAME" --version "$v"
//
// Every grant carries a fencing token, strictly greater than every earlier
// grant's for the same key; pass it with every write to the protected
// resource, which refuses tokens lower than the highest it has seen.
//
// A record without a holder (released, or reaped on Kubernetes) prints the
// same on every backend: no holder, held false, its key, version and
// fencing token, and no times ("-" in the table, left out of JSON and
// YAML).
//
// # run
//
// run waits until the lock is free (--no-wait fails at once with exit 3,
// --wait D gives up after D), starts the command with LEASEHOLD_KEY,
// LEASEHOLD_HOLDER and LEASEHOLD_FENCING_TOKEN in its environment, renews
// the lease in the background (every lease/3), and when the command exits
// releases the lock and exits with the command's status (128+N if signal
// N killed it). The command is looked up before the wait: one that does
// not exist exits 127 (126 if it cannot be executed) at once, without
// taking the lock.
//
// If the lease is lost while the command runs (taken over, broken, deleted,
// or not renewable before it would expire by lockctl's own clock), lockctl
// sends the command SIGTERM, SIGKILL after --grace (default 10s), and exits
// with --lost-exit-code (default 75). A lease found lost just as the
// command exits counts as lost too.
//
// SIGINT, SIGTERM and SIGHUP sent to lockctl are forwarded to the command;
// the command decides when to exit, and lockctl releases the lock after it.
// Without a terminal in the foreground, the command runs in a process group
// of its own, and signals (forwarded, and those for a lost lease) go to the
// whole group so that its children stop too. When the command exits,
// lockctl waits for the rest of its group (children left in the
// background) up to --grace, then sends them SIGTERM and, --grace later,
// SIGKILL; the lock is released only once the group is empty. In the
// foreground of a terminal the command shares lockctl's process group, so
// that it can read the terminal and job control works; Ctrl-C then reaches
// the command directly, lockctl forwards only SIGTERM, and children left in
// the background are not waited for. On Linux the command is killed if
// lockctl itself dies, since nobody would renew the lease.
//
// While waiting for a lock on a terminal, lockctl shows one status line on
// stderr with the current holder, its expiry and fencing token, updated
// every second; --quiet, or stderr not being a terminal, keeps it away.
//
// # hold and break
//
// hold waits for the lock like run, prints the grant (fencing token and
// version) and keeps the lease renewed until SIGINT, SIGTERM or SIGHUP,
// then releases it and exits 0; a lost lease exits 75.
//
// break clears a lock someone else holds: it reads the record and releases
// it as its holder, guarded by the version it read, so it never clears a
// newer grant (exit 5 if the lock changed in between). The lock contract
// keeps no metadata on a released record, so --reason is not stored with
// the lock: break prints it on stdout with the holder, fencing token and
// version it cleared.
//
// # Exit codes
//
//	0      success
//	1      error not listed below
//	2      usage: bad flag, argument, backend URL or URL parameter (also invalid key, holder, lease)
//	3      lock held by another holder (--no-wait, or --wait ran out)
//	4      lock not found
//	5      not the holder, version mismatch, or lease expired
//	6      backend unreachable, login refused, database missing, or failed
//	75     run, hold: the lease was lost (--lost-exit-code)
//	126    run: the command was found but could not be started
//	127    run: the command was not found
//	128+N  interrupted by signal N while waiting (130 SIGINT, 143 SIGTERM);
//	       run: the command was killed by signal N
//
// Otherwise run exits with the command's own status. lockctl's own codes
// (1 to 6, 126, 127, and 128+N for an interrupted wait) come only before
// the command starts; once it has started, only the lease-lost code is
// lockctl's. A command whose own
// statuses include 75 (or that callers must tell apart from lockctl's
// codes) should be run with another --lost-exit-code; lockctl also prints a
// "lockctl: ..." line on stderr whenever the status is its own.
package main
