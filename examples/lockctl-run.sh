#!/usr/bin/env bash
# A nightly job that must not run twice at once, wherever it is started.
# lockctl holds the lock for as long as the job runs, renewing it in the
# background; if the lease is lost, the job gets SIGTERM (then SIGKILL) and
# lockctl exits 75. The job receives LEASEHOLD_FENCING_TOKEN: pass it to the
# system it writes to, so that a stale writer can be refused.
#
#   LEASEHOLD_BACKEND=redis://localhost:6379/0 examples/lockctl-run.sh
#
# Without LEASEHOLD_BACKEND the lock lives in an SQLite file under
# ~/.local/state/leasehold/ (one machine).
set -euo pipefail

LOCKCTL=${LOCKCTL:-"go run ./cmd/lockctl"}

$LOCKCTL run --key nightly-export --lease 30s --wait 10m -- bash -c '
  echo "exporting as ${LEASEHOLD_HOLDER} with fencing token ${LEASEHOLD_FENCING_TOKEN}"
  trap "echo lease lost, stopping; exit 1" TERM
  for step in 1 2 3; do
    echo "step ${step}"
    sleep 1
  done
'
