// Package sqlbackendtest holds the tests and benchmarks that the SQL
// backends (sqlite and postgres) run in the same words beyond the shared
// conformance suite (package backendtest): the steps whose statements the
// one-statement tests count, the literal-prefix List test, and the
// acquire/renew benchmarks. Each backend's _test.go calls them on a Backend
// it built; only tests import this package.
//
// It runs against whatever backend it is given and so decides no clock or
// fencing rule itself: those are the backend's (see its doc), and the
// checks here hold under either.
package sqlbackendtest
