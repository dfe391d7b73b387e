// Package buildinfo says which build of Leasehold a binary is: the module
// version, the commit and its date. Both binaries (manager and lockctl)
// print it from here, so the version string is written once.
//
// The Go toolchain stamps the module version (go install ...@v1.2.3) and,
// when building inside a Git checkout, the commit and its time; the
// Makefile's -ldflags -X settings of Version, Commit and Date override
// them (a go build of a checkout has no module version, only "(devel)").
package buildinfo
