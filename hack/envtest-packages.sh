#!/usr/bin/env bash
# Splits the packages given (default ./...) by whether their tests start a
# local control plane: prints those whose tests import envtest or kubeenv
# (test/support/kubeenv) with --with, the others with --without. make test
# runs the others while the envtest binaries are still being built.
#
# Usage: hack/envtest-packages.sh --with|--without [PACKAGES...]
set -euo pipefail

want="${1:?usage: hack/envtest-packages.sh --with|--without [PACKAGES...]}"
shift
case "${want}" in
  --with) want=1 ;;
  --without) want=0 ;;
  *) echo "hack/envtest-packages.sh: unknown mode ${want}, want --with or --without" >&2; exit 2 ;;
esac

# With -test, go list prints each package's test main (import path pkg.test),
# whose Deps are everything the package's tests link; a package without
# test files has none and is printed with the others.
go list -test -f '{{.ImportPath}} {{join .Deps " "}}' "${@:-./...}" | awk -v want="${want}" '
  $2 ~ /^\[/ { next }
  $1 !~ /\.test$/ { if (!($1 in need)) need[$1] = 0; order[++n] = $1 }
  $1 ~ /\.test$/ {
    pkg = substr($1, 1, length($1) - 5)
    for (i = 2; i <= NF; i++)
      if ($i == "sigs.k8s.io/controller-runtime/pkg/envtest" || $i == "github.com/leasehold/leasehold/test/support/kubeenv") need[pkg] = 1
  }
  END { for (i = 1; i <= n; i++) if (need[order[i]] == want && !(order[i] in seen)) { seen[order[i]] = 1; print order[i] } }
'
