// Package alerts tests the alerting rules Leasehold ships
// (config/prometheus/rules.yaml, the spec of its PrometheusRule): each
// alert fires on the series it is meant for, after its "for", and stays
// quiet otherwise. The rules are evaluated as Prometheus evaluates them,
// with the Prometheus Go library (promql and rules), over series loaded in
// promqltest's notation.
//
// It is a module of its own so that the main module, and every build of
// it, does not compile Prometheus' server packages; `make test` runs it
// (make test-alerts).
package alerts
