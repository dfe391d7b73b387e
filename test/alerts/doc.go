// Package alerts tests the alerting rules Leasehold ships
// (config/prometheus/rules.yaml, the spec of its PrometheusRule) with
// promtool, Prometheus' own rule checker and unit-test runner: the rules
// pass `promtool check rules`, and each alert fires on the series it is
// meant for, after its "for", and stays quiet otherwise (`promtool test
// rules`, one run per case).
//
// promtool comes from Debian's prometheus package, unpacked into bin/ by
// hack/ensure-test-servers.sh (make test-servers), so that no build of this
// repository compiles Prometheus; PROMTOOL overrides where it is found.
package alerts
