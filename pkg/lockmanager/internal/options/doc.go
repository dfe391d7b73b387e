// Package options checks lockmanager's options against the bounds of the
// lock contract. lockmanager re-exports the bounds and documents the
// rules; every error is a backends.InvalidArgument naming the field and
// the rule it broke.
//
// The option types here have exactly the fields of lockmanager's, in the
// same order, so that lockmanager converts its options to them (a Go
// conversion, checked by the compiler: a field added to one and not the
// other fails to build) instead of copying field by field.
//
// It is its own package, importing only the standard library and
// package backends, so that its fuzz target builds in seconds: fuzzing
// lockmanager would instrument Prometheus and protobuf as well.
package options
