// Package sqlbackendtest holds the tests and benchmarks that the SQL
// backends (sqlite and postgres) run in the same words beyond the shared
// conformance suite (package backendtest): the steps whose statements the
// one-statement tests count, the literal-prefix List test, and the
// acquire/renew benchmarks. Each backend's _test.go calls them on a Backend
// it built; only tests import this package.
package sqlbackendtest
