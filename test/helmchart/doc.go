// Package helmchart checks the Helm chart in dist/chart against the
// kustomize manifests in config/, which stay the reference install.
//
// The chart is rendered with Helm's own template engine and values
// handling (the Helm Go SDK, as `helm template --include-crds` renders it),
// and config/default and config/prometheus with `kubectl kustomize` (the
// kubectl that `make setup-envtest` builds, found by test/support/kubeenv). Objects
// are parsed, matched by kind, namespace and name, and compared whole: with
// default values the chart must install exactly what config/default
// installs, but for the labels that name the chart and release
// (helm.sh/chart, app.kubernetes.io/managed-by, app.kubernetes.io/instance)
// and the Namespace, which the chart creates only when asked
// (namespace.create). Non-default values are checked where they land, and
// bad ones must be refused with the value's name.
//
// It is a Go module of its own, so that the Helm SDK and the dependency
// versions it requires stay out of the main module; `make test-helm` (part
// of `make test`) runs it with KUBEBUILDER_ASSETS set.
package helmchart
