#!/usr/bin/env bash
# Puts the envtest control-plane binaries (kube-apiserver, etcd, kubectl)
# in DEST_DIR. Idempotent: does nothing when they are already in place.
# Results are cached per user (like setup-envtest does) so that a fresh
# clone on the same machine links them instead of fetching them again.
#
# Where the cache lacks them, the standard download comes first: the
# pinned setup-envtest (SETUP_ENVTEST_VERSION) fetches the published
# envtest release. A probe of its index decides within
# ENVTEST_DOWNLOAD_TIMEOUT seconds (5) whether the site answers, before
# anything is compiled; when it does not (machines whose network reaches
# only the Go module proxy), or the download fails, the binaries are built
# from the Go module proxy instead (about ten minutes on two cores).
# ENVTEST_DOWNLOAD=never skips the download.
#
# Version: envtest releases are published for some patch releases only.
# The download takes K8S_VERSION (go.mod's k8s.io/api, v0.X.Y = 1.X.Y) when
# published, else the newest published 1.X patch: the API of a minor
# release does not change between patches, so the tests see the same API
# server. The folder keeps go.mod's version in its name (test/support/kubeenv looks
# there); the API server's /version tells the patch actually served, and
# DEST_DIR/SOURCE says where the binaries came from.
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

SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"
ENVTEST_INDEX_URL="${ENVTEST_INDEX_URL:-https://raw.githubusercontent.com/kubernetes-sigs/controller-tools/HEAD/envtest-releases.yaml}"
ENVTEST_DOWNLOAD_TIMEOUT="${ENVTEST_DOWNLOAD_TIMEOUT:-5}"

# download fetches the published envtest release with setup-envtest into
# the cache; it fails (and the caller builds) when the site cannot be
# reached or has no 1.X release.
download() {
  local started=${SECONDS}
  if [[ "${ENVTEST_DOWNLOAD:-}" == never ]]; then
    echo ">> ENVTEST_DOWNLOAD=never: not trying the envtest download" >&2
    return 1
  fi
  if ! curl -fsS --max-time "${ENVTEST_DOWNLOAD_TIMEOUT}" -o /dev/null "${ENVTEST_INDEX_URL}" 2>/dev/null; then
    echo ">> the envtest download site (${ENVTEST_INDEX_URL%/*}) did not answer within ${ENVTEST_DOWNLOAD_TIMEOUT}s (decided in $((SECONDS - started))s): building from the Go module proxy instead" >&2
    return 1
  fi
  echo ">> downloading envtest ${K8S_VERSION} with setup-envtest ${SETUP_ENVTEST_VERSION}" >&2
  GOTOOLCHAIN=local GOFLAGS= GOBIN="${work}/tools" \
    go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" || return 1
  local v dir=""
  for v in "${K8S_VERSION}" "${K8S_VERSION%.*}.x"; do
    if dir="$(timeout 600 "${work}/tools/setup-envtest" use "${v}" --bin-dir "${work}/envtest" -p path)" && [[ -n "${dir}" ]]; then
      break
    fi
    echo ">> no envtest ${v} to download" >&2
    dir=""
  done
  [[ -n "${dir}" ]] && have_all "${dir}" || return 1
  for b in "${BINS[@]}"; do
    cp -f "${dir}/${b}" "${CACHE}/${b}.tmp" && mv -f "${CACHE}/${b}.tmp" "${CACHE}/${b}"
  done
  echo "downloaded by setup-envtest ${SETUP_ENVTEST_VERSION} (use ${v}): $(basename "${dir}")" > "${CACHE}/SOURCE"
  echo ">> downloaded $(basename "${dir}") (go.mod asks for ${K8S_VERSION})" >&2
}

if ! have_all "${CACHE}"; then
  work="$(mktemp -d)"
  etcd_pid=""
  # A failed Kubernetes build must not leave the etcd build running.
  trap 'if [[ -n "${etcd_pid}" ]]; then kill "${etcd_pid}" 2>/dev/null || true; fi; chmod -R u+w "${work}" 2>/dev/null; rm -rf "${work}"' EXIT
fi

if ! have_all "${CACHE}" && ! download; then
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
  echo "built from the Go module proxy: Kubernetes v${K8S_VERSION}, etcd ${ETCD_VERSION}" > "${CACHE}/SOURCE"
fi

mkdir -p "${DEST}"
for b in "${BINS[@]}"; do
  # A hard link costs nothing when the cache is on the same filesystem;
  # otherwise copy the 200 MB.
  ln -f "${CACHE}/${b}" "${DEST}/${b}" 2>/dev/null || cp -f "${CACHE}/${b}" "${DEST}/${b}"
done
if [[ -f "${CACHE}/SOURCE" ]]; then cp -f "${CACHE}/SOURCE" "${DEST}/SOURCE"; fi
echo ">> envtest binaries ready in ${DEST}" >&2
