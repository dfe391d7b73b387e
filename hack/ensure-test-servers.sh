#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis server binaries that the tests start
# (see test/support/testserver) are installed. The tests never use a system
# service: they start throwaway servers on random loopback ports. So when this
# script installs the Debian packages it also makes sure the packaging does
# not leave a postgres or redis service running on the default ports.
#
# It also puts promtool, which test/alerts runs, in bin/: unpacked from
# Debian's prometheus package (apt-get download and dpkg-deb -x, so that
# nothing is installed or started) into the per-user cache, and linked from
# there, like the envtest binaries. A promtool on PATH is used as it is.
#
# Idempotent and fast (no apt calls) when everything is present.
#
# Usage: hack/ensure-test-servers.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMTOOL_CACHE="${LEASEHOLD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}/promtool"

# ensure_promtool links bin/promtool to the cached copy, unpacking Debian's
# prometheus package first when the cache lacks it.
ensure_promtool() {
  if [[ -x "${ROOT}/bin/promtool" ]] || command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  if [[ ! -x "${PROMTOOL_CACHE}/promtool" ]]; then
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "error: promtool is missing and there is no apt-get to fetch Debian's prometheus package;" >&2
      echo "install Prometheus' promtool on PATH (or set PROMTOOL for go test ./test/alerts)." >&2
      return 1
    fi
    echo ">> unpacking promtool from Debian's prometheus package (nothing is installed)" >&2
    local work
    work="$(mktemp -d)"
    if ! (cd "${work}" && apt-get download prometheus >/dev/null 2>&1); then
      if [[ "$(id -u)" -ne 0 ]]; then
        rm -rf "${work}"
        echo "error: apt-get download prometheus failed; run apt-get update as root, or put promtool on PATH." >&2
        return 1
      fi
      apt-get update -qq
      (cd "${work}" && apt-get download prometheus >/dev/null)
    fi
    dpkg-deb -x "${work}"/prometheus_*.deb "${work}/root"
    mkdir -p "${PROMTOOL_CACHE}"
    mv -f "${work}/root/usr/bin/promtool" "${PROMTOOL_CACHE}/promtool"
    rm -rf "${work}"
  fi
  mkdir -p "${ROOT}/bin"
  ln -sf "${PROMTOOL_CACHE}/promtool" "${ROOT}/bin/promtool"
}

ensure_promtool

have_postgres() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "${d}/initdb" && -x "${d}/pg_ctl" && -x "${d}/postgres" ]] && return 0
  done
  return 1
}

have_redis() {
  command -v redis-server >/dev/null 2>&1
}

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing test servers: ${missing[*]}." >&2
  echo "Install them (Debian/Ubuntu: sudo apt-get install -y ${missing[*]};" >&2
  echo "PostgreSQL must provide /usr/lib/postgresql/<version>/bin/{initdb,pg_ctl,postgres}," >&2
  echo "Redis must put redis-server on PATH), then run this again." >&2
  exit 1
fi

echo ">> installing ${missing[*]} with apt-get (tests start their own throwaway servers)" >&2

# policy-rc.d exit code 101 tells invoke-rc.d not to start services while
# packages are installed, so nothing grabs 5432 or 6379. Keep any policy that
# was there before and put it back afterwards.
policy=/usr/sbin/policy-rc.d
backup=""
if [[ -e "${policy}" ]]; then
  backup="$(mktemp)"
  cp -p "${policy}" "${backup}"
fi
restore_policy() {
  if [[ -n "${backup}" ]]; then
    mv -f "${backup}" "${policy}"
  else
    rm -f "${policy}"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' > "${policy}"
chmod 0755 "${policy}"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Without systemd or with a pre-existing policy the packaging may still have
# started something; stop it so the default ports stay free.
if command -v pg_ctlcluster >/dev/null 2>&1 && command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
    if [[ "${status}" == online* ]]; then
      pg_ctlcluster "${ver}" "${name}" stop || true
    fi
  done
fi
if command -v service >/dev/null 2>&1; then
  service redis-server stop >/dev/null 2>&1 || true
fi

if ! have_postgres || ! have_redis; then
  echo "error: apt-get finished but the server binaries are still missing" >&2
  exit 1
fi
echo ">> test servers installed" >&2
