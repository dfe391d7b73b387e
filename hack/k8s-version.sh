#!/usr/bin/env bash
# Prints the Kubernetes version of the envtest control plane: the release of
# the client libraries in go.mod (k8s.io/api v0.X.Y is Kubernetes 1.X.Y).
# test/support/kubeenv reads go.mod the same way for the Go tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
v="$(awk '$1 == "k8s.io/api" { print $2 } $1 == "require" && $2 == "k8s.io/api" { print $3 }' "${ROOT}/go.mod" | head -n1)"
if [[ "${v}" != v0.* ]]; then
  echo "hack/k8s-version.sh: go.mod does not require k8s.io/api at a v0.X.Y version (got '${v}')" >&2
  exit 1
fi
echo "1.${v#v0.}"
