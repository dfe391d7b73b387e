#!/usr/bin/env bash
# Builds the envtest control-plane binaries (kube-apiserver, etcd, kubectl)
# from the Go module proxy, because setup-envtest's download site cannot be
# reached here. Idempotent: does nothing when the binaries are already in
# place. Results are cached per user (like setup-envtest does) so that a fresh
# clone on the same machine links them instead of rebuilding for minutes.
#
# Usage: hack/build-envtest-binaries.sh [--needs-build] [DEST_DIR]
#   --needs-build: build nothing; exit 0 if a run would build (the per-user
#   cache lacks a binary), 1 if it would only link from the cache.
set -euo pipefail

check_only=false
if [[ "${1:-}" == "--needs-build" ]]; then
  check_only=true
  shift
fi

K8S_VERSION="${K8S_VERSION:-$("$(dirname "${BASH_SOURCE[0]}")/k8s-version.sh")}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"
ARCH="$(go env GOOS)-$(go env GOARCH)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-${ROOT}/bin/k8s/${K8S_VERSION}-${ARCH}}"
CACHE="${LEASEHOLD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}/k8s/${K8S_VERSION}-${ARCH}"
BINS=(kube-apiserver etcd kubectl)

have_all() {
  local dir="$1" b
  for b in "${BINS[@]}"; do [[ -x "${dir}/${b}" ]] || return 1; done
}

if "${check_only}"; then
  if have_all "${DEST}" || have_all "${CACHE}"; then exit 1; fi
  exit 0
fi

if have_all "${DEST}"; then
  exit 0
fi

mkdir -p "${CACHE}"
# Two builds at once (parallel make, two clones on one machine) would each
# take ten minutes and race on the cache: the second waits for the first,
# then finds the binaries in place.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${CACHE}/.lock"
  flock 9
fi

if ! have_all "${CACHE}"; then
  work="$(mktemp -d)"
  etcd_pid=""
  # A failed Kubernetes build must not leave the etcd build running.
  trap 'if [[ -n "${etcd_pid}" ]]; then kill "${etcd_pid}" 2>/dev/null || true; fi; rm -rf "${work}"' EXIT
  export GOFLAGS="-mod=mod" GOTOOLCHAIN=local CGO_ENABLED=0

  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION}"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
  minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=${minor}"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

  build_k8s() {
    echo ">> building kube-apiserver and kubectl v${K8S_VERSION} from the module proxy (several minutes, once)" >&2
    mkdir -p "${work}/k8s"
    cd "${work}/k8s"
    go mod init leasehold.dev/envtest-k8s >/dev/null 2>&1
    # k8s.io/kubernetes points its staging modules at local folders; point
    # each one at the published module of the matching version instead.
    gomod="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
    {
      echo "require k8s.io/kubernetes v${K8S_VERSION}"
      grep -E '=> \./staging/src/' "${gomod}" | awk -v v="${STAGING_VERSION}" '{print "replace " $1 " => " $1 " " v}'
    } >> go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >/dev/null
    # One build for both: their shared packages compile once and the two
    # links run side by side.
    mkdir -p "${work}/k8s-out"
    go build -trimpath -ldflags "${ldflags}" -o "${work}/k8s-out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
    mv "${work}/k8s-out/kube-apiserver" "${CACHE}/kube-apiserver"
    mv "${work}/k8s-out/kubectl" "${CACHE}/kubectl"
  }

  build_etcd() {
    echo ">> building etcd ${ETCD_VERSION} from the module proxy (about a minute, once)" >&2
    mkdir -p "${work}/etcd"
    cd "${work}/etcd"
    go mod init leasehold.dev/envtest-etcd >/dev/null 2>&1
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "${work}/etcd.out" .
    mv "${work}/etcd.out" "${CACHE}/etcd"
  }

  # etcd builds in the background while Kubernetes does: much of each is
  # downloading modules and linking, which leaves a core idle.
  if [[ ! -x "${CACHE}/etcd" ]]; then
    (build_etcd) &
    etcd_pid=$!
  fi
  if [[ ! -x "${CACHE}/kube-apiserver" || ! -x "${CACHE}/kubectl" ]]; then
    (build_k8s)
  fi
  if [[ -n "${etcd_pid}" ]]; then
    wait "${etcd_pid}"
    etcd_pid=""
  fi
fi

mkdir -p "${DEST}"
for b in "${BINS[@]}"; do
  # A hard link costs nothing when the cache is on the same filesystem;
  # otherwise copy the 200 MB.
  ln -f "${CACHE}/${b}" "${DEST}/${b}" 2>/dev/null || cp -f "${CACHE}/${b}" "${DEST}/${b}"
done
echo ">> envtest binaries ready in ${DEST}" >&2
