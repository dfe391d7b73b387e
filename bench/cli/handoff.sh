#!/usr/bin/env bash
# Hand-off between two `lockctl run` processes on the default backend (the
# embedded SQLite file), as a user runs them: the time from the holder's
# command ending to the waiter's command starting, once per trial.
#
#   bench/cli/handoff.sh [LOCKCTL] [TRIALS]
#
# LOCKCTL defaults to a lockctl built from this checkout. Each trial uses a
# fresh state folder (XDG_STATE_HOME), so the default database file is new.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin=${1:-}
trials=${2:-5}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/lockctl
	go build -o "$bin" ./cmd/lockctl
fi
for i in $(seq "$trials"); do
	state=$(mktemp -d)
	marks=$(mktemp -d)
	XDG_STATE_HOME=$state "$bin" run --key k -- sh -c "sleep 1; date +%s.%N > $marks/end" &
	sleep 0.5
	XDG_STATE_HOME=$state "$bin" run --key k --wait 1m -- sh -c "date +%s.%N > $marks/start"
	wait
	awk -v s="$(cat "$marks/start")" -v e="$(cat "$marks/end")" -v i="$i" \
		'BEGIN { printf "trial %d: hand-off %.1f ms\n", i, (s - e) * 1000 }'
	rm -rf "$state" "$marks"
done
